//! Sentences the technician reads about the user's computer's own limits
//! (the window's overlay, the headless mode's lines, refusals), kept in
//! one place so they read alike everywhere.

use lifeline_session::messages::Withheld;

/// Over the dimmed picture while the host's screen is withheld.
pub fn withheld(why: Withheld) -> &'static str {
    match why {
        Withheld::SecureDesktop => {
            "The user's computer is showing a Windows security prompt (UAC or the Ctrl+Alt+Del screen). Windows does not let Lifeline show or control it; the picture comes back when the prompt closes."
        }
    }
}

/// What the technician is told when the user hides parts of the screen
/// (their private windows), or no longer does.
pub fn hidden(boxes: usize) -> String {
    match boxes {
        0 => "The user hides nothing from you now.".into(),
        1 => "The user hides a part of the screen from you: it is shown blank, and input there is dropped.".into(),
        n => format!("The user hides {n} parts of the screen from you: they are shown blank, and input there is dropped."),
    }
}

/// On each part of the picture the user hides.
pub const HIDDEN_BOX: &str = "hidden by the user";

/// Under [`withheld`]'s sentence in the window.
pub const WITHHELD_NO_INPUT: &str =
    "Your mouse and keyboard are not sent meanwhile: ask the user to answer the prompt.";

/// The headless mode's line when the screen may be shown again.
pub const SHOWN_AGAIN: &str = "The picture is back: the user's computer can be shown again.";

/// Why input was not sent while the screen is withheld.
pub const WITHHELD_INPUT: &str = "the user's computer is showing a Windows security prompt, which Windows lets no remote program control: input is not sent until it closes";

/// `lifeline-viewer login`: where to sign in, and the code to enter there.
pub fn sign_in_at(uri: &str, code: &str) -> String {
    format!("To sign in, open {uri} in a browser and enter the code {code}")
}

/// … the same page with the code filled in.
pub fn sign_in_link(uri: &str) -> String {
    format!("(or open {uri}, which has the code filled in)")
}

/// … while the relay waits for the provider.
pub fn sign_in_waiting(expires_in_s: u32) -> String {
    format!(
        "Waiting for you to sign in (the code works for {} minutes)…",
        expires_in_s.div_ceil(60)
    )
}

/// … once the relay issued the credential.
pub fn signed_in(name: &str, expires_in_s: u32, file: &std::path::Path) -> String {
    format!(
        "Signed in as {name}. Your credential works for {} hours and is kept in {} (lifeline-viewer uses it when you give no --token).",
        expires_in_s.div_ceil(3600),
        file.display()
    )
}

/// … when the relay said nothing by the time the code had expired.
pub const SIGN_IN_NO_ANSWER: &str =
    "the relay did not answer by the time the code expired; run `lifeline-viewer login` again";

/// … when the relay gave no code within a minute.
pub const SIGN_IN_NO_CODE: &str = "the relay gave no sign-in code within a minute (its identity provider may be slow or down); try again later";
