//! `serve --oidc-*`: the organisation's identity provider, for console
//! sign-in (roles from its groups) and for technicians'
//! `lifeline-viewer login` (credentials bound to who signed in). Checked
//! here before anything starts: a provider that is down is not an error
//! at start (sign-ins fail until it is back; accounts and tokens work).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use lifeline_console::oidc::technicians::TechnicianSignIn;
use lifeline_console::oidc::{Groups, Oidc, OidcConfig};

#[derive(Args, Debug, Clone)]
pub(crate) struct OidcArgs {
    /// Sign in with your organisation's OpenID Connect provider: its
    /// issuer URL (https; http only on this machine's loopback, for
    /// tests). Console users get their role from its groups; technicians
    /// sign in with `lifeline-viewer login`.
    #[arg(long, requires_all = ["oidc_client_id", "oidc_client_secret_file"])]
    oidc_issuer: Option<String>,
    /// The client id the provider gave the relay.
    #[arg(long, requires = "oidc_issuer")]
    oidc_client_id: Option<String>,
    /// A file holding the client's secret (one line; keep it readable by
    /// the relay's user only).
    #[arg(long, requires = "oidc_issuer")]
    oidc_client_secret_file: Option<PathBuf>,
    /// The claim that lists a person's groups.
    #[arg(long, default_value = "groups", requires = "oidc_issuer")]
    oidc_role_claim: String,
    /// A scope to ask for beside openid, email and profile (repeatable),
    /// where the provider releases the groups only for one (e.g. groups).
    #[arg(long = "oidc-scope", value_name = "SCOPE", requires = "oidc_issuer")]
    oidc_scopes: Vec<String>,
    /// Members of this group sign in to the console as admins.
    #[arg(long, requires = "oidc_issuer")]
    oidc_admin_group: Option<String>,
    /// Members of this group sign in to the console as auditors.
    #[arg(long, requires = "oidc_issuer")]
    oidc_auditor_group: Option<String>,
    /// Members of this group sign in to the console as approvers.
    #[arg(long, requires = "oidc_issuer")]
    oidc_approver_group: Option<String>,
    /// Members of this group may sign in as technicians
    /// (`lifeline-viewer login`); without it, technicians use tokens only.
    #[arg(long, requires = "oidc_issuer")]
    oidc_technician_group: Option<String>,
    /// How long a technician's credential from a sign-in works (e.g. 12h,
    /// 8h; 10s to 31d).
    #[arg(long, default_value = "12h", value_parser = humantime::parse_duration, requires = "oidc_issuer")]
    oidc_credential_lifetime: Duration,
}

/// The provider, when one is configured: for the console, and for the
/// relay's technicians when a technicians' group is.
pub(crate) struct Provider {
    pub oidc: Arc<Oidc>,
    pub technicians: Option<Arc<TechnicianSignIn>>,
}

/// Checks the settings and makes the provider's client (nothing is
/// fetched from it yet).
pub(crate) fn provider(a: &OidcArgs, cluster: bool) -> anyhow::Result<Option<Provider>> {
    let Some(issuer) = &a.oidc_issuer else {
        return Ok(None);
    };
    if cluster {
        bail!(
            "--oidc-issuer keeps technicians' credentials in the data directory; with --database they would be the cluster's, which it does not do yet: run it without --database"
        );
    }
    check_issuer(issuer)?;
    let (Some(id), Some(secret_file)) = (&a.oidc_client_id, &a.oidc_client_secret_file) else {
        bail!("--oidc-issuer needs --oidc-client-id and --oidc-client-secret-file");
    };
    let secret = std::fs::read_to_string(secret_file).with_context(|| {
        format!(
            "cannot read the client secret from {}",
            secret_file.display()
        )
    })?;
    let secret = secret.trim();
    if secret.is_empty() || secret.contains('\n') {
        bail!(
            "{} must hold the client secret on one line",
            secret_file.display()
        );
    }
    let groups = Groups {
        admin: a.oidc_admin_group.clone(),
        auditor: a.oidc_auditor_group.clone(),
        approver: a.oidc_approver_group.clone(),
        technician: a.oidc_technician_group.clone(),
    };
    if groups == Groups::default() {
        bail!(
            "--oidc-issuer lets nobody in without a group: give --oidc-admin-group, --oidc-auditor-group, --oidc-approver-group or --oidc-technician-group"
        );
    }
    let lifetime = a.oidc_credential_lifetime;
    if !(Duration::from_secs(10)..=Duration::from_secs(31 * 24 * 3600)).contains(&lifetime) {
        bail!("--oidc-credential-lifetime is from 10s to 31d");
    }
    if a.oidc_role_claim.trim().is_empty() {
        bail!("--oidc-role-claim names a claim (e.g. groups, roles)");
    }
    let config = OidcConfig {
        issuer: issuer.clone(),
        client_id: id.clone(),
        client_secret: secret.to_owned(),
        role_claim: a.oidc_role_claim.trim().to_owned(),
        scopes: a.oidc_scopes.iter().map(|s| s.trim().to_owned()).collect(),
        groups: groups.clone(),
    };
    let oidc = Oidc::new(config).context("--oidc-issuer")?;
    let technicians = groups.technician.is_some().then(|| {
        Arc::new(TechnicianSignIn {
            oidc: oidc.clone(),
            lifetime,
        })
    });
    Ok(Some(Provider { oidc, technicians }))
}

/// An issuer is an https URL, or http on the loopback (a provider on the
/// same machine, as the tests run one).
fn check_issuer(issuer: &str) -> anyhow::Result<()> {
    if lifeline_console::oidc::issuer_allowed(issuer) {
        return Ok(());
    }
    bail!(
        "--oidc-issuer {issuer:?} is not an https URL (plain http is allowed only to this machine's loopback)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_are_https_or_loopback() {
        assert!(check_issuer("https://login.example.com/realms/x").is_ok());
        assert!(check_issuer("http://127.0.0.1:3000").is_ok());
        assert!(check_issuer("http://localhost:3000/oidc").is_ok());
        assert!(check_issuer("http://idp.example.com").is_err());
        assert!(check_issuer("http://127.0.0.1.evil.example").is_err());
        assert!(check_issuer("ftp://x").is_err());
        assert!(check_issuer("http://localhost:@evil.example").is_err());
        assert!(check_issuer("http://127.0.0.1@evil.example/").is_err());
        assert!(check_issuer("http://[::1]:8080").is_ok());
        assert!(check_issuer("not a url").is_err());
    }
}
