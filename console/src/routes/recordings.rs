//! A session's recording: its facts (sealed, fetched, expired) from the
//! session's records, and its download, audited before a byte is sent.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use lifeline_proto::audit::AuditEvent;

use super::sessions::session_records;
use super::{Authed, C, CsrfForm, audit, failure, html};
use crate::Console;
use crate::pages::{self, RecordingMeta};

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

pub(super) async fn recording(State(c): C, a: Authed, Path(id): Path<String>) -> Response {
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

pub(super) async fn download(
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
