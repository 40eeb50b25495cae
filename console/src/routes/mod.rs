//! The console's HTTP handlers. Each reads who is asking (cookie), checks
//! the CSRF token on every post, writes the audit record before it
//! changes anything, and renders a page from [`super::pages`].

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::extract::{FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use lifeline_proto::audit::{AuditEvent, Record};
use maud::Markup;
use serde::Deserialize;

use super::Console;
use super::auth::{Session, random_token, same};
use super::index::{Filter, read_back};
use super::pages::{self, RecordingMeta, TechnicianRow, Viewer};
use super::serve::ClientIp;
use super::users::{ConsoleUser, Refusal, Role};
use crate::lock;
use lifeline_relay_core::report::SessionSummary;

/// The session cookie (`__Host-`: HTTPS only, this host only, path `/`).
const SESSION_COOKIE: &str = "__Host-lifeline";
/// The login form's CSRF cookie (double submit: the form carries it too).
const LOGIN_COOKIE: &str = "__Host-lifeline-login";
/// Sessions a page lists.
pub const PER_PAGE: usize = 50;

type C = State<Arc<Console>>;

/// Every route of the console.
pub fn router(console: Arc<Console>) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/sessions") }))
        .route("/console.css", get(css))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/password", get(password_page).post(change_password))
        .route("/sessions", get(sessions))
        .route("/sessions/{id}", get(timeline))
        .route("/sessions/{id}/recording", get(recording).post(download))
        .route("/events", get(events))
        .route("/integrity", get(integrity))
        .route("/technicians", get(technicians).post(add_technician))
        .route("/technicians/{name}/revoke", post(revoke_technician))
        .fallback(|| async {
            failure(
                None,
                StatusCode::NOT_FOUND,
                "Not found",
                "There is no such page.",
            )
        })
        .layer(middleware::from_fn(security_headers))
        .with_state(console)
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
            &format!("Only an admin may {what}; you are an auditor."),
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

async fn login_page(headers: HeaderMap) -> Response {
    let token = cookie(&headers, LOGIN_COOKIE)
        .filter(|t| t.len() == 64)
        .unwrap_or_else(random_token);
    let c = set_cookie(LOGIN_COOKIE, &token, None);
    ([c], pages::login(&token, None)).into_response()
}

#[derive(Debug, Deserialize)]
struct LoginForm {
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

/// Checks name, password and second factor off the async threads; a
/// TOTP code logs in once (an overheard one is no use afterwards).
async fn credentials(c: &Console, f: &LoginForm) -> Result<Result<ConsoleUser, Refusal>, Response> {
    let (users, name, password, code) = (
        c.users.clone(),
        f.user.clone(),
        f.password.clone(),
        f.code.clone(),
    );
    let checked =
        tokio::task::spawn_blocking(move || users.check(&name, &password, &code, unix_now()))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()))
            .map_err(|e| {
                failure(
                    None,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Accounts unreadable",
                    &e,
                )
            })?;
    Ok(checked.and_then(|(user, step)| {
        let Some(step) = step else { return Ok(user) };
        let mut used = lock(&c.totp_steps);
        if used.get(&user.name).is_some_and(|last| step <= *last) {
            return Err(Refusal::CodeReused);
        }
        used.insert(user.name.clone(), step);
        Ok(user)
    }))
}

async fn login(
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
    let again = |status, message: &str| html(status, pages::login(&login_token, Some(message)));
    let record = |ok: bool, reason: Option<&str>| AuditEvent::ConsoleLogin {
        user: f.user.clone(),
        ip: ip.to_string(),
        ok,
        reason: reason.map(str::to_owned),
    };
    let now = Instant::now();
    let wait = {
        let by_name = lock(&c.throttle).check(now, &f.user).err();
        let by_address = lock(&c.address_throttle).check(now, &ip).err();
        by_name.max(by_address)
    };
    if let Some(wait) = wait {
        audit(c, record(false, Some("throttled: too many failed logins"))).await?;
        let secs = wait.as_secs().max(1);
        return Err(again(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("Too many failed logins for this name or address. Try again in {secs} s."),
        ));
    }
    let checked = credentials(c, &f).await?;
    let user = match checked {
        Ok(u) => u,
        Err(refusal) => {
            lock(&c.throttle).fail(now, &f.user);
            lock(&c.address_throttle).fail(now, &ip);
            audit(c, record(false, Some(refusal.as_str()))).await?;
            let message = match refusal {
                Refusal::NeedsCode => "Enter the code from your authenticator app too.",
                _ => "Wrong name, password or code.",
            };
            return Err(again(StatusCode::UNAUTHORIZED, message));
        }
    };
    audit(c, record(true, None)).await?;
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

#[derive(Debug, Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(State(c): C, a: Authed, Form(f): Form<CsrfForm>) -> Response {
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

async fn password_page(a: Authed) -> Response {
    html(
        StatusCode::OK,
        pages::password(&a.viewer(), a.session.must_change, None, false),
    )
}

#[derive(Debug, Deserialize)]
struct PasswordForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    repeat: String,
    #[serde(default)]
    csrf: String,
}

async fn change_password(State(c): C, a: Authed, Form(f): Form<PasswordForm>) -> Response {
    if let Err(r) = a.check_csrf(&c, &f.csrf, "change password").await {
        return r;
    }
    let forced = a.session.must_change;
    let again =
        |status, e: &str| html(status, pages::password(&a.viewer(), forced, Some(e), false));
    if f.new != f.repeat {
        return again(StatusCode::BAD_REQUEST, "The two new passwords differ.");
    }
    if f.new.chars().count() < super::users::MIN_PASSWORD {
        return again(
            StatusCode::BAD_REQUEST,
            &format!(
                "A password needs at least {} characters.",
                super::users::MIN_PASSWORD
            ),
        );
    }
    let (users, name, current) = (c.users.clone(), a.session.user.clone(), f.current);
    let current_ok = tokio::task::spawn_blocking(move || {
        // The second factor was checked at login; here only the password.
        users
            .get(&name)
            .map(|u| u.is_some_and(|u| super::users::password_ok(&u, &current)))
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
        Ok::<_, super::users::UserError>(users.get(&name)?.map(|u| u.password))
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

/// The banner every page shows while the log is known to be broken.
fn banner(c: &Console, broken: Option<&str>) -> Option<String> {
    if let Some(b) = broken {
        return Some(format!(
            "The audit log fails verification ({b}); sessions after that record are not shown. See Integrity."
        ));
    }
    lock(&c.failed_check)
        .as_ref()
        .map(|f| format!("The last integrity check FAILED: {f}. See Integrity."))
}

/// The query string, or what is wrong with it.
fn query_or_why<T>(
    query: Result<Query<T>, axum::extract::rejection::QueryRejection>,
) -> Result<T, String> {
    query
        .map(|Query(q)| q)
        .map_err(|e| format!("{} (page is a number from 1).", e.body_text()))
}

fn bad_search(a: &Authed, why: &str) -> Response {
    failure(
        Some(&a.viewer()),
        StatusCode::BAD_REQUEST,
        "Bad search",
        why,
    )
}

/// Runs `f` off the async threads on the up-to-date index; an unreadable
/// log (while indexing or reading records back) is the error page.
async fn on_index<T: Send + 'static>(
    c: &Arc<Console>,
    f: impl FnOnce(&Console, &super::index::AuditIndex) -> std::io::Result<T> + Send + 'static,
) -> Result<T, Response> {
    let c2 = c.clone();
    tokio::task::spawn_blocking(move || c2.with_index(|idx| f(&c2, idx)))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()))
        .map_err(|e| {
            failure(
                None,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Audit log unreadable",
                &e,
            )
        })
}

async fn sessions(
    State(c): C,
    a: Authed,
    query: Result<Query<Filter>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let f = match query_or_why(query) {
        Ok(f) => f,
        Err(why) => return bad_search(&a, &why),
    };
    let v = (
        a.session.user.clone(),
        a.session.role,
        a.session.csrf.clone(),
    );
    let page = on_index(&c, move |c, idx| {
        let viewer = Viewer {
            user: &v.0,
            role: v.1,
            csrf: &v.2,
        };
        let b = banner(c, idx.broken());
        let checked = f.check();
        let found = checked.as_ref().map(|()| idx.query(&f, PER_PAGE));
        let found = match &found {
            Ok(p) => Ok(p),
            Err(e) => Err(e.as_str()),
        };
        Ok(pages::sessions(&viewer, b.as_deref(), &f, found))
    })
    .await;
    match page {
        Ok(m) => html(StatusCode::OK, m),
        Err(r) => r,
    }
}

#[derive(Debug, Deserialize)]
struct EventsQuery {
    #[serde(default)]
    kind: String,
    page: Option<usize>,
}

async fn events(
    State(c): C,
    a: Authed,
    query: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = match query_or_why(query) {
        Ok(q) => q,
        Err(why) => return bad_search(&a, &why),
    };
    if !q.kind.is_empty() && !pages::EVENT_KINDS.contains(&q.kind.as_str()) {
        let why = format!(
            "{:?} is not a kind of record: one of {}.",
            q.kind,
            pages::EVENT_KINDS.join(", ")
        );
        return bad_search(&a, &why);
    }
    let page = q.page.unwrap_or(1).max(1);
    let kind = q.kind.clone();
    let found = on_index(&c, move |c, idx| {
        let (spans, total) = idx.events(&kind, page, PER_PAGE);
        let recs = read_back(&lifeline_relay_core::audit::log_path(&c.dir), &spans)?;
        Ok((recs, total, banner(c, idx.broken())))
    })
    .await;
    match found {
        Err(r) => r,
        Ok((records, total, b)) => {
            let e = pages::EventsPage {
                kind: &q.kind,
                page,
                pages: total.div_ceil(PER_PAGE).max(1),
                total,
                records: &records,
            };
            html(StatusCode::OK, pages::events(&a.viewer(), b.as_deref(), &e))
        }
    }
}

/// A session's summary, its records read back from the log (each checked
/// against its hash), and the page's banner; `None`: no such session.
type SessionRecords = (SessionSummary, Vec<Result<Record, String>>, Option<String>);

async fn session_records(c: &Arc<Console>, id: String) -> Result<Option<SessionRecords>, Response> {
    on_index(c, move |c, idx| {
        let Some((s, spans)) = idx.session(&id) else {
            return Ok(None);
        };
        let recs = read_back(&lifeline_relay_core::audit::log_path(&c.dir), spans)?;
        Ok(Some((s.clone(), recs, banner(c, idx.broken()))))
    })
    .await
}

async fn timeline(State(c): C, a: Authed, Path(id): Path<String>) -> Response {
    match session_records(&c, id).await {
        Err(r) => r,
        Ok(None) => failure(
            Some(&a.viewer()),
            StatusCode::NOT_FOUND,
            "No such session",
            "The audit log has no session with that id.",
        ),
        Ok(Some((s, recs, b))) => html(
            StatusCode::OK,
            pages::timeline(&a.viewer(), b.as_deref(), &s, &recs),
        ),
    }
}

async fn integrity(State(c): C, a: Authed) -> Response {
    let dir = c.dir.clone();
    let found = match tokio::task::spawn_blocking(move || {
        lifeline_relay_core::integrity::check(&dir)
    })
    .await
    {
        Ok(f) => f,
        Err(e) => {
            return failure(
                Some(&a.viewer()),
                StatusCode::INTERNAL_SERVER_ERROR,
                "Check failed",
                &e.to_string(),
            );
        }
    };
    *lock(&c.failed_check) = (!found.intact()).then(|| {
        found
            .chain
            .clone()
            .unwrap_or_else(|| found.bad_recordings.join("; "))
    });
    let at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    html(StatusCode::OK, pages::integrity(&a.viewer(), &found, &at))
}

async fn technician_rows(c: &Arc<Console>) -> Result<Vec<TechnicianRow>, Response> {
    let list = c.technicians.list().map_err(|e| {
        failure(
            None,
            StatusCode::INTERNAL_SERVER_ERROR,
            "Technicians unreadable",
            &e.to_string(),
        )
    })?;
    on_index(c, move |_, idx| {
        Ok(list
            .into_iter()
            .map(|t| TechnicianRow {
                last_use: idx.last_use(&t.name).map(str::to_owned),
                name: t.name,
                added: t.created,
                revoked: t.revoked,
            })
            .collect())
    })
    .await
}

async fn technicians(State(c): C, a: Authed) -> Response {
    match technician_rows(&c).await {
        Ok(rows) => html(
            StatusCode::OK,
            pages::technicians(&a.viewer(), &rows, None, None),
        ),
        Err(r) => r,
    }
}

#[derive(Debug, Deserialize)]
struct AddForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    csrf: String,
}

async fn add_technician(
    State(c): C,
    a: Authed,
    Form(f): Form<AddForm>,
) -> Result<Response, Response> {
    let (c, a) = (&c, &a);
    a.check_csrf(c, &f.csrf, "add technician").await?;
    a.need_admin(c, &format!("add technician {}", f.name))
        .await?;
    let name = f.name.trim().to_owned();
    let refuse = |e: String| async move {
        let rows = technician_rows(c).await?;
        Err(html(
            StatusCode::BAD_REQUEST,
            pages::technicians(&a.viewer(), &rows, None, Some(&e)),
        ))
    };
    if !lifeline_relay_core::tokens::valid_name(&name) {
        return refuse(lifeline_relay_core::tokens::TokenError::BadName(name).to_string()).await;
    }
    a.action(c, "technician_added", Some(name.clone())).await?;
    let token = match c.technicians.add(&name) {
        Ok(t) => t,
        Err(e) => {
            a.action(c, "failed", Some(format!("add technician {name}: {e}")))
                .await?;
            return refuse(e.to_string()).await;
        }
    };
    let rows = technician_rows(c).await?;
    Ok(html(
        StatusCode::OK,
        pages::technicians(&a.viewer(), &rows, Some((&name, &token)), None),
    ))
}

async fn revoke_technician(
    State(c): C,
    a: Authed,
    Path(name): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Result<Response, Response> {
    let (c, a) = (&c, &a);
    a.check_csrf(c, &f.csrf, &format!("revoke technician {name}"))
        .await?;
    a.need_admin(c, &format!("revoke technician {name}"))
        .await?;
    a.action(c, "technician_revoked", Some(name.clone()))
        .await?;
    if let Err(e) = c.technicians.revoke(&name) {
        a.action(c, "failed", Some(format!("revoke technician {name}: {e}")))
            .await?;
        let rows = technician_rows(c).await?;
        return Err(html(
            StatusCode::BAD_REQUEST,
            pages::technicians(&a.viewer(), &rows, None, Some(&e.to_string())),
        ));
    }
    Ok(Redirect::to("/technicians").into_response())
}

/// The recording's facts from the session's records.
async fn recording_meta(c: &Arc<Console>, id: String) -> Result<Option<RecordingMeta>, Response> {
    let Some((_, recs, _)) = session_records(c, id).await? else {
        return Ok(None);
    };
    let mut meta: Option<RecordingMeta> = None;
    for r in recs.iter().flatten() {
        match &r.event {
            AuditEvent::RecordingSealed {
                session,
                file,
                chunks,
                bytes,
                sha256,
            } => {
                meta = Some(RecordingMeta {
                    session: session.clone(),
                    file: file.clone(),
                    chunks: *chunks,
                    bytes: *bytes,
                    sha256: sha256.clone(),
                    sealed: r.ts.clone(),
                    present: c.dir.join(file).is_file(),
                    fetches: Vec::new(),
                });
            }
            AuditEvent::RecordingFetched { by, to, .. } => {
                if let Some(m) = &mut meta {
                    m.fetches.push((r.ts.clone(), by.clone(), to.clone()));
                }
            }
            AuditEvent::RecordingExpired { .. } => {
                if let Some(m) = &mut meta {
                    m.present = false;
                }
            }
            _ => {}
        }
    }
    Ok(meta)
}

async fn recording(State(c): C, a: Authed, Path(id): Path<String>) -> Response {
    match recording_meta(&c, id).await {
        Ok(Some(m)) => html(StatusCode::OK, pages::recording(&a.viewer(), &m)),
        Ok(None) => failure(
            Some(&a.viewer()),
            StatusCode::NOT_FOUND,
            "No recording",
            "This session has no sealed recording.",
        ),
        Err(r) => r,
    }
}

async fn download(
    State(c): C,
    a: Authed,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Result<Response, Response> {
    let (c, a) = (&c, &a);
    a.check_csrf(c, &f.csrf, &format!("download the recording of {id}"))
        .await?;
    let gone = || {
        failure(
            Some(&a.viewer()),
            StatusCode::NOT_FOUND,
            "No recording",
            "This session's recording is not on the relay.",
        )
    };
    let meta = recording_meta(c, id.clone())
        .await?
        .filter(|m| m.present)
        .ok_or_else(gone)?;
    let file = tokio::fs::File::open(c.dir.join(&meta.file))
        .await
        .map_err(|_| gone())?;
    let len = file.metadata().await.map_err(|_| gone())?.len();
    audit(
        c,
        AuditEvent::RecordingFetched {
            session: id.clone(),
            by: format!("console user {}", a.session.user),
            to: format!("browser download to {}", a.ip),
        },
    )
    .await?;
    let body = axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(file));
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"{}.llrec\"",
                    id.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_")
                ),
            ),
            (header::CONTENT_LENGTH, len.to_string()),
        ],
        body,
    )
        .into_response())
}
