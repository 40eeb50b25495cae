//! The console's HTTP handlers. Each reads who is asking (cookie), checks
//! the CSRF token on every post, writes the audit record before it
//! changes anything, and renders a page from [`super::pages`].
//!
//! This module holds the router and what every handler shares: security
//! headers, cookies, the client's address, the audit write, failure pages
//! and the logged-in request ([`Authed`]). The handlers live by job:
//! `login` (login, logout, password change), `sessions` (the sessions
//! list, one session's timeline, events, integrity), `technicians`
//! (listing, adding and revoking technicians), `recordings` (a
//! recording's details and its download), `devices` (the enrolled fleet,
//! its tickets, and the device sessions waiting for an approver).

mod devices;
mod login;
mod oidc;
mod receipts;
mod recordings;
mod sessions;
mod technicians;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use lifeline_proto::audit::AuditEvent;
use maud::Markup;
use serde::Deserialize;

use super::Console;
use super::auth::{Session, same};
use super::pages::{self, Viewer};
use super::serve::ClientIp;
use crate::lock;
use crate::users::Role;
use login::{change_password, login, login_page, logout, password_page};
use recordings::{download, recording};
use sessions::{events, integrity, sessions, timeline};
use technicians::{add_technician, revoke_technician, technicians};

/// The session cookie (`__Host-`: HTTPS only, this host only, path `/`).
const SESSION_COOKIE: &str = "__Host-lifeline";
/// The login form's CSRF cookie (double submit: the form carries it too).
const LOGIN_COOKIE: &str = "__Host-lifeline-login";
/// Sessions a page lists.
pub const PER_PAGE: usize = 50;
/// The largest request body taken (the console's forms are small).
pub const MAX_BODY: usize = 64 * 1024;
/// How long a request's body may take to arrive, once its headers have.
pub const BODY_TIME: std::time::Duration = std::time::Duration::from_secs(10);

type C = State<Arc<Console>>;

/// Every route of the console.
pub fn router(console: Arc<Console>) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/sessions") }))
        .route("/console.css", get(css))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/login/oidc", get(oidc::start))
        .route("/login/oidc/callback", get(oidc::callback))
        .route("/password", get(password_page).post(change_password))
        .route("/sessions", get(sessions))
        .route("/sessions/{id}", get(timeline))
        .route("/sessions/{id}/recording", get(recording).post(download))
        .route("/events", get(events))
        .route("/integrity", get(integrity))
        .route(
            "/receipts",
            get(receipts::receipt_page)
                .post(receipts::check_receipt)
                .layer(axum::extract::DefaultBodyLimit::max(
                    receipts::MAX_RECEIPT_BODY,
                )),
        )
        .route("/technicians", get(technicians).post(add_technician))
        .route("/technicians/{name}/revoke", post(revoke_technician))
        .route("/devices", get(devices::devices))
        .route("/devices/tickets", post(devices::make_ticket))
        .route("/devices/{name}/{what}", post(devices::change_device))
        .route("/approvals", get(devices::approvals))
        .route("/approvals/{session}/{what}", post(devices::decide))
        .fallback(|| async {
            failure(
                None,
                StatusCode::NOT_FOUND,
                "Not found",
                "There is no such page.",
            )
        })
        .layer(middleware::from_fn(whole_body))
        .layer(middleware::from_fn(security_headers))
        .with_state(console)
}

/// Reads a request's whole body before any handler sees it: at most
/// [`MAX_BODY`], within [`BODY_TIME`] (a client sending it slowly holds
/// its connection no longer); otherwise the connection is closed.
async fn whole_body(req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    // A user's receipt may be larger than any form.
    let limit = if parts.uri.path() == "/receipts" {
        receipts::MAX_RECEIPT_BODY
    } else {
        MAX_BODY
    };
    let read = tokio::time::timeout(BODY_TIME, axum::body::to_bytes(body, limit)).await;
    let mut refused = match read {
        Ok(Ok(bytes)) => {
            return next
                .run(Request::from_parts(parts, axum::body::Body::from(bytes)))
                .await;
        }
        Ok(Err(_)) => failure(
            None,
            StatusCode::PAYLOAD_TOO_LARGE,
            "Refused",
            &format!(
                "This request's body was over {} KiB or broke off.",
                limit / 1024
            ),
        ),
        Err(_) => failure(
            None,
            StatusCode::REQUEST_TIMEOUT,
            "Too slow",
            &format!(
                "This request's body took over {} s to arrive.",
                BODY_TIME.as_secs()
            ),
        ),
    };
    refused
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    refused
}

/// No scripts, no framing, no caching of what the pages show.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    let set = |h: &mut HeaderMap, k: header::HeaderName, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(
        h,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::REFERRER_POLICY, "no-referrer");
    set(h, header::STRICT_TRANSPORT_SECURITY, "max-age=31536000");
    if !h.contains_key(header::CACHE_CONTROL) {
        set(h, header::CACHE_CONTROL, "no-store");
    }
    res
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        pages::CSS,
    )
        .into_response()
}

fn html(status: StatusCode, m: Markup) -> Response {
    (status, m).into_response()
}

fn failure(v: Option<&Viewer<'_>>, status: StatusCode, title: &str, message: &str) -> Response {
    html(status, pages::error(v, title, message))
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

fn set_cookie(name: &str, value: &str, max_age: Option<u64>) -> (header::HeaderName, String) {
    let age = max_age.map_or(String::new(), |s| format!("; Max-Age={s}"));
    (
        header::SET_COOKIE,
        format!("{name}={value}; Path=/; Secure; HttpOnly; SameSite=Strict{age}"),
    )
}

fn client_ip(parts: &Parts) -> IpAddr {
    parts
        .extensions
        .get::<ClientIp>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0)
}

/// Writes an audit record; `Err` is the page to show when the log cannot
/// be written (then nothing else is done).
async fn audit(c: &Console, event: AuditEvent) -> Result<(), Response> {
    c.audit.append(event).await.map(|_| ()).map_err(|e| {
        tracing::error!(error = %e, "console: audit write failed");
        failure(
            None,
            StatusCode::SERVICE_UNAVAILABLE,
            "Audit log unavailable",
            &format!("Nothing was done: the audit log cannot be written ({e})."),
        )
    })
}

/// A logged-in request: the session behind the cookie, with the account's
/// current role (a removed account is logged out at once).
#[derive(Debug)]
pub struct Authed {
    sid: String,
    session: Session,
    ip: IpAddr,
}

impl Authed {
    fn viewer(&self) -> Viewer<'_> {
        Viewer {
            user: &self.session.user,
            role: self.session.role,
            csrf: &self.session.csrf,
        }
    }

    async fn action(
        &self,
        c: &Console,
        action: &str,
        target: Option<String>,
    ) -> Result<(), Response> {
        let event = AuditEvent::ConsoleAction {
            user: self.session.user.clone(),
            ip: self.ip.to_string(),
            action: action.into(),
            target,
        };
        audit(c, event).await
    }

    /// Refuses a post whose CSRF token is missing or wrong (audited: it
    /// is what a forged cross-site request looks like).
    async fn check_csrf(&self, c: &Console, token: &str, what: &str) -> Result<(), Response> {
        if same(token, &self.session.csrf) {
            return Ok(());
        }
        self.action(c, "refused", Some(format!("no valid CSRF token on {what}")))
            .await?;
        Err(failure(
            Some(&self.viewer()),
            StatusCode::FORBIDDEN,
            "Refused",
            "This form is stale or did not come from this console (no valid CSRF token). Reload the page and try again.",
        ))
    }

    /// Refuses what only an admin may do (audited).
    async fn need_admin(&self, c: &Console, what: &str) -> Result<(), Response> {
        if self.session.role == Role::Admin {
            return Ok(());
        }
        self.action(c, "forbidden", Some(what.to_owned())).await?;
        Err(failure(
            Some(&self.viewer()),
            StatusCode::FORBIDDEN,
            "Forbidden",
            &format!(
                "Only an admin may {what}; you are {}.",
                self.session.role.as_str()
            ),
        ))
    }
}

impl FromRequestParts<Arc<Console>> for Authed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, c: &Arc<Console>) -> Result<Self, Response> {
        let to_login = || Redirect::to("/login").into_response();
        let sid = cookie(&parts.headers, SESSION_COOKIE).ok_or_else(to_login)?;
        let mut session = lock(&c.sessions)
            .get(Instant::now(), &sid)
            .ok_or_else(to_login)?;
        // The provider vouched for a signed-in session when it began; it
        // has no local account to check again.
        if session.identity.is_none() {
            match c.users.get(&session.user) {
                Ok(Some(u)) if u.password == session.password => session.role = u.role,
                Ok(Some(_)) => {
                    // The password was reset or changed elsewhere.
                    lock(&c.sessions).close(&sid);
                    return Err(to_login());
                }
                Ok(None) => {
                    lock(&c.sessions).end_user(&session.user);
                    return Err(to_login());
                }
                Err(e) => {
                    return Err(failure(
                        None,
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "Accounts unreadable",
                        &e.to_string(),
                    ));
                }
            }
        }
        if session.must_change && parts.uri.path() != "/password" && parts.uri.path() != "/logout" {
            return Err(Redirect::to("/password").into_response());
        }
        Ok(Self {
            sid,
            session,
            ip: client_ip(parts),
        })
    }
}

/// The client's address, for pages before login.
#[derive(Debug)]
pub struct Ip(IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for Ip {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Ip(client_ip(parts)))
    }
}

#[derive(Debug, Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// Runs `f` off the async threads on the up-to-date index; an unreadable
/// log (while indexing or reading records back) is the error page.
async fn on_index<T: Send + 'static>(
    c: &Arc<Console>,
    f: impl FnOnce(&Console, &crate::index::AuditIndex) -> std::io::Result<T> + Send + 'static,
) -> Result<T, Response> {
    let c2 = c.clone();
    off_thread("Audit log unreadable", move || {
        c2.with_index(|idx| f(&c2, idx))
    })
    .await
}

/// Runs blocking work `f` off the async threads; its error (or the
/// task's) is the error page titled `title`.
async fn off_thread<T, E>(
    title: &str,
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, Response>
where
    T: Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()))
        .map_err(|e| failure(None, StatusCode::INTERNAL_SERVER_ERROR, title, &e))
}
