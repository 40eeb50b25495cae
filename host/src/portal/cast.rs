//! The portal conversation (ashpd, over the session bus): one session that
//! shares the screens and, where the desktop has the RemoteDesktop portal,
//! takes pointer and keyboard input too, so the user answers one dialog.

use std::os::fd::OwnedFd;

use ashpd::desktop::remote_desktop::{
    Axis, DeviceType, KeyState, RemoteDesktop, SelectDevicesOptions,
};
use ashpd::desktop::screencast::{
    CursorMode, IsScreencastSession, Screencast, SelectSourcesOptions, SourceType,
};
use ashpd::desktop::{PersistMode, ResponseError, Session};
use ashpd::enumflags2::BitFlags;

use super::PortalError;
use super::calls::Call;

/// A screen the portal shares: its PipeWire node, and where it sits and
/// how large it is in the desktop's (logical) units, when the portal says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shared {
    pub node: u32,
    pub position: Option<(i32, i32)>,
    pub size: Option<(i32, i32)>,
}

/// The portal session, held open while the screen is shared.
#[derive(Debug)]
pub enum Held {
    /// Screens and input (RemoteDesktop with ScreenCast sources).
    Remote {
        proxy: RemoteDesktop,
        session: Session<RemoteDesktop>,
    },
    /// Screens only: the desktop has no RemoteDesktop portal.
    Cast { _session: Session<Screencast> },
}

/// What the user granted.
#[derive(Debug)]
pub struct Granted {
    pub held: Held,
    pub streams: Vec<Shared>,
    /// The PipeWire connection that carries the streams.
    pub fd: OwnedFd,
    /// Lets the next session skip the dialog, when the user allowed it.
    pub restore_token: Option<String>,
    /// The pointer travels as stream metadata (else it is drawn in).
    pub cursor_metadata: bool,
}

/// Whether the desktop has the portals: `Ok(true)` with RemoteDesktop too.
pub async fn probe() -> Result<bool, PortalError> {
    Screencast::new().await.map_err(no_portal)?;
    match RemoteDesktop::new().await {
        Ok(_) => Ok(true),
        Err(ashpd::Error::PortalNotFound(_)) => Ok(false),
        Err(e) => Err(no_portal(e)),
    }
}

fn no_portal(e: ashpd::Error) -> PortalError {
    PortalError::NoPortal(Box::new(e))
}

fn failed(step: &'static str) -> impl Fn(ashpd::Error) -> PortalError {
    move |e| match e {
        ashpd::Error::Response(ResponseError::Cancelled) => PortalError::Cancelled,
        source => PortalError::Failed {
            step,
            source: Box::new(source),
        },
    }
}

/// Asks the portal for the screens (and input when `remote`): this is
/// when the desktop shows its dialog, unless `restore` still holds.
pub async fn start(restore: Option<&str>, remote: bool) -> Result<Granted, PortalError> {
    let cast = Screencast::new().await.map_err(no_portal)?;
    let modes = cast
        .available_cursor_modes()
        .await
        .map_err(failed("asking its cursor modes"))?;
    // The pointer beside the pixels, as on X11; drawn in where the
    // desktop cannot say where it is, so the technician still sees it.
    let cursor = [CursorMode::Metadata, CursorMode::Embedded]
        .into_iter()
        .find(|m| modes.contains(*m))
        .unwrap_or(CursorMode::Hidden);
    let sources = SelectSourcesOptions::default()
        .set_cursor_mode(cursor)
        .set_sources(BitFlags::from(SourceType::Monitor))
        .set_multiple(true);
    let (held, streams, restore_token, fd) = if remote {
        let proxy = RemoteDesktop::new().await.map_err(no_portal)?;
        let session = proxy
            .create_session(Default::default())
            .await
            .map_err(failed("opening a session"))?;
        let devices = SelectDevicesOptions::default()
            .set_devices(DeviceType::Keyboard | DeviceType::Pointer)
            .set_persist_mode(PersistMode::ExplicitlyRevoked)
            .set_restore_token(restore);
        proxy
            .select_devices(&session, devices)
            .await
            .and_then(|r| r.response())
            .map_err(failed("choosing input devices"))?;
        choose(&cast, &session, sources).await?;
        let started = proxy
            .start(&session, None, Default::default())
            .await
            .and_then(|r| r.response())
            .map_err(failed("starting"))?;
        let (streams, token) = shared(started.streams(), started.restore_token());
        let fd = pipewire(&cast, &session).await?;
        (Held::Remote { proxy, session }, streams, token, fd)
    } else {
        let session = cast
            .create_session(Default::default())
            .await
            .map_err(failed("opening a session"))?;
        let sources = sources
            .set_persist_mode(PersistMode::ExplicitlyRevoked)
            .set_restore_token(restore);
        choose(&cast, &session, sources).await?;
        let started = cast
            .start(&session, None, Default::default())
            .await
            .and_then(|r| r.response())
            .map_err(failed("starting"))?;
        let (streams, token) = shared(started.streams(), started.restore_token());
        let fd = pipewire(&cast, &session).await?;
        (Held::Cast { _session: session }, streams, token, fd)
    };
    if streams.is_empty() {
        return Err(PortalError::NoStreams);
    }
    Ok(Granted {
        held,
        streams,
        fd,
        restore_token,
        cursor_metadata: cursor == CursorMode::Metadata,
    })
}

/// The screens the user chose, and the token to skip the dialog next time.
fn shared(
    streams: &[ashpd::desktop::screencast::Stream],
    token: Option<&str>,
) -> (Vec<Shared>, Option<String>) {
    let streams = streams
        .iter()
        .map(|s| Shared {
            node: s.pipe_wire_node_id(),
            position: s.position(),
            size: s.size(),
        })
        .collect();
    (streams, token.map(str::to_owned))
}

/// Asks for the screens on a session of either kind.
async fn choose<T: IsScreencastSession>(
    cast: &Screencast,
    session: &Session<T>,
    sources: SelectSourcesOptions,
) -> Result<(), PortalError> {
    cast.select_sources(session, sources)
        .await
        .and_then(|r| r.response())
        .map_err(failed("choosing screens"))
}

/// The PipeWire connection that carries the session's screens.
async fn pipewire<T: IsScreencastSession>(
    cast: &Screencast,
    session: &Session<T>,
) -> Result<OwnedFd, PortalError> {
    cast.open_pipe_wire_remote(session, Default::default())
        .await
        .map_err(failed("opening PipeWire"))
}

/// Makes one input call on a RemoteDesktop session.
pub async fn send(
    proxy: &RemoteDesktop,
    session: &Session<RemoteDesktop>,
    call: &Call,
) -> Result<(), ashpd::Error> {
    let state = |down: bool| {
        if down {
            KeyState::Pressed
        } else {
            KeyState::Released
        }
    };
    match *call {
        Call::Move { stream, x, y } => {
            proxy
                .notify_pointer_motion_absolute(session, stream, x, y, Default::default())
                .await
        }
        Call::Button { code, down } => {
            proxy
                .notify_pointer_button(session, code, state(down), Default::default())
                .await
        }
        Call::Wheel { vertical, steps } => {
            let axis = if vertical {
                Axis::Vertical
            } else {
                Axis::Horizontal
            };
            proxy
                .notify_pointer_axis_discrete(session, axis, steps, Default::default())
                .await
        }
        Call::Key { keysym, down } => {
            proxy
                .notify_keyboard_keysym(session, keysym, state(down), Default::default())
                .await
        }
    }
}
