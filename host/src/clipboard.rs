//! The clipboard on a thread of its own: reading the X selection waits for
//! its owner's answer, and the owner (once we set it) must keep serving it,
//! so neither may stall the session. Opened on first use, so a desktop
//! without a clipboard costs nothing until the technician asks.

use std::sync::mpsc;
use std::thread;

use tokio::sync::oneshot;

use crate::platform::{ClipboardAccess, ClipboardError, ClipboardOpener};

enum Cmd {
    Get(oneshot::Sender<Result<String, ClipboardError>>),
    Set(String, oneshot::Sender<Result<(), ClipboardError>>),
}

/// Hands clipboard requests to the clipboard thread.
#[derive(Debug, Clone)]
pub struct ClipboardWorker {
    tx: mpsc::Sender<Cmd>,
}

impl ClipboardWorker {
    /// Starts the thread; the clipboard itself is opened on first use.
    pub fn start(open: ClipboardOpener) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel::<Cmd>();
        thread::Builder::new()
            .name("clipboard".into())
            .spawn(move || serve(open, &rx))?;
        Ok(Self { tx })
    }

    /// The clipboard's text.
    pub async fn get(&self) -> Result<String, ClipboardError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Cmd::Get(reply))
            .map_err(|_| ClipboardError::Stopped)?;
        answer.await.map_err(|_| ClipboardError::Stopped)?
    }

    /// Puts `text` on the clipboard.
    pub async fn set(&self, text: String) -> Result<(), ClipboardError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Cmd::Set(text, reply))
            .map_err(|_| ClipboardError::Stopped)?;
        answer.await.map_err(|_| ClipboardError::Stopped)?
    }
}

/// The thread: opens the clipboard when first asked (a failure is told to
/// every request, once opening failed), then answers requests in turn.
fn serve(open: ClipboardOpener, rx: &mpsc::Receiver<Cmd>) {
    let mut opener = Some(open);
    let mut clipboard: Option<Box<dyn ClipboardAccess>> = None;
    let mut failed: Option<String> = None;
    for cmd in rx {
        if clipboard.is_none()
            && failed.is_none()
            && let Some(open) = opener.take()
        {
            match open() {
                Ok(c) => clipboard = Some(c),
                Err(e) => failed = Some(e.to_string()),
            }
        }
        let unavailable = || match &failed {
            Some(why) => ClipboardError::Open(why.clone().into()),
            None => ClipboardError::Stopped,
        };
        match cmd {
            Cmd::Get(reply) => {
                let r = clipboard
                    .as_mut()
                    .map_or_else(|| Err(unavailable()), |c| c.get_text());
                let _ = reply.send(r);
            }
            Cmd::Set(text, reply) => {
                let r = clipboard
                    .as_mut()
                    .map_or_else(|| Err(unavailable()), |c| c.set_text(&text));
                let _ = reply.send(r);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Memory(Option<String>);

    impl ClipboardAccess for Memory {
        fn get_text(&mut self) -> Result<String, ClipboardError> {
            self.0.clone().ok_or(ClipboardError::Empty)
        }
        fn set_text(&mut self, text: &str) -> Result<(), ClipboardError> {
            self.0 = Some(text.to_owned());
            Ok(())
        }
    }

    #[tokio::test]
    async fn requests_are_answered_in_turn_and_a_failed_open_is_told() {
        let w = ClipboardWorker::start(Box::new(|| Ok(Box::new(Memory(None)) as _))).unwrap();
        assert!(matches!(w.get().await, Err(ClipboardError::Empty)));
        w.set("Grüße ✓".into()).await.unwrap();
        assert_eq!(w.get().await.unwrap(), "Grüße ✓");

        let broken =
            ClipboardWorker::start(Box::new(|| Err(ClipboardError::Open("no X server".into()))))
                .unwrap();
        for _ in 0..2 {
            let e = broken.get().await.unwrap_err();
            assert!(e.to_string().contains("no X server"), "{e}");
        }
    }
}
