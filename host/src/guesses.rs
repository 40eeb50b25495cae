//! How many wrong codes one run of the host takes (pure): each wrong code
//! is one guess at the secret digits by whoever joined (a technician who
//! mistyped, or a hostile relay posing as one). After a wrong code the
//! host offers no code until the user asks for a new one, not sooner than
//! a backoff after the wrong one; after [`MAX_WRONG_CODES`] it stops for
//! good in this run. So one host run gives at most three guesses, each
//! at a one-in-a-million secret. Time is passed in.

use std::time::{Duration, Instant};

/// Wrong codes one run takes; the last one stops the run.
pub const MAX_WRONG_CODES: u32 = 3;

/// The least time between a wrong code and the next code, by how many
/// wrong codes came so far (1, 2).
pub const BACKOFF: [Duration; 2] = [Duration::from_secs(3), Duration::from_secs(10)];

/// What follows a wrong code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterWrong {
    /// Ask the user whether to get a new code; `left` wrong codes more
    /// are taken before the run stops.
    Ask { left: u32 },
    /// That was the last one: the run stops.
    Stop,
}

/// The wrong codes of one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WrongCodes {
    count: u32,
    last: Option<Instant>,
}

impl WrongCodes {
    /// A wrong code came at `now`.
    pub fn wrong(&mut self, now: Instant) -> AfterWrong {
        self.count = self.count.saturating_add(1);
        self.last = Some(now);
        if self.count >= MAX_WRONG_CODES {
            AfterWrong::Stop
        } else {
            AfterWrong::Ask {
                left: MAX_WRONG_CODES - self.count,
            }
        }
    }

    /// How many wrong codes came so far.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The earliest instant a new code may be asked of the relay.
    pub fn next_code_at(&self) -> Option<Instant> {
        let last = self.last?;
        let i = usize::try_from(self.count.saturating_sub(1)).unwrap_or(usize::MAX);
        let wait = BACKOFF.get(i).or(BACKOFF.last()).copied()?;
        Some(last + wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_wrong_codes_stop_the_run_with_a_growing_wait_between() {
        let t0 = Instant::now();
        let mut w = WrongCodes::default();
        assert_eq!(w.next_code_at(), None, "no wrong code, no wait");
        assert_eq!(w.wrong(t0), AfterWrong::Ask { left: 2 });
        assert_eq!(w.next_code_at(), Some(t0 + BACKOFF[0]));
        let t1 = t0 + Duration::from_secs(60);
        assert_eq!(w.wrong(t1), AfterWrong::Ask { left: 1 });
        assert_eq!(w.next_code_at(), Some(t1 + BACKOFF[1]));
        assert!(BACKOFF[1] > BACKOFF[0]);
        assert_eq!(w.wrong(t1 + BACKOFF[1]), AfterWrong::Stop);
        assert_eq!(w.count(), MAX_WRONG_CODES);
        // And stays stopped.
        assert_eq!(w.wrong(t1 + BACKOFF[1]), AfterWrong::Stop);
    }
}
