//! The screen of a wlroots compositor (sway, Hyprland, river) through
//! `wlr-screencopy`: each output is copied into shared memory with
//! damage, on a thread and connection of its own that the compositor
//! wakes only when something was drawn. The outputs are laid out as the
//! compositor places them; a grab hands over what changed since the last.

use std::fs::File;
use std::os::fd::AsFd as _;
use std::os::unix::fs::FileExt as _;

use lifeline_session::messages::MonitorInfo;
use wayland_client::globals::registry_queue_init;
use wayland_client::protocol::{wl_buffer, wl_output, wl_shm, wl_shm_pool};
use wayland_client::{Connection, Dispatch, EventQueue, QueueHandle, WEnum, delegate_noop};
use wayland_protocols_wlr::screencopy::v1::client::{
    zwlr_screencopy_frame_v1 as frame, zwlr_screencopy_manager_v1 as manager,
};

use super::WlError;
use super::outputs::{Output, layout_size};
use crate::layout::Layout;
use crate::platform::{CaptureError, Grab, ScreenSource, Wake};
use lifeline_session::screen::Image;

/// The compositor's screen, copied with damage.
pub struct WlrScreen {
    layout: Layout,
    monitors: Vec<MonitorInfo>,
}

impl std::fmt::Debug for WlrScreen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WlrScreen")
            .field("monitors", &self.monitors.len())
            .finish()
    }
}

/// A copying thread's Wayland state: its one output, its frame.
struct State {
    output: (wl_output::WlOutput, Output),
    frame: FrameState,
}

/// Where the frame under way stands.
#[derive(Debug, Default)]
struct FrameState {
    /// The shm buffer the compositor asks for: format, width, height, stride.
    buffer: Option<(WEnum<wl_shm::Format>, u32, u32, u32)>,
    buffer_done: bool,
    damage: Vec<(u32, u32, u32, u32)>,
    y_invert: bool,
    ready: bool,
    failed: bool,
}

impl WlrScreen {
    /// Connects to `$WAYLAND_DISPLAY` and starts copying every output,
    /// each on a thread (and connection) of its own: a copy waits for
    /// damage on its output only.
    pub fn open() -> Result<Self, CaptureError> {
        let open = |e: WlError| CaptureError::Open {
            display: std::env::var("WAYLAND_DISPLAY").unwrap_or_default(),
            source: Box::new(e),
        };
        let conn = Connection::connect_to_env().map_err(|e| open(WlError::Connect(e)))?;
        let (globals, _queue) =
            registry_queue_init::<State>(&conn).map_err(|e| open(WlError::Globals(e)))?;
        let outputs = globals.contents().with_list(|list| {
            list.iter()
                .filter(|g| g.interface == "wl_output")
                .map(|g| (g.name, g.version.min(4)))
                .collect::<Vec<_>>()
        });
        if outputs.is_empty() {
            return Err(open(WlError::Missing("wl_output")));
        }
        let copiers = outputs
            .into_iter()
            .map(|(name, version)| Copier::connect(name, version))
            .collect::<Result<Vec<_>, _>>()
            .map_err(open)?;
        let monitors = copiers
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let o = &c.state.output.1;
                MonitorInfo {
                    name: o.name.clone(),
                    x: o.x,
                    y: o.y,
                    width: o.width,
                    height: o.height,
                    // Wayland has no primary: the compositor lists its
                    // main output first.
                    primary: i == 0,
                }
            })
            .collect();
        let (w, h) = layout_size(copiers.iter().map(|c| &c.state.output.1));
        let layout = Layout::new(w, h);
        for c in copiers {
            let layout = layout.clone();
            std::thread::Builder::new()
                .name("wlr-screencopy".into())
                .spawn(move || c.run(&layout))
                .map_err(CaptureError::Thread)?;
        }
        Ok(Self { layout, monitors })
    }
}

/// A copying thread: one output, each copy waiting for its damage.
struct Copier {
    queue: EventQueue<State>,
    state: State,
    shm: wl_shm::WlShm,
    manager: manager::ZwlrScreencopyManagerV1,
}

impl Drop for Buffer {
    fn drop(&mut self) {
        self.buffer.destroy();
        self.pool.destroy();
    }
}

/// An output's shm buffer, kept between frames.
struct Buffer {
    file: File,
    pool: wl_shm_pool::WlShmPool,
    buffer: wl_buffer::WlBuffer,
    /// width, height, stride, format
    shape: (u32, u32, u32, wl_shm::Format),
}

impl Copier {
    /// Its own connection, bound to the output with global `name`, which
    /// has described itself by the time this returns.
    fn connect(name: u32, version: u32) -> Result<Self, WlError> {
        let conn = Connection::connect_to_env()?;
        let (globals, mut queue) = registry_queue_init::<State>(&conn)?;
        let qh = queue.handle();
        let shm: wl_shm::WlShm = globals
            .bind(&qh, 1..=1, ())
            .map_err(|_| WlError::Missing("wl_shm"))?;
        let manager: manager::ZwlrScreencopyManagerV1 = globals
            .bind(&qh, 2..=3, ())
            .map_err(|_| WlError::NoScreencopy)?;
        let output = globals.registry().bind(name, version, &qh, ());
        let mut state = State {
            output: (output, Output::default()),
            frame: FrameState::default(),
        };
        queue.roundtrip(&mut state)?;
        Ok(Self {
            queue,
            state,
            shm,
            manager,
        })
    }

    fn run(mut self, layout: &Layout) {
        if let Err(e) = self.copy_forever(layout) {
            tracing::warn!(error = %e, "screen copying stopped");
            layout.fail(e.to_string());
        }
    }

    fn copy_forever(&mut self, layout: &Layout) -> Result<(), WlError> {
        let mut buffer = None;
        // The first copy is whole; later ones wait for damage (the
        // compositor answers when something was drawn).
        let mut whole = true;
        loop {
            self.copy_output(layout, &mut buffer, whole)?;
            whole = false;
        }
    }

    /// Copies the output into the layout image once.
    fn copy_output(
        &mut self,
        layout: &Layout,
        buf: &mut Option<Buffer>,
        whole: bool,
    ) -> Result<(), WlError> {
        let qh = self.queue.handle();
        let output = self.state.output.0.clone();
        self.state.frame = FrameState::default();
        let frame = self.manager.capture_output(0, &output, &qh, ());
        while self.state.frame.buffer.is_none() || !self.frame_described(&frame) {
            self.queue
                .blocking_dispatch(&mut self.state)
                .map_err(WlError::Dispatch)?;
            if self.state.frame.failed {
                return Err(WlError::CopyFailed);
            }
        }
        let (format, width, height, stride) = self.state.frame.buffer.ok_or(WlError::CopyFailed)?;
        let format = match format {
            WEnum::Value(f @ (wl_shm::Format::Xrgb8888 | wl_shm::Format::Argb8888)) => f,
            other => return Err(WlError::Format(format!("{other:?}"))),
        };
        let shape = (width, height, stride, format);
        if buf.as_ref().is_none_or(|b| b.shape != shape) {
            *buf = Some(self.buffer(shape)?);
        }
        let b = buf.as_ref().ok_or(WlError::CopyFailed)?;
        if whole {
            frame.copy(&b.buffer);
        } else {
            frame.copy_with_damage(&b.buffer);
        }
        while !self.state.frame.ready {
            self.queue
                .blocking_dispatch(&mut self.state)
                .map_err(WlError::Dispatch)?;
            if self.state.frame.failed {
                frame.destroy();
                return Err(WlError::CopyFailed);
            }
        }
        frame.destroy();
        self.take_pixels(layout, b, whole)
    }

    /// With version 3 the compositor lists every buffer type, then says
    /// done; earlier versions offer just the shm one.
    fn frame_described(&self, frame: &frame::ZwlrScreencopyFrameV1) -> bool {
        wayland_client::Proxy::version(frame) < 3 || self.state.frame.buffer_done
    }

    fn buffer(
        &self,
        (width, height, stride, format): (u32, u32, u32, wl_shm::Format),
    ) -> Result<Buffer, WlError> {
        let qh = self.queue.handle();
        let size = stride
            .checked_mul(height)
            .filter(|s| *s <= i32::MAX as u32)
            .ok_or(WlError::Format(format!("{width}×{height}")))?;
        let file = tempfile::tempfile().map_err(WlError::Shm)?;
        file.set_len(u64::from(size)).map_err(WlError::Shm)?;
        let pool = self.shm.create_pool(file.as_fd(), size as i32, &qh, ());
        let buffer = pool.create_buffer(
            0,
            width as i32,
            height as i32,
            stride as i32,
            format,
            &qh,
            (),
        );
        Ok(Buffer {
            file,
            pool,
            buffer,
            shape: (width, height, stride, format),
        })
    }

    /// Reads the copied pixels (the damaged rectangles, or all) into the
    /// layout: read from shared memory first, so a grab never waits on
    /// the reads, then written under the lock.
    fn take_pixels(&self, layout: &Layout, b: &Buffer, whole: bool) -> Result<(), WlError> {
        let (width, height, stride, _) = b.shape;
        let o = &self.state.output.1;
        let (ox, oy) = (o.x.max(0) as u32, o.y.max(0) as u32);
        let frame = &self.state.frame;
        let damage = if whole || frame.damage.is_empty() {
            vec![(0, 0, width, height)]
        } else {
            frame.damage.clone()
        };
        // Each rectangle clipped to the buffer, with its pixels.
        let mut read = Vec::with_capacity(damage.len());
        for (x, y, w, h) in damage {
            let (x0, y0) = (x.min(width), y.min(height));
            let (w, h) = ((x + w).min(width) - x0, (y + h).min(height) - y0);
            let mut bytes = vec![0u8; w as usize * 4];
            let mut pixels = Vec::with_capacity(w as usize * h as usize);
            for row in y0..y0 + h {
                let src_row = if frame.y_invert {
                    height - 1 - row
                } else {
                    row
                };
                let at = u64::from(src_row) * u64::from(stride) + u64::from(x0) * 4;
                b.file.read_exact_at(&mut bytes, at).map_err(WlError::Shm)?;
                pixels.extend(
                    bytes
                        .chunks_exact(4)
                        .map(|p| u32::from_le_bytes([p[0], p[1], p[2], 0])),
                );
            }
            read.push(((ox + x0, oy + y0, w, h), pixels));
        }
        layout.paste(read, whole);
        Ok(())
    }
}

impl ScreenSource for WlrScreen {
    fn grab(&mut self, into: &mut Image, force: bool) -> Result<Grab, CaptureError> {
        self.layout.grab(into, force)
    }

    fn watch(&mut self, wake: Wake) -> bool {
        self.layout.watch(wake);
        true
    }

    fn monitors(&mut self) -> Result<Vec<MonitorInfo>, CaptureError> {
        Ok(self.monitors.clone())
    }
}

super::ignore_registry!(State);

impl Dispatch<wl_output::WlOutput, ()> for State {
    fn event(
        state: &mut Self,
        proxy: &wl_output::WlOutput,
        event: wl_output::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if &state.output.0 == proxy {
            state.output.1.on_event(event);
        }
    }
}

impl Dispatch<frame::ZwlrScreencopyFrameV1, ()> for State {
    fn event(
        state: &mut Self,
        _: &frame::ZwlrScreencopyFrameV1,
        event: frame::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let f = &mut state.frame;
        match event {
            frame::Event::Buffer {
                format,
                width,
                height,
                stride,
            } => f.buffer = Some((format, width, height, stride)),
            frame::Event::BufferDone => f.buffer_done = true,
            frame::Event::Flags { flags } => {
                f.y_invert = matches!(flags, WEnum::Value(v) if v.contains(frame::Flags::YInvert));
            }
            frame::Event::Damage {
                x,
                y,
                width,
                height,
            } => f.damage.push((x, y, width, height)),
            frame::Event::Ready { .. } => f.ready = true,
            frame::Event::Failed => f.failed = true,
            _ => {}
        }
    }
}

delegate_noop!(State: ignore wl_shm::WlShm);
delegate_noop!(State: ignore wl_shm_pool::WlShmPool);
delegate_noop!(State: ignore wl_buffer::WlBuffer);
delegate_noop!(State: ignore manager::ZwlrScreencopyManagerV1);
