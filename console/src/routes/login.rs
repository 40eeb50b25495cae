//! Logging in and out: the login form (its own CSRF cookie), name,
//! password and second factor (throttled by name and by address), logout,
//! and changing one's password (forced after a reset).

use std::time::{Instant, SystemTime};

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use lifeline_proto::audit::AuditEvent;
use serde::Deserialize;

use super::{
    Authed, C, CsrfForm, Ip, LOGIN_COOKIE, SESSION_COOKIE, audit, cookie, failure, html,
    off_thread, set_cookie,
};
use crate::auth::{random_token, same};
use crate::gate::Unchecked;
use crate::pages;
use crate::users::{ConsoleUser, Refusal};
use crate::{Console, lock};

pub(super) async fn login_page(State(c): C, headers: HeaderMap) -> Response {
    let token = cookie(&headers, LOGIN_COOKIE)
        .filter(|t| t.len() == 64)
        .unwrap_or_else(random_token);
    let set = set_cookie(LOGIN_COOKIE, &token, None);
    ([set], pages::login(&token, None, c.oidc.is_some())).into_response()
}

#[derive(Debug, Deserialize)]
pub(super) struct LoginForm {
    #[serde(default)]
    user: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    csrf: String,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// What the login page says to every refused login, whatever was wrong
/// (name, password, a missing, wrong or used code): nobody learns which
/// names exist or that a password was right.
const WRONG: &str = "Wrong name, password or code.";
/// What it says when too many logins are being checked at once.
const BUSY: &str = "The console is busy checking other logins. Try again in a few seconds.";

/// A turn at the password check (Argon2id is memory-hard: at most
/// [`crate::CHECKS_AT_ONCE`] run at once); `None` after waiting
/// [`crate::CHECK_WAIT`] for one.
pub(super) async fn check_turn(c: &Console) -> Option<tokio::sync::OwnedSemaphorePermit> {
    tokio::time::timeout(crate::CHECK_WAIT, c.checks.clone().acquire_owned())
        .await
        .ok()?
        .ok()
}

/// Checks name, password and second factor off the async threads (`None`:
/// no turn at the check came); a TOTP code logs in once (an overheard one
/// is no use afterwards).
async fn credentials(
    c: &Console,
    f: &LoginForm,
) -> Result<Option<Result<ConsoleUser, Refusal>>, Response> {
    let Some(turn) = check_turn(c).await else {
        return Ok(None);
    };
    let (users, name, password, code) = (
        c.users.clone(),
        f.user.clone(),
        f.password.clone(),
        f.code.clone(),
    );
    let checked = off_thread("Accounts unreadable", move || {
        // Held until Argon2 is done, even if the request is dropped.
        let _turn = turn;
        users.check(&name, &password, &code, unix_now())
    })
    .await?;
    Ok(Some(checked.and_then(|(user, step)| {
        let Some(step) = step else { return Ok(user) };
        let mut used = lock(&c.totp_steps);
        if used.get(&user.name).is_some_and(|last| step <= *last) {
            return Err(Refusal::CodeReused);
        }
        used.insert(user.name.clone(), step);
        Ok(user)
    })))
}

pub(super) async fn login(
    State(c): C,
    Ip(ip): Ip,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Result<Response, Response> {
    let c = &c;
    let login_token = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if login_token.is_empty() || !same(&f.csrf, &login_token) {
        return Err(failure(
            None,
            StatusCode::FORBIDDEN,
            "Refused",
            "This login form is stale or did not come from this console. Reload the page and try again.",
        ));
    }
    let provider = c.oidc.is_some();
    let again =
        |status, message: &str| html(status, pages::login(&login_token, Some(message), provider));
    let count = |outcome| {
        if let Some(relay) = &c.relay {
            relay.metrics().console_login(outcome);
        }
    };
    let record = |ok: bool, reason: Option<&str>| AuditEvent::ConsoleLogin {
        user: f.user.clone(),
        ip: ip.to_string(),
        ok,
        reason: reason.map(str::to_owned),
        attempts: None,
        issuer: None,
        subject: None,
    };
    // The slots are taken before the check, so raced attempts cannot all
    // pass; a throttled attempt is counted into its burst's record.
    let reserved = lock(&c.gate).reserve(Instant::now(), &f.user, ip);
    let reservation = match reserved {
        Ok(r) => r,
        Err(wait) => {
            count("throttled");
            let secs = wait.as_secs().max(1);
            return Err(again(
                StatusCode::TOO_MANY_REQUESTS,
                &format!("Too many failed logins for this name or address. Try again in {secs} s."),
            ));
        }
    };
    let checked = match credentials(c, &f).await {
        Ok(Some(checked)) => checked,
        Ok(None) => {
            let mut gate = lock(&c.gate);
            gate.release(Instant::now(), reservation);
            gate.unchecked(Instant::now(), Unchecked::Busy, &f.user, ip);
            drop(gate);
            count("busy");
            return Err(again(StatusCode::SERVICE_UNAVAILABLE, BUSY));
        }
        Err(page) => {
            lock(&c.gate).release(Instant::now(), reservation);
            return Err(page);
        }
    };
    let user = match checked {
        Ok(u) => {
            lock(&c.gate).release(Instant::now(), reservation);
            u
        }
        Err(refusal) => {
            count(refusal.metric_word());
            lock(&c.gate).failed(reservation);
            audit(c, record(false, Some(refusal.as_str()))).await?;
            return Err(again(StatusCode::UNAUTHORIZED, WRONG));
        }
    };
    audit(c, record(true, None)).await?;
    count("ok");
    let sid = lock(&c.sessions).open(Instant::now(), &user);
    let to = if user.must_change {
        "/password"
    } else {
        "/sessions"
    };
    Ok((
        axum::response::AppendHeaders([
            set_cookie(SESSION_COOKIE, &sid, None),
            set_cookie(LOGIN_COOKIE, "", Some(0)),
        ]),
        Redirect::to(to),
    )
        .into_response())
}

pub(super) async fn logout(State(c): C, a: Authed, Form(f): Form<CsrfForm>) -> Response {
    if let Err(r) = a.check_csrf(&c, &f.csrf, "log out").await {
        return r;
    }
    if let Err(r) = a.action(&c, "logout", None).await {
        return r;
    }
    lock(&c.sessions).close(&a.sid);
    (
        [set_cookie(SESSION_COOKIE, "", Some(0))],
        Redirect::to("/login"),
    )
        .into_response()
}

/// The page for a session signed in with the identity provider, which
/// has no password here.
fn not_here(a: &Authed) -> Response {
    failure(
        Some(&a.viewer()),
        StatusCode::BAD_REQUEST,
        "Password",
        "You signed in with your organisation's identity provider: your password is theirs, and is changed there.",
    )
}

pub(super) async fn password_page(a: Authed) -> Response {
    if a.session.identity.is_some() {
        return not_here(&a);
    }
    html(
        StatusCode::OK,
        pages::password(&a.viewer(), a.session.must_change, None, false),
    )
}

#[derive(Debug, Deserialize)]
pub(super) struct PasswordForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    repeat: String,
    #[serde(default)]
    csrf: String,
}

pub(super) async fn change_password(
    State(c): C,
    a: Authed,
    Form(f): Form<PasswordForm>,
) -> Response {
    if let Err(r) = a.check_csrf(&c, &f.csrf, "change password").await {
        return r;
    }
    if a.session.identity.is_some() {
        return not_here(&a);
    }
    let forced = a.session.must_change;
    let again =
        |status, e: &str| html(status, pages::password(&a.viewer(), forced, Some(e), false));
    if f.new != f.repeat {
        return again(StatusCode::BAD_REQUEST, "The two new passwords differ.");
    }
    if f.new.chars().count() < crate::users::MIN_PASSWORD {
        return again(
            StatusCode::BAD_REQUEST,
            &format!(
                "A password needs at least {} characters.",
                crate::users::MIN_PASSWORD
            ),
        );
    }
    // One turn for both Argon2 runs (the check and the new hash).
    let Some(_turn) = check_turn(&c).await else {
        return again(StatusCode::SERVICE_UNAVAILABLE, BUSY);
    };
    let (users, name, current) = (c.users.clone(), a.session.user.clone(), f.current);
    let current_ok = tokio::task::spawn_blocking(move || {
        // The second factor was checked at login; here only the password.
        users
            .get(&name)
            .map(|u| u.is_some_and(|u| crate::users::password_ok(&u, &current)))
    })
    .await;
    match current_ok {
        Ok(Ok(true)) => {}
        Ok(Ok(false)) => return again(StatusCode::BAD_REQUEST, "The current password is wrong."),
        Ok(Err(e)) => return again(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        Err(e) => return again(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
    if let Err(r) = a.action(&c, "password_changed", None).await {
        return r;
    }
    let (users, name, new) = (c.users.clone(), a.session.user.clone(), f.new);
    let set = tokio::task::spawn_blocking(move || {
        users.set_password(&name, &new)?;
        Ok::<_, crate::users::UserError>(users.get(&name)?.map(|u| u.password))
    })
    .await;
    let hash = match set {
        Ok(Ok(Some(hash))) => hash,
        other => {
            let why = match other {
                Ok(Err(e)) => e.to_string(),
                Err(e) => e.to_string(),
                _ => "the account was removed meanwhile".to_owned(),
            };
            if let Err(r) = a
                .action(&c, "failed", Some(format!("change password: {why}")))
                .await
            {
                return r;
            }
            return again(StatusCode::INTERNAL_SERVER_ERROR, &why);
        }
    };
    lock(&c.sessions).password_changed(&a.sid, &hash);
    if forced {
        return Redirect::to("/sessions").into_response();
    }
    html(
        StatusCode::OK,
        pages::password(&a.viewer(), false, None, true),
    )
}
