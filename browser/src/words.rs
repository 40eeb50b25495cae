//! Every sentence the browser viewer's Rust side says to the technician
//! (the page's own are in `web/viewer.js`'s `WORDS`).

/// Input typed while the user at the host allowed view only.
pub const VIEW_ONLY: &str = "the user allowed view only: input is not sent";
