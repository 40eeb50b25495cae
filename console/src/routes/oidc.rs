//! Signing in to the console with the identity provider: `/login/oidc`
//! sends the browser there (PKCE, `state` and nonce kept here, bound to a
//! cookie of this browser's), `/login/oidc/callback` takes it back: the
//! code is traded for tokens, the ID token verified, the role read from
//! the configured groups. Every outcome is a `console_login` record
//! naming the issuer (and the subject, once the provider said it).

use std::time::Instant;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use lifeline_proto::audit::AuditEvent;
use lifeline_proto::login::Identity;
use serde::Deserialize;

use super::{C, Ip, SESSION_COOKIE, audit, cookie, html, set_cookie};
use crate::auth::random_token;
use crate::oidc::{OidcError, SignedIn};
use crate::users::Role;
use crate::{Console, lock, pages};

/// Binds a sign-in under way to the browser that started it. `Lax`, not
/// `Strict`: the provider's redirect back is a cross-site navigation.
const OIDC_COOKIE: &str = "__Host-lifeline-oidc";

/// What the page says when the provider cannot be reached.
const PROVIDER_DOWN: &str = "The identity provider cannot be reached now. Try again in a while, or log in with a console account.";
/// … when its answer failed the checks.
const INVALID: &str = "The identity provider's answer failed the console's checks, so nothing in it was trusted. Sign in again; if it keeps failing, the relay's log says why.";
/// … when the sign-in is not this browser's, is used, or too old.
const STALE: &str =
    "This sign-in is stale or was not started in this browser. Sign in again from the login page.";

/// The console's address as the browser reached it, for the redirect
/// URI (the provider accepts only the one registered, so a forged Host
/// header leads nowhere); `None` for one that is not a host[:port].
fn own_origin(headers: &HeaderMap) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let plain = !host.is_empty()
        && host.len() <= 255
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    plain.then(|| format!("https://{host}"))
}

fn metric(c: &Console, outcome: &'static str) {
    if let Some(relay) = &c.relay {
        relay.metrics().console_login(outcome);
    }
}

/// A `console_login` record of a sign-in with the provider.
fn record(ip: &str, issuer: &str, who: Option<&SignedIn>, reason: Option<&str>) -> AuditEvent {
    AuditEvent::ConsoleLogin {
        user: who.map_or_else(String::new, |w| w.name.clone()),
        ip: ip.to_owned(),
        ok: reason.is_none(),
        reason: reason.map(str::to_owned),
        attempts: None,
        issuer: Some(issuer.to_owned()),
        subject: who.map(|w| w.subject.clone()),
    }
}

fn refused(status: StatusCode, why: &str) -> Response {
    html(status, pages::signin::refused(why))
}

/// `GET /login/oidc`: off to the provider.
pub(super) async fn start(State(c): C, Ip(ip): Ip, headers: HeaderMap) -> Response {
    let Some(oidc) = c.oidc.clone() else {
        return refused(
            StatusCode::NOT_FOUND,
            "This console signs in with console accounts only.",
        );
    };
    let Some(origin) = own_origin(&headers) else {
        return refused(
            StatusCode::BAD_REQUEST,
            "This request names no usable host.",
        );
    };
    match oidc.begin(&format!("{origin}/login/oidc/callback")).await {
        Ok((url, pending)) => {
            let binding = random_token();
            lock(&c.oidc_pending).insert(Instant::now(), ip, pending, binding.clone());
            let age = crate::oidc::pending::PENDING_FOR.as_secs();
            let cookie = (
                header::SET_COOKIE,
                format!(
                    "{OIDC_COOKIE}={binding}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={age}"
                ),
            );
            ([cookie], Redirect::to(&url)).into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "console: cannot start a sign-in with the identity provider");
            metric(&c, "provider_failed");
            refused(StatusCode::SERVICE_UNAVAILABLE, PROVIDER_DOWN)
        }
    }
}

/// What the provider sends the browser back with.
#[derive(Debug, Deserialize)]
pub(super) struct Callback {
    #[serde(default)]
    code: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    error: String,
}

/// Why a return from the provider gave no session: the page's status and
/// words, the audit record's reason, who (once the provider said), and
/// the metrics' outcome.
struct NoSession {
    status: StatusCode,
    why: String,
    reason: &'static str,
    who: Option<SignedIn>,
    outcome: &'static str,
    /// Written to the audit log: not for a return that matches no
    /// sign-in started here (anyone can make those, as many as they like).
    audited: bool,
}

impl NoSession {
    fn new(status: StatusCode, why: &str, reason: &'static str) -> Self {
        Self {
            status,
            why: why.to_owned(),
            reason,
            who: None,
            outcome: "provider_failed",
            audited: true,
        }
    }

    /// A return that matches no sign-in started here: counted, not audited.
    fn stray(why: &str, reason: &'static str) -> Self {
        Self {
            outcome: "stray",
            audited: false,
            ..Self::new(StatusCode::BAD_REQUEST, why, reason)
        }
    }
}

/// `GET /login/oidc/callback`: back from the provider.
pub(super) async fn callback(
    State(c): C,
    Ip(ip): Ip,
    headers: HeaderMap,
    query: Result<Query<Callback>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Response> {
    let Some(oidc) = c.oidc.clone() else {
        return Ok(refused(
            StatusCode::NOT_FOUND,
            "This console signs in with console accounts only.",
        ));
    };
    let (ip, issuer) = (ip.to_string(), oidc.issuer().to_owned());
    let (who, role) = match signed_in(&c, &oidc, &headers, query).await {
        Ok(found) => found,
        Err(no) => {
            metric(&c, no.outcome);
            if no.audited {
                audit(&c, record(&ip, &issuer, no.who.as_ref(), Some(no.reason))).await?;
            }
            return Err(refused(no.status, &no.why));
        }
    };
    audit(&c, record(&ip, &issuer, Some(&who), None)).await?;
    metric(&c, "ok");
    let identity = Identity {
        issuer: who.issuer.clone(),
        subject: who.subject.clone(),
    };
    let sid = lock(&c.sessions).open_signed_in(Instant::now(), &who.name, role, identity);
    Ok((
        axum::response::AppendHeaders([
            set_cookie(SESSION_COOKIE, &sid, None),
            (
                header::SET_COOKIE,
                format!("{OIDC_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0"),
            ),
        ]),
        html(StatusCode::OK, pages::signin::signed_in(&who.name)),
    )
        .into_response())
}

/// Who came back from the provider, verified, and the role their groups
/// give; or why there is no session.
async fn signed_in(
    c: &Console,
    oidc: &crate::oidc::Oidc,
    headers: &HeaderMap,
    query: Result<Query<Callback>, axum::extract::rejection::QueryRejection>,
) -> Result<(SignedIn, Role), NoSession> {
    let Ok(Query(back)) = query else {
        return Err(NoSession::stray(STALE, "malformed callback"));
    };
    let binding = cookie(headers, OIDC_COOKIE).unwrap_or_default();
    let pending = lock(&c.oidc_pending).take(Instant::now(), &back.state, &binding);
    let Some(pending) = pending else {
        return Err(NoSession::stray(STALE, "stale sign-in"));
    };
    if !back.error.is_empty() {
        let why = "The identity provider did not sign you in (refused there, or cancelled).";
        return Err(NoSession::new(
            StatusCode::UNAUTHORIZED,
            why,
            "refused at the provider",
        ));
    }
    let who = oidc.complete(&back.code, pending).await.map_err(|e| {
        tracing::warn!(error = %e, "console: a sign-in with the identity provider failed");
        match e {
            OidcError::Invalid(_) => {
                NoSession::new(StatusCode::UNAUTHORIZED, INVALID, "provider token invalid")
            }
            _ => NoSession::new(
                StatusCode::SERVICE_UNAVAILABLE,
                PROVIDER_DOWN,
                "provider unreachable",
            ),
        }
    })?;
    match oidc.config().groups.console_role(&who.groups) {
        Some(role) => Ok((who, role)),
        None => Err(NoSession {
            status: StatusCode::FORBIDDEN,
            why: format!(
                "You signed in as {}, but your account is in none of the console's groups at the identity provider. Ask its administrator.",
                who.name
            ),
            reason: "in no console group",
            who: Some(who),
            outcome: "no_role",
            audited: true,
        }),
    }
}
