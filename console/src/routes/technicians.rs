//! The technicians page: who may connect (tokens, and credentials from
//! signing in with the identity provider, with the subject they are bound
//! to), when each last did, adding one (its token shown once) and
//! revoking one, which ends their live sessions at once; admins only,
//! each change audited before it is made.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Authed, C, CsrfForm, failure, html, on_index};
use crate::Console;
use crate::pages::{self, TechnicianRow};

async fn technician_rows(c: &Arc<Console>) -> Result<Vec<TechnicianRow>, Response> {
    let list = c.technicians.list().map_err(|e| {
        failure(
            None,
            StatusCode::INTERNAL_SERVER_ERROR,
            "Technicians unreadable",
            &e.to_string(),
        )
    })?;
    let live = |name: &str| c.relay.as_ref().map_or(0, |r| r.sessions_of(name));
    let lives: Vec<usize> = list.iter().map(|t| live(&t.name)).collect();
    let now = std::time::SystemTime::now();
    on_index(c, move |_, idx| {
        Ok(list
            .into_iter()
            .zip(lives)
            .map(|(t, live)| TechnicianRow {
                last_use: idx.last_use(&t.name).map(str::to_owned),
                expired: t.expired(now),
                name: t.name,
                added: t.created,
                revoked: t.revoked,
                expires: t.expires,
                subject: t.identity.map(|i| i.subject),
                live,
            })
            .collect())
    })
    .await
}

/// Runs a change to the store off the async threads (it waits for the
/// store's lock while a sign-in holds it); its error as words.
async fn on_blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, lifeline_relay_core::tokens::TokenError> + Send + 'static,
) -> Result<T, String> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

pub(super) async fn technicians(State(c): C, a: Authed) -> Response {
    match technician_rows(&c).await {
        Ok(rows) => html(
            StatusCode::OK,
            pages::technicians(&a.viewer(), &rows, None, None),
        ),
        Err(r) => r,
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct AddForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    csrf: String,
}

pub(super) async fn add_technician(
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
    let (store, n) = (c.technicians.clone(), name.clone());
    let token = match on_blocking(move || store.add(&n)).await {
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

pub(super) async fn revoke_technician(
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
    let (store, n) = (c.technicians.clone(), name.clone());
    if let Err(e) = on_blocking(move || store.revoke(&n)).await {
        a.action(c, "failed", Some(format!("revoke technician {name}: {e}")))
            .await?;
        let rows = technician_rows(c).await?;
        return Err(html(
            StatusCode::BAD_REQUEST,
            pages::technicians(&a.viewer(), &rows, None, Some(&e.to_string())),
        ));
    }
    // Their sessions end now, not when they next join.
    if let Some(relay) = &c.relay {
        let live = relay.sessions_of(&name);
        if live > 0 {
            a.action(c, "sessions_ended", Some(format!("{name}: {live}")))
                .await?;
            relay.end_sessions_of(&name);
        }
    }
    Ok(Redirect::to("/technicians").into_response())
}
