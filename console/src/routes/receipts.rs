//! A user's receipt checked against the audit log in the browser, as
//! `lifeline-relay audit verify-receipt` does: pasted into a form (at
//! most [`MAX_RECEIPT_BODY`]), each record it names looked up in the
//! log, unchanged and of that session. Checking changes nothing, so it is
//! not audited; any role may. Each check reads the whole log: at most
//! [`MAX_CHECKS`] run at once, whoever asks.

use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use lifeline_proto::receipt::{self, Receipt};
use serde::Deserialize;

use super::{Authed, C, failure, html};
use crate::pages::receipts::{ReceiptResult, receipts};

/// The largest request to `/receipts` (a receipt's text, form-encoded).
pub const MAX_RECEIPT_BODY: usize = 4 << 20;

/// Receipt checks running at once.
pub const MAX_CHECKS: usize = 2;

static CHECKS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(MAX_CHECKS);

#[derive(Debug, Deserialize)]
pub(super) struct ReceiptForm {
    csrf: String,
    receipt: String,
}

pub(super) async fn receipt_page(a: Authed) -> Response {
    html(StatusCode::OK, receipts(&a.viewer(), None))
}

pub(super) async fn check_receipt(
    State(c): C,
    a: Authed,
    Form(f): Form<ReceiptForm>,
) -> Result<Response, Response> {
    a.check_csrf(&c, &f.csrf, "check receipt").await?;
    // Held by the read itself: a client that leaves does not free it.
    let Ok(slot) = CHECKS.try_acquire() else {
        return Err(failure(
            Some(&a.viewer()),
            StatusCode::SERVICE_UNAVAILABLE,
            "Busy",
            "Other receipt checks are running; try again in a moment.",
        ));
    };
    let r = match Receipt::from_text(&f.receipt) {
        Ok(r) => r,
        Err(e) => {
            let result = ReceiptResult::Unreadable(e.to_string());
            return Ok(html(
                StatusCode::BAD_REQUEST,
                receipts(&a.viewer(), Some(&result)),
            ));
        }
    };
    let path = lifeline_relay_core::audit::log_path(&c.dir);
    let checking = r.clone();
    let checked = tokio::task::spawn_blocking(move || {
        let checked = std::fs::read_to_string(&path).map(|log| receipt::check(&checking, &log));
        drop(slot);
        checked
    })
    .await;
    let checked = match checked {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            return Err(failure(
                Some(&a.viewer()),
                StatusCode::INTERNAL_SERVER_ERROR,
                "Check failed",
                &format!("cannot read the audit log: {e}"),
            ));
        }
        Err(e) => {
            return Err(failure(
                Some(&a.viewer()),
                StatusCode::INTERNAL_SERVER_ERROR,
                "Check failed",
                &e.to_string(),
            ));
        }
    };
    let result = ReceiptResult::Checked {
        session: &r.session,
        technician: &r.technician,
        started: &r.started,
        ended: &r.ended,
        checked: &checked,
    };
    let status = if checked.findings.is_empty() && checked.named > 0 {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(html(status, receipts(&a.viewer(), Some(&result))))
}
