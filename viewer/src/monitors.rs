//! The host's monitors as the technician sees them: numbered from 1, one
//! shown at a time (the primary at first) or all at once.

use std::time::Duration;

use lifeline_session::messages::{MonitorInfo, Showing, ViewerMsg};

use crate::core::Reply;
use crate::session::{Viewer, ViewerError};

/// The host's monitors and which part of its screen is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Screens {
    pub monitors: Vec<MonitorInfo>,
    pub showing: Showing,
}

impl Screens {
    /// Whether monitor `i` (from 0) is the one shown; the primary counts
    /// when the primary is shown.
    pub fn is_shown(&self, i: usize) -> bool {
        match self.showing {
            Showing::Monitor(n) => usize::from(n) == i,
            Showing::Primary => self.primary() == Some(i),
            Showing::All => false,
        }
    }

    /// The primary monitor's place, or the first's.
    pub fn primary(&self) -> Option<usize> {
        let first = (!self.monitors.is_empty()).then_some(0);
        self.monitors.iter().position(|m| m.primary).or(first)
    }

    /// One line for each monitor, as `monitors` prints them.
    pub fn lines(&self) -> Vec<String> {
        let mut out: Vec<String> = (0..self.monitors.len()).map(|i| self.label(i)).collect();
        let all = if self.showing == Showing::All {
            "all: every monitor at once (shown)"
        } else {
            "all: every monitor at once"
        };
        out.push(all.into());
        out
    }

    /// `2: HDMI-1 1920×1080 at 1280,0 (primary) (shown)`.
    pub fn label(&self, i: usize) -> String {
        let Some(m) = self.monitors.get(i) else {
            return format!("{}: no such monitor", i + 1);
        };
        let mut s = format!(
            "{}: {} {}×{} at {},{}",
            i + 1,
            crate::shown::shown(&m.name),
            m.width,
            m.height,
            m.x,
            m.y
        );
        if m.primary {
            s.push_str(" (primary)");
        }
        if self.is_shown(i) {
            s.push_str(" (shown)");
        }
        s
    }
}

/// Reads what `monitor` takes: a number from 1, or `all`.
pub fn parse_choice(text: &str) -> Result<Showing, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("all") {
        return Ok(Showing::All);
    }
    match text.parse::<u16>() {
        Ok(n @ 1..=256) => u8::try_from(n - 1)
            .map(Showing::Monitor)
            .map_err(|_| format!("monitor takes a number from 1 or all, got {text:?}")),
        _ => Err(format!(
            "monitor takes a number from 1 (see monitors) or all, got {text:?}"
        )),
    }
}

/// How long the host has to switch.
const SWITCH_WAIT: Duration = Duration::from_secs(30);

impl Viewer {
    /// The host's monitors, once it has said (with its first frame).
    pub fn screens(&self) -> Option<Screens> {
        self.screens_rx().borrow().clone()
    }

    /// Shows another part of the host's screen; returns once the host has
    /// switched (the next frame is of it), or why it refused.
    pub async fn show(&self, showing: Showing) -> Result<Screens, ViewerError> {
        let mut screens = self.screens_rx();
        let now = screens.borrow().clone();
        if let Some(s) = now.filter(|s| s.showing == showing) {
            return Ok(s);
        }
        let refused = self.request(ViewerMsg::Show(showing)).await?;
        let switched = screens.wait_for(|s| s.as_ref().is_some_and(|s| s.showing == showing));
        tokio::select! {
            r = switched => match r {
                Ok(s) => s.clone().ok_or_else(|| self.ended_error()),
                Err(_) => Err(self.ended_error()),
            },
            reply = refused => match reply {
                Ok(Reply::Refused(why)) => Err(ViewerError::Refused(why)),
                Ok(_) => Err(ViewerError::Refused("unexpected answer".into())),
                Err(_) => Err(self.ended_error()),
            },
            () = tokio::time::sleep(SWITCH_WAIT) => Err(ViewerError::NoReply(SWITCH_WAIT.as_secs())),
        }
    }
}

/// Two monitors side by side, the right one primary, for tests.
#[cfg(test)]
pub(crate) fn sample(showing: Showing) -> Screens {
    let m = |name: &str, x, primary| MonitorInfo {
        name: name.into(),
        x,
        y: 0,
        width: 1280,
        height: 720,
        primary,
    };
    Screens {
        monitors: vec![m("DP-1", 0, false), m("HDMI-1", 1280, true)],
        showing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn screens(showing: Showing) -> Screens {
        sample(showing)
    }

    #[test]
    fn monitors_are_listed_from_one_with_the_shown_marked() {
        assert_eq!(
            screens(Showing::Primary).lines(),
            [
                "1: DP-1 1280×720 at 0,0",
                "2: HDMI-1 1280×720 at 1280,0 (primary) (shown)",
                "all: every monitor at once",
            ]
        );
        let all = screens(Showing::All).lines();
        assert_eq!(all[2], "all: every monitor at once (shown)");
        assert!(!all[1].contains("(shown)"));
        assert!(screens(Showing::Monitor(0)).lines()[0].ends_with("(shown)"));
    }

    #[test]
    fn choices_parse_from_one() {
        assert_eq!(parse_choice("1"), Ok(Showing::Monitor(0)));
        assert_eq!(parse_choice(" 2 "), Ok(Showing::Monitor(1)));
        assert_eq!(parse_choice("ALL"), Ok(Showing::All));
        assert_eq!(parse_choice("256"), Ok(Showing::Monitor(255)));
        for bad in ["0", "257", "-1", "left", ""] {
            assert!(
                parse_choice(bad).unwrap_err().contains("monitor takes"),
                "{bad}"
            );
        }
    }
}
