//! What the relay reads from a verified identity: who (issuer, subject,
//! a name to show) and which groups, and the role those groups give.
//! Pure: the tokens reach here only after their signature, issuer,
//! audience, expiry and nonce were checked.

use std::collections::HashMap;

use serde_json::Value;

use crate::users::Role;

/// Who signed in, as the provider vouched for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedIn {
    pub issuer: String,
    pub subject: String,
    /// What pages, sessions and the audit log show: the e-mail address,
    /// else the preferred user name, else the subject.
    pub name: String,
    /// The values of the role claim (`--oidc-role-claim`, `groups`).
    pub groups: Vec<String>,
}

/// Which groups give which role (`serve --oidc-*-group`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Groups {
    pub admin: Option<String>,
    pub auditor: Option<String>,
    pub approver: Option<String>,
    pub technician: Option<String>,
}

impl Groups {
    /// The console role of someone in `groups`: admin before approver
    /// before auditor; `None` when in none of them (refused).
    pub fn console_role(&self, groups: &[String]) -> Option<Role> {
        let member = |g: &Option<String>| g.as_ref().is_some_and(|g| groups.contains(g));
        if member(&self.admin) {
            Some(Role::Admin)
        } else if member(&self.approver) {
            Some(Role::Approver)
        } else if member(&self.auditor) {
            Some(Role::Auditor)
        } else {
            None
        }
    }

    /// Whether someone in `groups` may sign in as a technician (a
    /// technicians' group must be configured: without one, nobody).
    pub fn technician(&self, groups: &[String]) -> bool {
        self.technician.as_ref().is_some_and(|g| groups.contains(g))
    }
}

/// The values of claim `name` in a claims object: a list of strings, or
/// one string (some providers give a single group so); anything else
/// gives none.
pub fn claim_values(claims: &HashMap<String, Value>, name: &str) -> Vec<String> {
    match claims.get(name) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// The name to show for an identity: `email`, else `preferred_username`,
/// else the subject; cut to what technician names allow (64 characters
/// of letters, digits and `.`, `_`, `-`, `@`; others become `_`).
pub fn shown_name(email: Option<&str>, username: Option<&str>, subject: &str) -> String {
    let raw = email
        .filter(|e| !e.trim().is_empty())
        .or(username.filter(|u| !u.trim().is_empty()))
        .unwrap_or(subject);
    let cleaned: String = raw
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@') {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if cleaned.is_empty() {
        "_".to_owned()
    } else {
        cleaned
    }
}

/// The claims object of a compact JWS (`header.payload.signature`),
/// for a token whose signature was already verified; `None` if it is
/// not one.
pub fn jwt_payload(jwt: &str) -> Option<HashMap<String, Value>> {
    use base64::Engine;
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups() -> Groups {
        Groups {
            admin: Some("sec-admins".into()),
            auditor: Some("sec-auditors".into()),
            approver: None,
            technician: Some("helpdesk".into()),
        }
    }

    #[test]
    fn roles_come_from_the_configured_groups_only() {
        let g = groups();
        let of = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(g.console_role(&of(&["sec-admins"])), Some(Role::Admin));
        assert_eq!(
            g.console_role(&of(&["sec-auditors", "sec-admins"])),
            Some(Role::Admin)
        );
        assert_eq!(g.console_role(&of(&["sec-auditors"])), Some(Role::Auditor));
        assert_eq!(g.console_role(&of(&["helpdesk", "SEC-ADMINS"])), None);
        assert_eq!(g.console_role(&[]), None);
        assert!(g.technician(&of(&["helpdesk"])));
        assert!(!g.technician(&of(&["sec-admins"])));
        assert!(!Groups::default().technician(&of(&["helpdesk"])));
    }

    #[test]
    fn the_claim_may_be_a_list_or_one_string() {
        let claims: HashMap<String, Value> =
            serde_json::from_str(r#"{"groups":["a",1,"b"],"role":"admins","n":5}"#).unwrap();
        assert_eq!(claim_values(&claims, "groups"), ["a", "b"]);
        assert_eq!(claim_values(&claims, "role"), ["admins"]);
        assert!(claim_values(&claims, "n").is_empty());
        assert!(claim_values(&claims, "missing").is_empty());
    }

    #[test]
    fn names_prefer_email_and_stay_technician_names() {
        assert_eq!(shown_name(Some("a@b.c"), Some("ann"), "s1"), "a@b.c");
        assert_eq!(shown_name(Some(" "), Some("ann"), "s1"), "ann");
        assert_eq!(shown_name(None, None, "auth0|12 34"), "auth0_12_34");
        assert_eq!(shown_name(None, None, &"x".repeat(100)).len(), 64);
        assert_eq!(shown_name(None, None, ""), "_");
        assert!(lifeline_relay_core::tokens::valid_name(&shown_name(
            Some("Zoë O'Brien <z@x>"),
            None,
            "s"
        )));
    }

    #[test]
    fn payloads_are_read_from_compact_tokens() {
        use base64::Engine;
        let b = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let jwt = format!("{}.{}.sig", b("{}"), b(r#"{"sub":"x","groups":["g"]}"#));
        let p = jwt_payload(&jwt).unwrap();
        assert_eq!(claim_values(&p, "groups"), ["g"]);
        assert!(jwt_payload("nodots").is_none());
        assert!(jwt_payload("a.!!!.c").is_none());
    }
}
