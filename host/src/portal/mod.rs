//! Wayland desktops through xdg-desktop-portal (GNOME, KDE, and any
//! desktop with a portal): the ScreenCast portal's PipeWire streams for
//! pixels, the RemoteDesktop portal for pointer and keyboard, in one portal
//! session so the user answers one dialog.
//!
//! The portal asks the user itself. That dialog comes only after the user
//! said yes in Lifeline: opening the backend only checks that the portal
//! is there, and the portal session starts at the first grab (or input
//! event), which the host makes once sharing began. The user was told
//! what the second dialog is just before. The restore token of the last
//! session (see [`token`]) lets the desktop skip its dialog when the user
//! allowed it to remember.

mod calls;
mod cast;
mod params;
mod stream;
pub mod token;

use std::sync::{Arc, Mutex, MutexGuard};

use lifeline_session::messages::{InputEvent, MonitorInfo};
use lifeline_session::screen::Image;

use crate::platform::{CaptureError, Grab, InputError, InputSink, ScreenSource, Wake};

/// What went wrong with the portal; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    #[error(
        "this desktop has no screen-sharing portal ({0}): install xdg-desktop-portal and your desktop's portal (xdg-desktop-portal-gnome, -kde or -wlr) and log in again, or use --backend wlroots or x11"
    )]
    NoPortal(#[source] Box<ashpd::Error>),
    #[error(
        "the desktop's screen-sharing dialog was cancelled, so nothing is shared: start again and choose Share in that dialog"
    )]
    Cancelled,
    #[error("the desktop's portal failed while {step}: {source}")]
    Failed {
        step: &'static str,
        #[source]
        source: Box<ashpd::Error>,
    },
    #[error("the desktop's portal shared no screen: choose at least one screen in its dialog")]
    NoStreams,
    #[error(
        "this desktop's portal cannot take remote input (it has no RemoteDesktop portal; xdg-desktop-portal-wlr has none): the technician can watch but not control; on sway, Hyprland or river use --backend wlroots"
    )]
    NoRemoteInput,
    #[error("PipeWire: {0}")]
    PipeWire(#[from] pipewire::Error),
    #[error("cannot build the PipeWire stream's parameters")]
    Params,
    #[error("the desktop's screen stream did not start within 10 s")]
    NoPicture,
    #[error("cannot start the portal's threads: {0}")]
    Thread(#[source] std::io::Error),
    #[error("{0}")]
    Earlier(Arc<PortalError>),
}

/// The shared portal session, once started.
#[derive(Debug)]
struct Started {
    streams: stream::Streams,
    held: cast::Held,
}

/// What both the screen and the input side hold: one runtime for the
/// portal's D-Bus calls, one portal session.
#[derive(Debug)]
struct Inner {
    rt: tokio::runtime::Runtime,
    remote: bool,
    started: Mutex<Option<Result<Arc<Started>, Arc<PortalError>>>>,
}

/// The portal, shared by the screen and input openers; it connects when
/// the first of them opens.
#[derive(Debug, Clone, Default)]
pub struct Portal(Arc<Mutex<Option<Arc<Inner>>>>);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Portal {
    /// Connects to the portal (once): fails when the desktop has none.
    fn inner(&self) -> Result<Arc<Inner>, PortalError> {
        let mut slot = lock(&self.0);
        if let Some(inner) = slot.as_ref() {
            return Ok(inner.clone());
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("portal")
            .enable_all()
            .build()
            .map_err(PortalError::Thread)?;
        let remote = rt.block_on(cast::probe())?;
        let inner = Arc::new(Inner {
            rt,
            remote,
            started: Mutex::new(None),
        });
        *slot = Some(inner.clone());
        Ok(inner)
    }

    /// The screen side; checks the portal is there.
    pub fn screen(&self) -> Result<PortalScreen, CaptureError> {
        let inner = self.inner().map_err(|e| CaptureError::Open {
            display: std::env::var("WAYLAND_DISPLAY").unwrap_or_default(),
            source: Box::new(e),
        })?;
        Ok(PortalScreen {
            inner,
            started: None,
            wake: None,
        })
    }

    /// The input side; checks the portal is there.
    pub fn input(&self) -> Result<PortalInput, InputError> {
        let inner = self.inner().map_err(|e| InputError::Open(Box::new(e)))?;
        Ok(PortalInput {
            inner,
            started: None,
            told: false,
        })
    }
}

impl Inner {
    /// The portal session: started (the desktop's dialog) by whichever
    /// side needs it first; a refusal is remembered, never asked twice.
    fn start(&self) -> Result<Arc<Started>, PortalError> {
        let mut slot = lock(&self.started);
        if let Some(done) = slot.as_ref() {
            return done.clone().map_err(PortalError::Earlier);
        }
        let result = self.start_now().map(Arc::new).map_err(Arc::new);
        *slot = Some(result.clone());
        result.map_err(PortalError::Earlier)
    }

    fn start_now(&self) -> Result<Started, PortalError> {
        let restore = token::load();
        let granted = self
            .rt
            .block_on(cast::start(restore.as_deref(), self.remote))?;
        if let Some(t) = &granted.restore_token {
            match token::save(t) {
                Ok(path) => {
                    tracing::info!(path = %path.display(), "kept the portal's restore token")
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot keep the portal's restore token; the desktop will ask again next time")
                }
            }
        }
        let streams = stream::start(granted.fd, granted.streams, granted.cursor_metadata)?;
        Ok(Started {
            streams,
            held: granted.held,
        })
    }
}

/// The screens the portal shares.
pub struct PortalScreen {
    inner: Arc<Inner>,
    started: Option<Arc<Started>>,
    /// Handed to the layout once it exists.
    wake: Option<Wake>,
}

impl std::fmt::Debug for PortalScreen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortalScreen")
            .field("started", &self.started.is_some())
            .finish()
    }
}

impl PortalScreen {
    fn started(&mut self) -> Result<&Started, CaptureError> {
        if self.started.is_none() {
            let s = self
                .inner
                .start()
                .map_err(|e| CaptureError::Grab(Box::new(e)))?;
            if let Some(w) = self.wake.take() {
                s.streams.layout.watch(w);
            }
            self.started = Some(s);
        }
        self.started.as_deref().ok_or(CaptureError::Stopped)
    }
}

impl ScreenSource for PortalScreen {
    fn grab(&mut self, into: &mut Image, force: bool) -> Result<Grab, CaptureError> {
        self.started()?.streams.layout.grab(into, force)
    }

    fn pointer(&mut self) -> Option<(i32, i32)> {
        let s = self.started.as_ref()?;
        *lock(&s.streams.pointer)
    }

    fn watch(&mut self, wake: Wake) -> bool {
        match &self.started {
            Some(s) => s.streams.layout.watch(wake),
            None => self.wake = Some(wake),
        }
        true
    }

    fn monitors(&mut self) -> Result<Vec<MonitorInfo>, CaptureError> {
        Ok(self.started()?.streams.monitors.clone())
    }
}

/// Pointer and keyboard through the RemoteDesktop portal.
#[derive(Debug)]
pub struct PortalInput {
    inner: Arc<Inner>,
    started: Option<Arc<Started>>,
    /// Whether the user's desktop lacking remote input was said already.
    told: bool,
}

impl InputSink for PortalInput {
    fn apply(&mut self, event: &InputEvent) -> Result<(), InputError> {
        let started = match &self.started {
            Some(s) => s.clone(),
            None => {
                let s = self
                    .inner
                    .start()
                    .map_err(|e| InputError::Apply(Box::new(e)))?;
                self.started = Some(s.clone());
                s
            }
        };
        let cast::Held::Remote { proxy, session } = &started.held else {
            // Said once per session; the rest would say the same.
            if std::mem::replace(&mut self.told, true) {
                return Ok(());
            }
            return Err(InputError::Apply(Box::new(PortalError::NoRemoteInput)));
        };
        for call in calls::calls(event, &started.streams.placed) {
            self.inner
                .rt
                .block_on(cast::send(proxy, session, &call))
                .map_err(|e| InputError::Apply(Box::new(e)))?;
        }
        Ok(())
    }
}
