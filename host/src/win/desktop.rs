//! Which desktop has the input (pure, tested on Linux): the user's own
//! (`Default`) can be captured and driven; any other (`Winlogon`: a UAC
//! prompt, the Ctrl+Alt+Del screen, the lock screen) cannot by a
//! user-level program, and neither can one we may not even open.

use lifeline_session::messages::Withheld;

/// Why the screen is withheld, given the input desktop's name (`None`
/// when it could not be opened or named).
pub fn withheld(input_desktop: Option<&str>) -> Option<Withheld> {
    match input_desktop {
        Some(name) if name.eq_ignore_ascii_case("Default") => None,
        _ => Some(Withheld::SecureDesktop),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_users_own_desktop_is_shown() {
        assert_eq!(withheld(Some("Default")), None);
        assert_eq!(withheld(Some("default")), None);
        assert_eq!(withheld(Some("Winlogon")), Some(Withheld::SecureDesktop));
        assert_eq!(
            withheld(Some("Screen-saver")),
            Some(Withheld::SecureDesktop)
        );
        assert_eq!(withheld(None), Some(Withheld::SecureDesktop));
    }
}
