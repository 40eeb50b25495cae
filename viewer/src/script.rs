//! Headless scripts: one command a line, run in order.
//!
//! `wait-frame`, `wait-resumed` (until a lost link is back),
//! `screenshot PATH.png`, `move X Y`, `click [left|right|middle]`,
//! `type TEXT`, `key NAME` (e.g. `Return`, `ctrl+c`, `shift+Tab`),
//! `sleep MS`, `quit`, and the toolkit's `clipboard-set TEXT`,
//! `clipboard-get PATH`, `put PATH`, `get REMOTE LOCAL`, `chat TEXT`,
//! `monitors`, `monitor N|all`. Blank lines and lines starting with `#` are
//! skipped.

use std::path::PathBuf;
use std::time::Duration;

use lifeline_session::messages::{InputEvent, Key, MouseButton, Showing};
use tokio::sync::watch;

use crate::session::{Viewer, ViewerError};

/// One script command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    WaitFrame,
    /// Wait until the session has lost its link and is back (if it is
    /// reconnecting now, until it is back).
    WaitResumed,
    Screenshot(PathBuf),
    Move(u32, u32),
    Click(MouseButton),
    Type(String),
    Key(Vec<Key>),
    Sleep(u64),
    Quit,
    /// Put the text on the host's clipboard.
    ClipboardSet(String),
    /// Write the host's clipboard text to this file.
    ClipboardGet(PathBuf),
    /// Send the user a message.
    Chat(String),
    /// Send a file or folder to the user's download folder.
    Put(PathBuf),
    /// Fetch the user's file (first) into a local file (second).
    Get(String, PathBuf),
    /// List the host's monitors.
    Monitors,
    /// Show one monitor, or all.
    Monitor(Showing),
}

/// A line that is not a command, with its number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("script line {line}: {why}")]
pub struct ScriptError {
    pub line: usize,
    pub why: String,
}

/// Parses a whole script; the first bad line is an error.
pub fn parse(text: &str) -> Result<Vec<(usize, Command)>, ScriptError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_start();
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |why: String| ScriptError { line: i + 1, why };
        let (word, rest) = line.split_once(' ').unwrap_or((line.trim_end(), ""));
        let args = rest.trim();
        let cmd = match word {
            "wait-frame" => Command::WaitFrame,
            "wait-resumed" => Command::WaitResumed,
            "screenshot" if !args.is_empty() => Command::Screenshot(PathBuf::from(args)),
            "screenshot" => {
                return Err(bad(
                    "screenshot needs a file name, e.g. screenshot out.png".into()
                ));
            }
            "move" => {
                let nums: Vec<&str> = args.split_whitespace().collect();
                let parse = |s: &str| {
                    s.parse::<u32>()
                        .map_err(|_| bad(format!("move takes two whole numbers X Y, got {args:?}")))
                };
                match nums.as_slice() {
                    [x, y] => Command::Move(parse(x)?, parse(y)?),
                    _ => {
                        return Err(bad(format!(
                            "move takes two whole numbers X Y, got {args:?}"
                        )));
                    }
                }
            }
            "click" => Command::Click(match args {
                "" | "left" => MouseButton::Left,
                "right" => MouseButton::Right,
                "middle" => MouseButton::Middle,
                other => {
                    return Err(bad(format!(
                        "click takes left, right or middle, not {other:?}"
                    )));
                }
            }),
            // The text is the rest of the line as written (spaces kept).
            "type" => Command::Type(rest.to_owned()),
            "key" => Command::Key(Key::parse_chord(args).map_err(|e| bad(e.to_string()))?),
            "sleep" => Command::Sleep(
                args.parse()
                    .map_err(|_| bad(format!("sleep takes milliseconds, got {args:?}")))?,
            ),
            "quit" => Command::Quit,
            "clipboard-set" => Command::ClipboardSet(rest.to_owned()),
            "clipboard-get" if !args.is_empty() => Command::ClipboardGet(PathBuf::from(args)),
            "clipboard-get" => {
                return Err(bad(
                    "clipboard-get needs a file name, e.g. clipboard-get clip.txt".into(),
                ));
            }
            "put" if !args.is_empty() => Command::Put(PathBuf::from(args)),
            "put" => return Err(bad("put needs a file or folder, e.g. put setup.exe".into())),
            "get" => match args.split_whitespace().collect::<Vec<_>>().as_slice() {
                [remote, local] => Command::Get((*remote).to_owned(), PathBuf::from(local)),
                _ => {
                    return Err(bad(format!(
                        "get takes the user's file and where to save it, e.g. get /var/log/syslog syslog.txt; got {args:?}"
                    )));
                }
            },
            "monitors" if args.is_empty() => Command::Monitors,
            "monitors" => {
                return Err(bad(
                    "monitors takes nothing; to show one, use monitor N".into()
                ));
            }
            "monitor" => Command::Monitor(crate::monitors::parse_choice(args).map_err(bad)?),
            "chat" if !args.is_empty() => Command::Chat(rest.to_owned()),
            "chat" => {
                return Err(bad(
                    "chat needs a message, e.g. chat One moment please".into()
                ));
            }
            other => {
                return Err(bad(format!(
                    "unknown command {other:?}; use wait-frame, wait-resumed, screenshot, move, click, type, key, sleep, clipboard-set, clipboard-get, put, get, chat, monitors, monitor or quit"
                )));
            }
        };
        out.push((i + 1, cmd));
    }
    Ok(out)
}

/// What running a command did, for `--json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    Nothing,
    Saved(PathBuf),
    Quit,
    /// Files sent: where the user's machine saved each.
    Put(Vec<crate::files::Moved>),
    /// A file fetched, and where it is now.
    Got(crate::files::Moved),
    /// The host's monitors (`switched`: after `monitor`).
    Screens {
        screens: crate::monitors::Screens,
        switched: bool,
    },
    /// The clipboard was handed across (`path`: where the host's went).
    Clipboard {
        to_host: bool,
        bytes: usize,
        path: Option<PathBuf>,
    },
}

/// Runs one command against a connected viewer.
pub async fn run(viewer: &Viewer, cmd: &Command) -> Result<Done, ViewerError> {
    let press = |key: Key, down: bool| InputEvent::Key { key, down };
    match cmd {
        Command::WaitFrame => {
            viewer
                .settle(Duration::from_millis(250), Duration::from_secs(20))
                .await?
        }
        Command::WaitResumed => resumed(viewer).await?,
        Command::Screenshot(path) => {
            viewer.screenshot(path)?;
            return Ok(Done::Saved(path.clone()));
        }
        Command::Move(x, y) => viewer.input(InputEvent::Move { x: *x, y: *y }).await?,
        Command::Click(button) => {
            viewer
                .input(InputEvent::Button {
                    button: *button,
                    down: true,
                })
                .await?;
            viewer
                .input(InputEvent::Button {
                    button: *button,
                    down: false,
                })
                .await?;
        }
        Command::Type(text) => viewer.input(InputEvent::Text(text.clone())).await?,
        Command::Key(keys) => {
            for k in keys {
                viewer.input(press(*k, true)).await?;
            }
            for k in keys.iter().rev() {
                viewer.input(press(*k, false)).await?;
            }
        }
        Command::Sleep(ms) => pause(viewer, Duration::from_millis(*ms)).await?,
        Command::Quit => return Ok(Done::Quit),
        Command::ClipboardSet(text) => {
            viewer.clipboard_set(text).await?;
            return Ok(Done::Clipboard {
                to_host: true,
                bytes: text.len(),
                path: None,
            });
        }
        Command::ClipboardGet(path) => return clipboard_to_file(viewer, path).await,
        Command::Chat(text) => viewer.chat(text).await?,
        Command::Put(path) => return Ok(Done::Put(viewer.put(path).await?)),
        Command::Get(remote, local) => return Ok(Done::Got(viewer.get(remote, local).await?)),
        Command::Monitors => {
            return Ok(Done::Screens {
                screens: told_screens(viewer).await?,
                switched: false,
            });
        }
        Command::Monitor(showing) => {
            return Ok(Done::Screens {
                screens: viewer.show(*showing).await?,
                switched: true,
            });
        }
    }
    if let Some(reason) = viewer.ended() {
        return Err(ViewerError::Ended(reason));
    }
    Ok(Done::Nothing)
}

/// Waits `d`, failing as soon as the session ends.
async fn pause(viewer: &Viewer, d: Duration) -> Result<(), ViewerError> {
    let mut frames = viewer.frames();
    let sleep = tokio::time::sleep(d);
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            () = &mut sleep => return Ok(()),
            changed = frames.changed() => if changed.is_err() || viewer.ended().is_some() {
                return Err(ViewerError::Ended(viewer.ended().unwrap_or_else(|| "connection closed".into())));
            },
        }
    }
}

/// How long past the resume window `wait-resumed` waits: the loss is
/// noticed only after the link's idle timeout, and the last try to
/// reconnect may still be under way when the window closes.
const RESUME_MARGIN: Duration = Duration::from_secs(30);

/// Waits until the session has been interrupted and resumed, failing if it
/// ends instead or takes longer than the resume window and a margin.
async fn resumed(viewer: &Viewer) -> Result<(), ViewerError> {
    let limit = viewer.resume_window() + RESUME_MARGIN;
    let mut reconnecting = viewer.reconnecting();
    match tokio::time::timeout(limit, lost_and_back(&mut reconnecting)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(viewer.ended_error()),
        Err(_) => Err(ViewerError::NotResumed(limit.as_secs())),
    }
}

/// Waits for a lost link to be back: if it is reconnecting now, until it
/// is back; else until it is lost, then back. `Err` once the session is
/// over (the keeper, who sends, is gone).
async fn lost_and_back(
    reconnecting: &mut watch::Receiver<Option<String>>,
) -> Result<(), watch::error::RecvError> {
    reconnecting.borrow_and_update();
    loop {
        reconnecting.changed().await?;
        // "Back" is only ever said after a loss, so any change that reads
        // "back" ends the wait, even when the loss itself was not seen.
        if reconnecting.borrow_and_update().is_none() {
            return Ok(());
        }
    }
}

/// Saves the host's clipboard text to `path`.
async fn clipboard_to_file(viewer: &Viewer, path: &std::path::Path) -> Result<Done, ViewerError> {
    let text = viewer.clipboard_get().await?;
    std::fs::write(path, &text).map_err(|e| ViewerError::Save {
        path: path.display().to_string(),
        why: e.to_string(),
    })?;
    Ok(Done::Clipboard {
        to_host: false,
        bytes: text.len(),
        path: Some(path.to_path_buf()),
    })
}

/// The host's monitors, once it has said (with its first frame).
async fn told_screens(viewer: &Viewer) -> Result<crate::monitors::Screens, ViewerError> {
    let mut told = viewer.screens_rx();
    let wait = told.wait_for(Option::is_some);
    match tokio::time::timeout(Duration::from_secs(20), wait).await {
        Ok(Ok(s)) => s.clone().ok_or(ViewerError::NoFrame),
        Ok(Err(_)) => Err(ViewerError::Ended(viewer.ended().unwrap_or_default())),
        Err(_) => Err(ViewerError::NoFrame),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_parses() {
        let script = "# demo\nwait-frame\nwait-resumed\nscreenshot /tmp/a b.png\nmove 10 20\nclick\nclick right\n\ntype Hello, World! @#$\nkey ctrl+c\nkey Return\nsleep 50\nquit\n";
        let cmds: Vec<Command> = parse(script).unwrap().into_iter().map(|(_, c)| c).collect();
        assert_eq!(
            cmds,
            [
                Command::WaitFrame,
                Command::WaitResumed,
                Command::Screenshot("/tmp/a b.png".into()),
                Command::Move(10, 20),
                Command::Click(MouseButton::Left),
                Command::Click(MouseButton::Right),
                Command::Type("Hello, World! @#$".into()),
                Command::Key(vec![Key::Control, Key::Char('c')]),
                Command::Key(vec![Key::Return]),
                Command::Sleep(50),
                Command::Quit,
            ]
        );
    }

    #[test]
    fn bad_lines_are_named() {
        let cases = [
            ("move 1", 1, "two whole numbers"),
            ("wait-frame\nfly", 2, "unknown command \"fly\""),
            ("fly", 1, "use wait-frame, wait-resumed, screenshot"),
            ("click sideways", 1, "left, right or middle"),
            ("key hyper+x", 1, "unknown key"),
            ("sleep soon", 1, "milliseconds"),
            ("screenshot", 1, "needs a file name"),
            ("monitor 0", 1, "a number from 1"),
            ("monitor", 1, "a number from 1"),
            ("monitors 2", 1, "use monitor N"),
        ];
        for (text, line, msg) in cases {
            let e = parse(text).unwrap_err();
            assert_eq!(e.line, line, "{text}");
            assert!(e.to_string().contains(msg), "{e}");
        }
    }

    /// Runs `lost_and_back` from `start` while `steps` are sent, then
    /// drops the sender (the session is over): what the wait returned.
    async fn wait_through(start: Option<&str>, steps: &[Option<&str>]) -> Result<(), String> {
        let (tx, mut rx) = watch::channel(start.map(str::to_owned));
        let waiting = tokio::spawn(async move { lost_and_back(&mut rx).await });
        tokio::task::yield_now().await;
        for step in steps {
            tx.send_replace(step.map(str::to_owned));
            tokio::task::yield_now().await;
        }
        drop(tx);
        waiting.await.unwrap().map_err(|e| e.to_string())
    }

    #[tokio::test]
    async fn wait_resumed_waits_for_a_loss_then_the_resume() {
        // Live: the loss, then the resume.
        assert!(wait_through(None, &[Some("lost"), None]).await.is_ok());
        // Reconnecting already: the resume is enough.
        assert!(wait_through(Some("lost"), &[None]).await.is_ok());
        // A loss alone, then the session ends: not resumed.
        assert!(wait_through(None, &[Some("lost")]).await.is_err());
        // Nothing happens and the session ends: not resumed.
        assert!(wait_through(None, &[]).await.is_err());
        assert!(wait_through(Some("lost"), &[]).await.is_err());
    }

    #[tokio::test]
    async fn wait_resumed_sees_a_resume_whose_loss_it_missed() {
        let (tx, mut rx) = watch::channel(None::<String>);
        let mut waiting = Box::pin(lost_and_back(&mut rx));
        assert!(poll_once(waiting.as_mut()).await.is_none());
        // Lost and back before the waiter ran again: it reads only "back".
        tx.send_replace(Some("lost".into()));
        tx.send_replace(None);
        drop(tx);
        assert!(waiting.await.is_ok());
    }

    /// Polls a future once: its output if it is ready.
    async fn poll_once<F: std::future::Future + Unpin>(f: F) -> Option<F::Output> {
        let mut f = f;
        std::future::poll_fn(|cx| {
            std::task::Poll::Ready(match std::pin::Pin::new(&mut f).poll(cx) {
                std::task::Poll::Ready(v) => Some(v),
                std::task::Poll::Pending => None,
            })
        })
        .await
    }
}
