//! The audit log's views: the sessions list (searched), one session's
//! timeline, the events list by kind, and the integrity check; with the
//! banner every page shows while the log is known to be broken.

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use lifeline_proto::audit::Record;
use lifeline_relay_core::report::SessionSummary;
use serde::Deserialize;

use super::{Authed, C, PER_PAGE, failure, html, on_index};
use crate::index::{Filter, read_back};
use crate::pages::{self, Viewer};
use crate::{Console, lock};

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

pub(super) async fn sessions(
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
pub(super) struct EventsQuery {
    #[serde(default)]
    kind: String,
    page: Option<usize>,
}

pub(super) async fn events(
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

pub(super) async fn session_records(
    c: &Arc<Console>,
    id: String,
) -> Result<Option<SessionRecords>, Response> {
    on_index(c, move |c, idx| {
        let Some((s, spans)) = idx.session(&id) else {
            return Ok(None);
        };
        let recs = read_back(&lifeline_relay_core::audit::log_path(&c.dir), spans)?;
        Ok(Some((s.clone(), recs, banner(c, idx.broken()))))
    })
    .await
}

pub(super) async fn timeline(State(c): C, a: Authed, Path(id): Path<String>) -> Response {
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

pub(super) async fn integrity(State(c): C, a: Authed) -> Response {
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
