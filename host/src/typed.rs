//! What the user says, as the agent receives it ([`Lines`]): lines typed
//! at the terminal, read on a thread of their own, and the window's
//! presses, in one channel. Nothing said before a question answers it:
//! when a question is asked ([`Lines::fresh`]) everything waiting in the
//! channel is dropped, a terminal's unread input is flushed, and a line
//! whose first byte was read before the question is dropped when it ends
//! ([`Fresh`], an epoch the reader compares). So a `y` typed (or piped)
//! before a technician joined never becomes the answer to a later question.

use std::io::BufRead;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;

use crate::prompt::Said;

/// Counts the questions asked; a line started under an older count is
/// stale.
#[derive(Debug, Clone, Default)]
pub struct Fresh(Arc<AtomicU64>);

impl Fresh {
    fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    fn bump(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// What the user says: typed lines (the answer to the question, Enter for
/// a new code, a message) or the window's buttons; `None` once input is
/// closed.
#[derive(Debug)]
pub struct Lines {
    rx: mpsc::UnboundedReceiver<Said>,
    fresh: Fresh,
}

impl Lines {
    /// Lines from `rx`, which [`read_stdin`] (given `fresh`) and the
    /// window fill.
    pub fn new(rx: mpsc::UnboundedReceiver<Said>, fresh: Fresh) -> Self {
        Self { rx, fresh }
    }

    /// The next thing said; `None` once input is closed.
    pub async fn recv(&mut self) -> Option<Said> {
        self.rx.recv().await
    }

    /// A question is about to be asked: whatever was said before it is
    /// dropped (waiting in the channel, unread at the terminal, or a line
    /// under way); how many were dropped.
    pub fn fresh(&mut self) -> usize {
        self.fresh.bump();
        crate::terminal::flush_typed_ahead();
        let mut dropped = 0;
        while self.rx.try_recv().is_ok() {
            dropped += 1;
        }
        if dropped > 0 {
            tracing::info!(dropped, "input said before the question was dropped");
        }
        dropped
    }
}

/// Reads lines typed at the terminal into `tx` on a thread of its own; a
/// line whose first byte came before the latest question is dropped. The
/// channel closes at the end of input.
pub fn read_stdin(tx: mpsc::UnboundedSender<Said>, fresh: Fresh) {
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        read_lines(stdin.lock(), &tx, &fresh);
    });
}

/// The reader's loop over `input` (any reader, for tests). A line's age
/// is that of the read that brought its first byte, not of when it is
/// taken from the buffer.
fn read_lines(mut input: impl BufRead, tx: &mpsc::UnboundedSender<Said>, fresh: &Fresh) {
    let mut line = Vec::new();
    let mut began = fresh.now();
    // When the bytes in the reader's buffer were read: a line read but
    // not yet taken when a question is asked is as stale as one typed.
    let mut read_at = began;
    let mut buffered = false;
    loop {
        let chunk = match input.fill_buf() {
            Ok([]) | Err(_) => return,
            Ok(c) => c,
        };
        if !buffered {
            read_at = fresh.now();
        }
        if line.is_empty() {
            began = read_at;
        }
        let (taken, ended) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        buffered = taken < chunk.len();
        line.extend_from_slice(&chunk[..taken]);
        input.consume(taken);
        if !ended {
            continue;
        }
        let text = String::from_utf8_lossy(&line)
            .trim_end_matches(['\n', '\r'])
            .to_owned();
        line.clear();
        if began != fresh.now() {
            tracing::info!("a line begun before the question was dropped");
            continue;
        }
        if tx.send(Said::Line(text)).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out one chunk at a time and, as it starts on
    /// the second, bumps `fresh`: a question asked while a line is typed.
    struct Slow<'a> {
        chunks: Vec<Vec<u8>>,
        fresh: &'a Fresh,
        at: usize,
    }

    impl std::io::Read for Slow<'_> {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            unreachable!("read through BufRead")
        }
    }

    impl BufRead for Slow<'_> {
        fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
            while self.chunks.first().is_some_and(Vec::is_empty) {
                self.chunks.remove(0);
                self.at += 1;
                if self.at == 1 {
                    self.fresh.bump();
                }
            }
            Ok(self.chunks.first().map_or(&[][..], Vec::as_slice))
        }

        fn consume(&mut self, n: usize) {
            if let Some(c) = self.chunks.first_mut() {
                c.drain(..n);
            }
        }
    }

    #[test]
    fn a_line_begun_before_a_question_is_dropped_one_begun_after_is_kept() {
        let fresh = Fresh::default();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let slow = Slow {
            chunks: vec![b"y".to_vec(), b"es\n".to_vec(), b"c\r\n".to_vec()],
            fresh: &fresh,
            at: 0,
        };
        read_lines(slow, &tx, &fresh);
        drop(tx);
        assert_eq!(rx.try_recv(), Ok(Said::Line("c".into())));
        assert!(rx.try_recv().is_err(), "the stale `yes` was dropped");
    }

    /// A reader whose first read brings two lines; the question is asked
    /// as the first is taken, before the second is.
    struct TwoAtOnce<'a> {
        chunks: Vec<Vec<u8>>,
        fresh: &'a Fresh,
        asked: bool,
    }

    impl std::io::Read for TwoAtOnce<'_> {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            unreachable!("read through BufRead")
        }
    }

    impl BufRead for TwoAtOnce<'_> {
        fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
            while self.chunks.first().is_some_and(Vec::is_empty) {
                self.chunks.remove(0);
            }
            Ok(self.chunks.first().map_or(&[][..], Vec::as_slice))
        }

        fn consume(&mut self, n: usize) {
            if let Some(c) = self.chunks.first_mut() {
                c.drain(..n);
            }
            if !self.asked {
                self.asked = true;
                self.fresh.bump();
            }
        }
    }

    #[test]
    fn a_line_read_before_a_question_but_taken_after_is_dropped() {
        let fresh = Fresh::default();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let two = TwoAtOnce {
            chunks: vec![b"y\nc\n".to_vec(), b"v\n".to_vec()],
            fresh: &fresh,
            asked: false,
        };
        read_lines(two, &tx, &fresh);
        drop(tx);
        assert_eq!(rx.try_recv(), Ok(Said::Line("v".into())));
        assert!(rx.try_recv().is_err(), "the stale `y` and `c` were dropped");
    }

    #[tokio::test]
    async fn what_waits_when_a_question_is_asked_is_dropped() {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut lines = Lines::new(rx, Fresh::default());
        tx.send(Said::Line("y".into())).unwrap();
        tx.send(Said::NewCode).unwrap();
        assert_eq!(lines.fresh(), 2);
        tx.send(Said::Line("n".into())).unwrap();
        assert_eq!(lines.recv().await, Some(Said::Line("n".into())));
        drop(tx);
        assert_eq!(lines.fresh(), 0);
        assert_eq!(lines.recv().await, None, "closed stays closed");
    }
}
