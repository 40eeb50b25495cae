//! The question after a long stretch of control: go on? Chrome Remote
//! Desktop asks every 30 minutes; here the relay's operator sets how often
//! (`lifeline-relay serve --confirm-every`). No answer within a minute
//! ([`ANSWER_WITHIN`], the relay's policy may say otherwise) ends the
//! session: a user who walked away has not agreed to more. Pure: time is
//! passed in.

use std::time::{Duration, Instant};

/// How long the user has to answer, unless the policy says.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Not in control, or the policy never asks.
    Off,
    /// Ask at this instant.
    Due(Instant),
    /// Asked; the answer is needed by this instant.
    Asking(Instant),
}

/// What time brought.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Ask now: control has lasted `minutes`; `within_s` to answer.
    Ask { minutes: u64, within_s: u64 },
    /// Nobody answered in time: the session ends.
    Unanswered,
}

/// The continue question's clock for one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Confirm {
    every: Option<Duration>,
    within: Duration,
    stage: Stage,
    /// Since when the technician has had control.
    since: Option<Instant>,
}

impl Confirm {
    /// `every`: the relay's policy (`None` or zero: never ask).
    pub fn new(every: Option<Duration>) -> Self {
        Self::answer_within(every, ANSWER_WITHIN)
    }

    /// [`Confirm::new`], with `within` to answer (zero: [`ANSWER_WITHIN`]).
    pub fn answer_within(every: Option<Duration>, within: Duration) -> Self {
        Self {
            within: if within.is_zero() {
                ANSWER_WITHIN
            } else {
                within
            },
            every: every.filter(|d| !d.is_zero()),
            stage: Stage::Off,
            since: None,
        }
    }

    /// Control was granted now.
    pub fn start(&mut self, now: Instant) {
        self.since = Some(now);
        self.stage = self.every.map_or(Stage::Off, |e| Stage::Due(now + e));
    }

    /// Control ended (view only, or the session is over): no more asking.
    pub fn stop(&mut self) {
        self.stage = Stage::Off;
        self.since = None;
    }

    /// The user answered; whether a question was open.
    pub fn answer(&mut self, now: Instant, go_on: bool) -> bool {
        if !matches!(self.stage, Stage::Asking(_)) {
            return false;
        }
        match (go_on, self.every) {
            (true, Some(e)) => self.stage = Stage::Due(now + e),
            _ => self.stop(),
        }
        true
    }

    /// When [`Confirm::on_timeout`] wants to run.
    pub fn deadline(&self) -> Option<Instant> {
        match self.stage {
            Stage::Off => None,
            Stage::Due(t) | Stage::Asking(t) => Some(t),
        }
    }

    /// Time passed: ask, or give up on the answer.
    pub fn on_timeout(&mut self, now: Instant) -> Option<Step> {
        match self.stage {
            Stage::Due(t) if now >= t => {
                self.stage = Stage::Asking(now + self.within);
                let lasted = self.since.map_or(Duration::ZERO, |s| now - s);
                Some(Step::Ask {
                    minutes: lasted.as_secs().div_ceil(60),
                    within_s: self.within.as_secs(),
                })
            }
            Stage::Asking(t) if now >= t => {
                self.stop();
                Some(Step::Unanswered)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn asks_after_the_interval_and_again_after_a_yes() {
        let t0 = Instant::now();
        let mut c = Confirm::new(Some(30 * MIN));
        assert_eq!(c.deadline(), None, "not in control yet");
        c.start(t0);
        assert_eq!(c.deadline(), Some(t0 + 30 * MIN));
        assert_eq!(c.on_timeout(t0 + 29 * MIN), None);
        assert_eq!(
            c.on_timeout(t0 + 30 * MIN),
            Some(Step::Ask {
                minutes: 30,
                within_s: 60
            })
        );
        assert_eq!(c.deadline(), Some(t0 + 31 * MIN));
        assert!(c.answer(t0 + 30 * MIN + MIN / 2, true));
        assert_eq!(c.deadline(), Some(t0 + 60 * MIN + MIN / 2));
        assert!(!c.answer(t0 + 31 * MIN, true), "no question open");
    }

    #[test]
    fn no_answer_or_a_no_ends_it_and_never_asks_when_off() {
        let t0 = Instant::now();
        let mut c = Confirm::new(Some(MIN));
        c.start(t0);
        assert!(matches!(c.on_timeout(t0 + MIN), Some(Step::Ask { .. })));
        assert_eq!(
            c.on_timeout(t0 + MIN + ANSWER_WITHIN),
            Some(Step::Unanswered)
        );
        assert_eq!(c.deadline(), None);
        let mut c = Confirm::new(Some(MIN));
        c.start(t0);
        c.on_timeout(t0 + MIN);
        assert!(c.answer(t0 + MIN, false));
        assert_eq!(c.deadline(), None);
        let mut never = Confirm::new(Some(Duration::ZERO));
        never.start(t0);
        assert_eq!(never.deadline(), None);
        let mut viewed = Confirm::new(Some(MIN));
        viewed.start(t0);
        viewed.stop();
        assert_eq!(viewed.on_timeout(t0 + 2 * MIN), None);
        let mut quick = Confirm::answer_within(Some(MIN), Duration::from_secs(2));
        quick.start(t0);
        assert_eq!(
            quick.on_timeout(t0 + MIN),
            Some(Step::Ask {
                minutes: 1,
                within_s: 2
            })
        );
        assert_eq!(quick.deadline(), Some(t0 + MIN + Duration::from_secs(2)));
    }
}
