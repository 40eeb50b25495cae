//! What the console shows around a sign-in with the identity provider:
//! the step after the provider (a same-site hop, so the session cookie,
//! which is `SameSite=Strict`, is sent on the first page), and why a
//! sign-in was refused.

use maud::{Markup, html};

use super::layout;

/// Signed in: the browser goes on to the sessions at once (a meta
/// refresh: the console's pages run no scripts).
pub fn signed_in(name: &str) -> Markup {
    let body = html! {
        meta http-equiv="refresh" content="0;url=/sessions";
        p.good id="signed-in" { "Signed in as " (name) ". " a href="/sessions" { "Go on to the sessions" } "." }
    };
    layout("Signed in", None, None, body)
}

/// A sign-in that gave no session, and why; with the way back.
pub fn refused(why: &str) -> Markup {
    let body = html! {
        p.error id="error" { (why) }
        p { a href="/login" { "Back to the login page" } }
    };
    layout("Not signed in", None, None, body)
}
