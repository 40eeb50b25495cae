//! wlroots compositors (sway, Hyprland, river): capture through
//! `wlr-screencopy` with damage, input through `wlr-virtual-pointer` and
//! `virtual-keyboard`, over wayland-client (pure Rust, no C library).

/// Globals coming and going after start are not followed: outputs plugged
/// in later show up at the next session.
macro_rules! ignore_registry {
    ($state:ty) => {
        impl
            wayland_client::Dispatch<
                wayland_client::protocol::wl_registry::WlRegistry,
                wayland_client::globals::GlobalListContents,
            > for $state
        {
            fn event(
                _: &mut Self,
                _: &wayland_client::protocol::wl_registry::WlRegistry,
                _: wayland_client::protocol::wl_registry::Event,
                _: &wayland_client::globals::GlobalListContents,
                _: &wayland_client::Connection,
                _: &wayland_client::QueueHandle<Self>,
            ) {
            }
        }
    };
}
use ignore_registry;

mod capture;
mod input;
pub mod keymap;
mod outputs;

pub use capture::WlrScreen;
pub use input::WlrInput;

/// Something the compositor or the connection to it refused.
#[derive(Debug, thiserror::Error)]
pub enum WlError {
    #[error("cannot connect to the Wayland compositor ($WAYLAND_DISPLAY): {0}")]
    Connect(#[from] wayland_client::ConnectError),
    #[error("cannot list the compositor's globals: {0}")]
    Globals(#[from] wayland_client::globals::GlobalError),
    #[error("the Wayland connection failed: {0}")]
    Dispatch(#[from] wayland_client::DispatchError),
    #[error("the Wayland connection failed: {0}")]
    Backend(#[from] wayland_client::backend::WaylandError),
    #[error("the compositor offers no {0}")]
    Missing(&'static str),
    #[error(
        "this compositor has no wlr-screencopy: it is not a wlroots one (sway, Hyprland, river); use --backend portal"
    )]
    NoScreencopy,
    #[error(
        "this compositor has no {0} (wlroots virtual input): it is not a wlroots one; use --backend portal"
    )]
    NoVirtualInput(&'static str),
    #[error("the compositor could not copy the screen")]
    CopyFailed,
    #[error("the compositor offers pixels in {0}, not 32-bit XRGB")]
    Format(String),
    #[error("shared memory: {0}")]
    Shm(#[source] std::io::Error),
}

/// Whether the compositor at `$WAYLAND_DISPLAY` has wlr-screencopy, the
/// mark of a wlroots one; false when it cannot be asked.
pub fn has_screencopy() -> bool {
    struct Probe;
    ignore_registry!(Probe);
    let Ok(conn) = wayland_client::Connection::connect_to_env() else {
        return false;
    };
    let Ok((globals, _queue)) = wayland_client::globals::registry_queue_init::<Probe>(&conn) else {
        return false;
    };
    globals.contents().with_list(|list| {
        list.iter()
            .any(|g| g.interface == "zwlr_screencopy_manager_v1")
    })
}
