//! Runs the [`ViewerUi`] with eframe (glow) on the main thread while the
//! session runs on the tokio runtime: the window's [`Action`]s carried out
//! on a [`Viewer`], and the session's state copied into the window each
//! frame.

use std::sync::{Arc, Mutex};

use eframe::egui;
use lifeline_proto::SessionCode;
use lifeline_session::messages::{InputEvent, Quality};

use super::{Action, Phase, ViewerUi};
use crate::session::{Status, Target, Viewer};
use crate::shown::shown;

/// The live connection behind the window, filled in by background tasks.
#[derive(Default)]
struct Link {
    status: Option<Status>,
    viewer: Option<Arc<Viewer>>,
    error: Option<String>,
    frames_seen: u64,
    /// Messages from the user, as the session hands them on.
    chats: Option<tokio::sync::broadcast::Receiver<String>>,
    /// How the last clipboard request went.
    notice: Option<String>,
}

struct App {
    ui: ViewerUi,
    ca: Option<std::path::PathBuf>,
    rt: tokio::runtime::Handle,
    link: Arc<Mutex<Link>>,
    input: Option<tokio::sync::mpsc::UnboundedSender<InputEvent>>,
    /// This computer's clipboard, kept open: on X11 the text copied from
    /// the user lives only as long as its owner.
    clipboard: Arc<Mutex<Option<arboard::Clipboard>>>,
    /// The technician's unattended folder, if not the default.
    unattended_dir: Option<std::path::PathBuf>,
    /// The device list as fetched, until the window takes it.
    devices: Arc<Mutex<Option<Fetched>>>,
}

/// The device list as the relay gave it, or why not.
type Fetched = Result<Vec<lifeline_proto::devices::DeviceEntry>, String>;

fn lock(l: &Mutex<Link>) -> std::sync::MutexGuard<'_, Link> {
    l.lock().unwrap_or_else(|e| e.into_inner())
}

impl App {
    /// Asks the relay for the enrolled devices; the list (or why not)
    /// shows in the form.
    fn list_devices(&mut self, ctx: &egui::Context, relay: String, token: String) {
        let (list, ctx2, ca) = (self.devices.clone(), ctx.clone(), self.ca.clone());
        self.ui.devices.error = Some("Asking the relay...".into());
        self.rt.spawn(async move {
            let got = lifeline_net::enroll::devices(&relay, ca.as_deref(), &token).await;
            *list.lock().unwrap_or_else(|e| e.into_inner()) = Some(match got {
                Ok(Ok(entries)) => Ok(entries),
                Ok(Err(refusal)) => Err(format!("the relay refused: {refusal}")),
                Err(e) => Err(e.to_string()),
            });
            ctx2.request_repaint();
        });
    }

    fn connect(&mut self, ctx: &egui::Context, relay: String, target: Target, token: String) {
        *lock(&self.link) = Link::default();
        self.ui.phase = Phase::Busy("Connecting to the relay...".into());
        let (link, ctx2, ca) = (self.link.clone(), ctx.clone(), self.ca.clone());
        let quality = self.ui.quality;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<InputEvent>();
        self.input = Some(tx);
        self.rt.spawn(async move {
            let status_link = link.clone();
            let status_ctx = ctx2.clone();
            let window = lifeline_net::reconnect::DEFAULT_WINDOW;
            let result =
                Viewer::connect_to(&relay, ca.as_deref(), &token, &target, window, move |s| {
                    lock(&status_link).status = Some(s);
                    status_ctx.request_repaint();
                })
                .await;
            match result {
                Ok(v) => {
                    if let Err(e) = v.set_quality(quality).await {
                        tracing::warn!(error = %e, "quality not sent");
                    }
                    let v = Arc::new(v);
                    lock(&link).viewer = Some(v.clone());
                    ctx2.request_repaint();
                    let mut changes = v.changes();
                    let v2 = v.clone();
                    tokio::spawn(async move {
                        while let Some(ev) = rx.recv().await {
                            if let Err(e) = v2.input(ev).await {
                                tracing::warn!(error = %e, "input not sent");
                                break;
                            }
                        }
                    });
                    while changes.changed().await.is_ok() {
                        ctx2.request_repaint();
                    }
                    ctx2.request_repaint();
                }
                Err(e) => {
                    lock(&link).error = Some(e.to_string());
                    ctx2.request_repaint();
                }
            }
        });
    }

    fn sync(&mut self, ctx: &egui::Context) {
        let fetched = self
            .devices
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        match fetched {
            Some(Ok(entries)) => {
                self.ui.devices.entries = Some(entries);
                self.ui.devices.error = None;
            }
            Some(Err(e)) => self.ui.devices.error = Some(shown(&e).into_owned()),
            None => {}
        }
        let mut link = lock(&self.link);
        if let Some(err) = link.error.take() {
            self.ui.phase = Phase::Ended(shown(&err).into_owned());
            return;
        }
        if let Some(v) = link.viewer.clone() {
            if let Some(reason) = v.ended() {
                self.ui.phase = Phase::Ended(shown(&reason).into_owned());
                link.viewer = None;
                link.chats = None;
                return;
            }
            self.ui.phase = Phase::Sharing(v.mode());
            self.ui.host = format!("{} ({})", shown(&v.host_name), shown(&v.os_user));
            self.ui.figures = v.figures();
            self.ui.cursor = v.cursor();
            self.ui.screens = v.screens();
            self.ui.withheld = *v.withheld().borrow();
            self.ui.hidden = v.hidden().borrow().clone();
            self.ui.transfer = v.progress().borrow().clone().filter(|p| p.bytes < p.of);
            let chats = link.chats.get_or_insert_with(|| v.chats());
            while let Ok(text) = chats.try_recv() {
                self.ui.chat_log.push((true, shown(&text).into_owned()));
            }
            if let Some(n) = link.notice.take() {
                self.ui.notice = Some(shown(&n).into_owned());
            }
            self.ui.reconnecting = v
                .reconnecting()
                .borrow()
                .as_deref()
                .map(|r| shown(r).into_owned());
            let n = *v.frames().borrow();
            if n != link.frames_seen {
                link.frames_seen = n;
                if let Some(img) = v.image() {
                    self.ui.set_screen(ctx, &img);
                }
            }
            // Keep the figures moving even when the screen is still.
            ctx.request_repaint_after(std::time::Duration::from_millis(500));
        } else if let (Phase::Busy(_), Some(s)) = (&self.ui.phase, &link.status) {
            self.ui.phase = Phase::Busy(match s {
                Status::Connecting => "Connecting to the relay...".into(),
                Status::AwaitingApproval(s) => {
                    format!("Waiting for an approver (at most {s} s)...")
                }
                Status::WaitingForUser => "Waiting for the user to allow...".into(),
                Status::Sharing(_) => "Starting...".into(),
                Status::Ended(r) => r.clone(),
            });
        }
    }
}

impl eframe::App for App {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        self.sync(&ctx);
        let actions = egui::CentralPanel::default()
            .show(ui, |ui| self.ui.show(ui))
            .inner;
        for action in actions {
            self.handle(&ctx, action);
        }
    }
}

impl App {
    /// Carries out what the technician asked for.
    fn handle(&mut self, ctx: &egui::Context, action: Action) {
        match action {
            Action::Connect {
                relay,
                code,
                token,
                reason,
            } => {
                self.connect(ctx, relay, Target::Code { code, reason }, token);
            }
            Action::ConnectDevice {
                relay,
                token,
                name,
                reason,
            } => match crate::org::device_target(&self.unattended_dir, &relay, &name, &reason) {
                Ok(t) => self.connect(ctx, relay, Target::Device(Box::new(t)), token),
                Err(e) => self.ui.phase = Phase::Ended(shown(&format!("{e:#}")).into_owned()),
            },
            Action::ListDevices { relay, token } => self.list_devices(ctx, relay, token),
            Action::Input(ev) => {
                if let Some(tx) = &self.input
                    && tx.send(ev).is_err()
                {
                    tracing::warn!("input dropped: session gone");
                }
            }
            Action::Quality(q) => {
                if let Some(v) = lock(&self.link).viewer.clone() {
                    self.rt.spawn(async move {
                        if let Err(e) = v.set_quality(q).await {
                            tracing::warn!(error = %e, "quality not sent");
                        }
                    });
                }
            }
            Action::CancelTransfers => {
                if let Some(v) = lock(&self.link).viewer.clone() {
                    v.cancel_transfers();
                }
            }
            Action::Show(showing) => self.with_viewer(move |v| async move {
                v.show(showing).await.err().map(|e| e.to_string())
            }),
            Action::Chat(text) => self.with_viewer(|v| async move {
                if let Err(e) = v.chat(&text).await {
                    tracing::warn!(error = %e, "message not sent");
                }
                None
            }),
            Action::Disconnect => {
                let viewer = lock(&self.link).viewer.take();
                self.input = None;
                if let Some(v) = viewer {
                    self.rt
                        .spawn(async move { v.disconnect("disconnected by the technician").await });
                }
                self.ui.phase = Phase::Ended("disconnected by the technician".into());
            }
            Action::Put(paths) => self.put(paths),
            Action::Get(remote) => self.get(remote),
            Action::ClipboardToHost => self.paste_to_remote(),
            Action::ClipboardFromHost => self.copy_from_remote(),
        }
    }

    /// Sends dropped files or folders; the outcome shows beside the
    /// toolkit's buttons.
    fn put(&self, paths: Vec<std::path::PathBuf>) {
        self.with_viewer(|v| async move {
            let mut said = Vec::new();
            for p in paths {
                said.push(match v.put(&p).await {
                    Ok(moved) => match &moved[..] {
                        [one] => format!("Sent {}: saved as {}", p.display(), one.path),
                        many => format!("Sent {} files from {}", many.len(), p.display()),
                    },
                    Err(e) => format!("{}: {e}", p.display()),
                });
            }
            Some(said.join("; "))
        });
    }

    /// Fetches the user's file into this computer's downloads.
    fn get(&self, remote: String) {
        self.with_viewer(|v| async move {
            let local = fetch_target(&remote);
            Some(match v.get(&remote, &local).await {
                Ok(m) => format!("Fetched {remote} into {}", m.path),
                Err(e) => format!("{remote}: {e}"),
            })
        });
    }

    /// This computer's clipboard text onto the user's.
    fn paste_to_remote(&self) {
        let clip = self.clipboard.clone();
        self.with_viewer(|v| async move {
            let text = tokio::task::spawn_blocking(move || local_clipboard(&clip, None))
                .await
                .unwrap_or_else(|e| Err(e.to_string()));
            Some(match text {
                Ok(Some(t)) => match v.clipboard_set(&t).await {
                    Ok(()) => format!("Pasted {} bytes to the remote clipboard", t.len()),
                    Err(e) => e.to_string(),
                },
                Ok(None) => "nothing to paste".into(),
                Err(e) => format!("this computer's clipboard: {e}"),
            })
        });
    }

    /// The user's clipboard text onto this computer's.
    fn copy_from_remote(&self) {
        let clip = self.clipboard.clone();
        self.with_viewer(|v| async move {
            Some(match v.clipboard_get().await {
                Ok(t) => {
                    let n = t.len();
                    let put = tokio::task::spawn_blocking(move || local_clipboard(&clip, Some(t)))
                        .await
                        .unwrap_or_else(|e| Err(e.to_string()));
                    match put {
                        Ok(_) => format!("Copied {n} bytes from the remote clipboard"),
                        Err(e) => format!("this computer's clipboard: {e}"),
                    }
                }
                Err(e) => e.to_string(),
            })
        });
    }
}

impl App {
    /// Runs `job` with the session, if there is one; its answer (if any)
    /// shows beside the clipboard buttons.
    fn with_viewer<F, Fut>(&self, job: F)
    where
        F: FnOnce(Arc<Viewer>) -> Fut,
        Fut: std::future::Future<Output = Option<String>> + Send + 'static,
    {
        let Some(v) = lock(&self.link).viewer.clone() else {
            return;
        };
        let link = self.link.clone();
        let fut = job(v);
        self.rt.spawn(async move {
            if let Some(notice) = fut.await {
                lock(&link).notice = Some(notice);
            }
        });
    }
}

/// Where a fetched file goes: this computer's `~/Downloads`, under the
/// remote file's name, never over an existing file.
fn fetch_target(remote: &str) -> std::path::PathBuf {
    let dir = lifeline_common::folders::this()
        .downloads()
        .unwrap_or_else(|| "Downloads".into());
    let name = std::path::Path::new(remote)
        .file_name()
        .map_or_else(|| "fetched".into(), std::path::PathBuf::from);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        tracing::warn!(error = %e, dir = %dir.display(), "cannot make the downloads folder");
    }
    // A link counts as taken, even one that leads nowhere.
    lifeline_session::files::unique_path(&dir, &name, |p| p.symlink_metadata().is_ok())
}

/// Reads (`put` is `None`) or sets this computer's clipboard text.
fn local_clipboard(
    clip: &Mutex<Option<arboard::Clipboard>>,
    put: Option<String>,
) -> Result<Option<String>, String> {
    let mut guard = clip.lock().unwrap_or_else(|e| e.into_inner());
    if guard.is_none() {
        *guard = Some(arboard::Clipboard::new().map_err(|e| e.to_string())?);
    }
    let Some(c) = guard.as_mut() else {
        return Ok(None);
    };
    match put {
        Some(text) => c.set_text(text).map(|()| None).map_err(|e| e.to_string()),
        None => match c.get_text() {
            Ok(t) => Ok(Some(t)),
            Err(arboard::Error::ContentNotAvailable) => Ok(None),
            Err(e) => Err(e.to_string()),
        },
    }
}

/// What the window connects to at once, from the command line.
#[derive(Debug, Clone, Default)]
pub struct Start {
    pub code: Option<String>,
    /// Why the technician connects (`--reason`; empty: none).
    pub reason: String,
    /// An enrolled device's name and the reason.
    pub device: Option<(String, String)>,
    /// The technician's unattended folder (default
    /// `~/.config/lifeline/unattended`).
    pub unattended_dir: Option<std::path::PathBuf>,
}

/// Opens the window and runs until it is closed. With a code or a device
/// given on the command line, it connects at once.
pub fn run(
    rt: tokio::runtime::Handle,
    relay: String,
    ca: Option<std::path::PathBuf>,
    token: String,
    start: Start,
    quality: Quality,
) -> Result<(), String> {
    let Start {
        code,
        reason,
        device,
        unattended_dir,
    } = start;
    let mut ui = ViewerUi::new(
        relay.clone(),
        code.clone().unwrap_or_default(),
        token.clone(),
    );
    ui.reason.clone_from(&reason);
    ui.quality = quality;
    let auto = code.as_deref().and_then(|c| c.parse::<SessionCode>().ok());
    if auto.is_some() || device.is_some() {
        ui.phase = Phase::Busy("Connecting to the relay...".into());
    }
    let options = eframe::NativeOptions {
        renderer: eframe::Renderer::Glow,
        viewport: egui::ViewportBuilder::default()
            .with_title("Lifeline viewer")
            .with_inner_size([1024.0, 700.0]),
        ..Default::default()
    };
    eframe::run_native(
        "Lifeline viewer",
        options,
        Box::new(move |cc| {
            let mut app = App {
                ui,
                ca,
                rt,
                link: Arc::default(),
                input: None,
                clipboard: Arc::default(),
                devices: Arc::default(),
                unattended_dir,
            };
            if let Some(code) = auto {
                app.connect(&cc.egui_ctx, relay, Target::Code { code, reason }, token);
            } else if let Some((name, reason)) = device {
                let go = Action::ConnectDevice {
                    relay,
                    token,
                    name,
                    reason,
                };
                app.handle(&cc.egui_ctx, go);
            }
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| format!("cannot open the window: {e}"))
}
