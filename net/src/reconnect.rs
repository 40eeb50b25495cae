//! Getting a lost session back: how long to wait between attempts (pure,
//! [`Backoff`]) and the loop that retries a resume until it works, is
//! refused, or the resume window passes ([`retry`]).

use std::future::Future;
use std::time::{Duration, Instant};

use crate::client::ClientError;

/// How long the host and viewer keep trying to resume, unless told.
pub const DEFAULT_WINDOW: Duration = lifeline_proto::control::RESUME_WINDOW;

/// Connecting may take this long in one attempt: a relay that is down
/// answers nothing, and waiting for QUIC's own handshake timeout would
/// delay the attempt that follows the relay's return. (Waiting at the
/// relay for the other side is bounded by the window alone.)
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(1500);

/// Delays between attempts: 100 ms doubling to at most 1 s, so a relay
/// back after a restart is found within about a second, and a relay that
/// stays away gets one attempt a second a client.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    deadline: Instant,
}

const FIRST: Duration = Duration::from_millis(100);
const MOST: Duration = Duration::from_secs(1);

impl Backoff {
    /// Attempts may go on until `now + window`.
    pub fn new(now: Instant, window: Duration) -> Self {
        Self {
            next: FIRST,
            deadline: now + window,
        }
    }

    /// How long to wait before the next attempt, or `None` when the window
    /// is over (the last wait ends at the deadline).
    pub fn next_delay(&mut self, now: Instant) -> Option<Duration> {
        let left = self.deadline.checked_duration_since(now)?;
        if left.is_zero() {
            return None;
        }
        let d = self.next.min(left);
        self.next = (self.next * 2).min(MOST);
        Some(d)
    }

    /// When the window ends.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

/// Runs `attempt` until it succeeds, fails in a way no retry mends (the
/// relay refused the resume), or the window that began at `since` passes
/// (an attempt still waiting then is cut short).
pub async fn retry<T, F, Fut>(
    since: Instant,
    window: Duration,
    mut attempt: F,
) -> Result<T, ClientError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ClientError>>,
{
    let mut backoff = Backoff::new(since, window);
    loop {
        let left = backoff.deadline().saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, attempt()).await {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(e)) if !e.resumable() => return Err(e),
            Ok(Err(e)) => tracing::debug!(error = %e, "resume attempt failed; retrying"),
            Err(_) => tracing::debug!("resume attempt timed out; retrying"),
        }
        match backoff.next_delay(Instant::now()) {
            Some(d) => tokio::time::sleep(d).await,
            None => return Err(ClientError::ResumeGaveUp(window.as_secs())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_to_a_second_and_stop_at_the_window() {
        let t0 = Instant::now();
        let mut b = Backoff::new(t0, Duration::from_secs(3));
        let ms: Vec<u128> = (0..6)
            .map(|_| b.next_delay(t0).unwrap().as_millis())
            .collect();
        assert_eq!(ms, [100, 200, 400, 800, 1000, 1000]);
        let late = t0 + Duration::from_millis(2950);
        assert_eq!(b.next_delay(late), Some(Duration::from_millis(50)));
        assert_eq!(b.next_delay(t0 + Duration::from_secs(3)), None);
        assert_eq!(b.next_delay(t0 + Duration::from_secs(4)), None);
    }

    #[tokio::test]
    async fn a_refusal_stops_at_once_and_a_lost_link_is_retried() {
        let mut tries = 0;
        let r: Result<(), _> = retry(Instant::now(), Duration::from_secs(5), || {
            tries += 1;
            let n = tries;
            async move {
                if n < 3 {
                    Err(ClientError::Lost("gone".into()))
                } else {
                    Err(ClientError::ResumeRefused(
                        lifeline_proto::control::ResumeRefusal::Ended,
                    ))
                }
            }
        })
        .await;
        assert!(matches!(r, Err(ClientError::ResumeRefused(_))));
        assert_eq!(tries, 3);
    }
}
