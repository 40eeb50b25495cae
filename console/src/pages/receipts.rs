//! The receipts page: a form to paste a user's receipt into, and what
//! checking it against the audit log found (as `lifeline-relay audit
//! verify-receipt` says it).

use lifeline_proto::receipt::Checked;
use maud::{Markup, html};

use super::{Viewer, csrf_field, layout};

/// What the form's receipt turned out to be.
#[derive(Debug)]
pub enum ReceiptResult<'a> {
    /// It could not be read as a receipt, and why.
    Unreadable(String),
    /// Checked: whose session it is, and what the check found.
    Checked {
        session: &'a str,
        technician: &'a str,
        started: &'a str,
        ended: &'a str,
        checked: &'a Checked,
    },
}

/// The form, with the last check's result above it.
pub fn receipts(v: &Viewer<'_>, result: Option<&ReceiptResult<'_>>) -> Markup {
    let body = html! {
        @match result {
            Some(ReceiptResult::Unreadable(why)) => {
                p.verdict.bad id="verdict" { "Not a receipt: " (why) }
            }
            Some(ReceiptResult::Checked { session, technician, started, ended, checked }) => {
                p id="summary" {
                    "Receipt of session " a href=(format!("/sessions/{session}")) { (session) }
                    " (technician " (technician) ", " (started) " to " (ended) "): "
                    (checked.named) " audit records named."
                }
                @if checked.named == 0 {
                    p.verdict.bad id="verdict" { "FAILED: it names no audit record to check." }
                } @else if checked.findings.is_empty() {
                    p.verdict.good id="verdict" {
                        "Verified: every record it names is in the audit log, unchanged."
                    }
                } @else {
                    div.verdict.bad id="verdict" {
                        "FAILED:"
                        ul { @for f in &checked.findings { li { (f) } } }
                    }
                }
                @if let Err(why) = &checked.chain {
                    p.bad id="chain" { "The audit log itself fails verification: " (why) }
                }
            }
            None => {}
        }
        p {
            "A user's receipt (" code { "Lifeline receipt ….txt" } ") names the relay's audit records "
            "of their session as the relay acknowledged them to their computer. Paste the whole file: "
            "each record it names must be in the log, unchanged."
        }
        form.receipt method="post" action="/receipts" {
            (csrf_field(v.csrf))
            textarea name="receipt" rows="14" cols="90" aria-label="The receipt's text" {}
            button type="submit" { "Check the receipt" }
        }
    };
    layout("Receipts", Some(v), None, body)
}
