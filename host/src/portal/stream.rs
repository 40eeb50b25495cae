//! The portal's screens as PipeWire video streams, on a thread of their
//! own: each frame's damaged rectangles (the producer's damage metadata;
//! the whole frame when it sends none) are pasted into the layout, and the
//! pointer comes from the cursor metadata. Frames are plain memory: no
//! DMA-BUF modifiers are offered, so the producer sends shared memory.

use std::cell::RefCell;
use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use lifeline_session::messages::MonitorInfo;
use pipewire as pw;
use pw::spa;
use pw::spa::buffer::meta::{MetaCursor, MetaVideoDamage};
use pw::spa::param::video::{VideoFormat, VideoInfoRaw};
use pw::spa::pod::Pod;

use super::PortalError;
use super::calls::Placed;
use super::cast::Shared;
use super::params::{enum_format, metas};
use crate::layout::{Layout, Rect};

/// Where the pointer is, in layout pixels, when the producer says.
pub type Pointer = Arc<Mutex<Option<(i32, i32)>>>;

/// The streams, negotiated and laid out.
#[derive(Debug)]
pub struct Streams {
    pub layout: Layout,
    pub placed: Vec<Placed>,
    pub monitors: Vec<MonitorInfo>,
    pub pointer: Pointer,
}

/// How long the producer may take to agree on formats once the user said
/// yes.
const NEGOTIATION: Duration = Duration::from_secs(10);

/// Connects to PipeWire through the portal's `fd` and starts every
/// stream; returns once each has a format and the layout exists.
pub fn start(fd: OwnedFd, shared: Vec<Shared>, cursor: bool) -> Result<Streams, PortalError> {
    let (tx, rx) = mpsc::channel();
    let failed = tx.clone();
    std::thread::Builder::new()
        .name("pipewire".into())
        .spawn(move || {
            if let Err(e) = run(fd, shared, cursor, tx) {
                // The starter may have given up already.
                let _ = failed.send(Err(e));
            }
        })
        .map_err(PortalError::Thread)?;
    rx.recv_timeout(NEGOTIATION)
        .map_err(|_| PortalError::NoPicture)?
}

/// One stream's part in the negotiation.
#[derive(Debug, Clone, Copy)]
struct Format {
    width: u32,
    height: u32,
    /// RGBx/RGBA (else BGRx/BGRA, the layout's own order).
    rgb: bool,
}

/// What the streams share on the PipeWire thread.
struct Negotiation {
    shared: Vec<Shared>,
    formats: Vec<Option<Format>>,
    /// Frames that came before the layout existed, whole.
    early: Vec<Option<Vec<u32>>>,
    placed: Vec<Placed>,
    layout: Option<Layout>,
    pointer: Pointer,
    ready: Option<mpsc::Sender<Result<Streams, PortalError>>>,
}

impl Negotiation {
    /// Once every stream has a format: lays them out (each at its portal
    /// position, in its own pixels) and says so.
    fn formatted(&mut self, index: usize, format: Format) {
        self.formats[index] = Some(format);
        if self.layout.is_some() || self.formats.iter().any(Option::is_none) {
            return;
        }
        let formats: Vec<Format> = self.formats.iter().flatten().copied().collect();
        self.placed = place(&self.shared, &formats);
        let width = self.placed.iter().map(|p| p.rect.0 + p.rect.2).max();
        let height = self.placed.iter().map(|p| p.rect.1 + p.rect.3).max();
        let layout = Layout::new(width.unwrap_or(1), height.unwrap_or(1));
        for (i, early) in self.early.iter_mut().enumerate() {
            if let Some(pixels) = early.take() {
                let (x, y, w, h) = self.placed[i].rect;
                layout.paste(vec![((x, y, w, h), pixels)], true);
            }
        }
        let monitors = self
            .placed
            .iter()
            .enumerate()
            .map(|(i, p)| MonitorInfo {
                name: format!("screen {}", i + 1),
                x: p.rect.0 as i32,
                y: p.rect.1 as i32,
                width: p.rect.2,
                height: p.rect.3,
                primary: i == 0,
            })
            .collect();
        if let Some(tx) = self.ready.take() {
            let _ = tx.send(Ok(Streams {
                layout: layout.clone(),
                placed: self.placed.clone(),
                monitors,
                pointer: self.pointer.clone(),
            }));
        }
        self.layout = Some(layout);
    }
}

/// Each stream's rectangle in the layout: its own pixels, at its portal
/// position (relative to the top-left one) times the largest pixels per
/// logical unit among the streams, so screens of mixed scales never
/// overlap (at worst a gap stays black).
fn place(shared: &[Shared], formats: &[Format]) -> Vec<Placed> {
    let left = shared.iter().filter_map(|s| s.position).map(|p| p.0).min();
    let top = shared.iter().filter_map(|s| s.position).map(|p| p.1).min();
    let scales: Vec<f64> = shared
        .iter()
        .zip(formats)
        .map(|(s, f)| match s.size {
            Some((w, _)) if w > 0 => f64::from(f.width) / f64::from(w),
            _ => 1.0,
        })
        .collect();
    let factor = scales.iter().copied().fold(1.0, f64::max);
    shared
        .iter()
        .zip(formats)
        .zip(scales)
        .map(|((s, f), scale)| {
            let (x, y) = s.position.unwrap_or((0, 0));
            let at = |v: i32, min: Option<i32>| {
                (f64::from(v - min.unwrap_or(0)) * factor).round().max(0.0) as u32
            };
            Placed {
                node: s.node,
                rect: (at(x, left), at(y, top), f.width, f.height),
                scale,
            }
        })
        .collect()
}

fn run(
    fd: OwnedFd,
    shared: Vec<Shared>,
    cursor: bool,
    ready: mpsc::Sender<Result<Streams, PortalError>>,
) -> Result<(), PortalError> {
    pw::init();
    let mainloop = pw::main_loop::MainLoopRc::new(None)?;
    let context = pw::context::ContextRc::new(&mainloop, None)?;
    let core = context.connect_fd_rc(fd, None)?;
    let n = shared.len();
    let negotiation = Rc::new(RefCell::new(Negotiation {
        shared: shared.clone(),
        formats: vec![None; n],
        early: vec![None; n],
        placed: Vec::new(),
        layout: None,
        pointer: Arc::new(Mutex::new(None)),
        ready: Some(ready),
    }));
    let format = enum_format()?;
    let metas = metas(cursor)?;
    let mut kept = Vec::new();
    for (index, s) in shared.iter().enumerate() {
        let stream = pw::stream::StreamBox::new(
            &core,
            "lifeline-host",
            pw::properties::properties! {
                *pw::keys::MEDIA_TYPE => "Video",
                *pw::keys::MEDIA_CATEGORY => "Capture",
                *pw::keys::MEDIA_ROLE => "Screen",
            },
        )?;
        let listener = listen(
            &stream,
            index,
            negotiation.clone(),
            metas.clone(),
            &mainloop,
        )?;
        let mut params = [Pod::from_bytes(&format).ok_or(PortalError::Params)?];
        stream.connect(
            spa::utils::Direction::Input,
            Some(s.node),
            pw::stream::StreamFlags::AUTOCONNECT | pw::stream::StreamFlags::MAP_BUFFERS,
            &mut params,
        )?;
        kept.push((stream, listener));
    }
    mainloop.run();
    Ok(())
}

/// The per-stream callbacks.
struct StreamData {
    index: usize,
    format: Option<Format>,
    negotiation: Rc<RefCell<Negotiation>>,
    first: bool,
    /// The last frame's rows, packed, to find what changed when the
    /// producer sends no damage.
    last: Vec<u8>,
}

fn listen<'s>(
    stream: &'s pw::stream::StreamBox<'s>,
    index: usize,
    negotiation: Rc<RefCell<Negotiation>>,
    metas: Vec<Vec<u8>>,
    mainloop: &pw::main_loop::MainLoopRc,
) -> Result<pw::stream::StreamListener<StreamData>, PortalError> {
    let quit = mainloop.clone();
    let data = StreamData {
        index,
        format: None,
        negotiation,
        first: true,
        last: Vec::new(),
    };
    let listener = stream
        .add_local_listener_with_user_data(data)
        .state_changed(move |_, data, _, new| {
            let why = match new {
                pw::stream::StreamState::Error(e) => format!("the screen stream failed: {e}"),
                pw::stream::StreamState::Unconnected => {
                    "your desktop stopped sharing the screen".to_owned()
                }
                _ => return,
            };
            let n = data.negotiation.borrow();
            match &n.layout {
                Some(layout) => layout.fail(why),
                None => tracing::warn!(reason = %why, "screen stream ended before it started"),
            }
            quit.quit();
        })
        .param_changed(move |stream, data, id, param| {
            let Some(param) = param else { return };
            if id != spa::param::ParamType::Format.as_raw() {
                return;
            }
            let mut info = VideoInfoRaw::default();
            if info.parse(param).is_err() {
                tracing::warn!("the screen stream sent a format it cannot read");
                return;
            }
            let format = Format {
                width: info.size().width,
                height: info.size().height,
                rgb: matches!(info.format(), VideoFormat::RGBx | VideoFormat::RGBA),
            };
            data.format = Some(format);
            data.negotiation.borrow_mut().formatted(data.index, format);
            let mut params: Vec<&Pod> = metas.iter().filter_map(|m| Pod::from_bytes(m)).collect();
            if let Err(e) = stream.update_params(&mut params) {
                tracing::warn!(error = %e, "the screen stream refused the metadata asked");
            }
        })
        .process(|stream, data| {
            // Every frame waiting, in order, each handed back at once: a
            // buffer kept leaves the producer without one.
            while let Some(mut buffer) = stream.dequeue_buffer() {
                frame(&mut buffer, data);
            }
        })
        .register()?;
    Ok(listener)
}

/// Takes one frame: its damaged rectangles, into the layout.
fn frame(buffer: &mut pw::buffer::Buffer<'_>, data: &mut StreamData) {
    let Some(format) = data.format else { return };
    let damage: Vec<Rect> = buffer
        .find_meta::<MetaVideoDamage>()
        .map(|d| {
            d.iter()
                .map(|r| {
                    let r = r.region();
                    let (x, y) = (r.position.x.max(0) as u32, r.position.y.max(0) as u32);
                    (x, y, r.size.width, r.size.height)
                })
                .collect()
        })
        .unwrap_or_default();
    let cursor = buffer
        .find_meta::<MetaCursor>()
        .filter(|c| c.id() != 0)
        .map(|c| (c.position().x, c.position().y));
    let Some(d) = buffer.datas_mut().first_mut() else {
        return;
    };
    let chunk = d.chunk();
    if chunk.size() == 0 || chunk.flags().contains(spa::buffer::ChunkFlags::CORRUPTED) {
        return;
    }
    let (offset, stride) = (chunk.offset() as usize, chunk.stride());
    let Some(bytes) = d.data() else { return };
    let whole = data.first;
    let rects = if !damage.is_empty() && !whole {
        damage
    } else {
        // No damage said (or the first frame): find it, against the last.
        match changed(&mut data.last, bytes, offset, stride, format) {
            Some(r) if !whole => r,
            _ => vec![(0, 0, format.width, format.height)],
        }
    };
    if rects.is_empty() {
        return;
    }
    tracing::trace!(stream = data.index, ?rects, "frame");
    let Some(parts) = read(bytes, offset, stride, format, &rects) else {
        tracing::warn!("a screen frame does not fit its buffer; skipped");
        return;
    };
    let mut n = data.negotiation.borrow_mut();
    let placed = n.placed.get(data.index).copied();
    match (&n.layout, placed) {
        (Some(layout), Some(p)) => {
            if let Some((x, y)) = cursor {
                let at = (p.rect.0 as i32 + x, p.rect.1 as i32 + y);
                *n.pointer.lock().unwrap_or_else(|e| e.into_inner()) = Some(at);
            }
            let moved = parts
                .into_iter()
                .map(|((x, y, w, h), px)| ((x + p.rect.0, y + p.rect.1, w, h), px))
                .collect();
            layout.paste(moved, data.first);
            data.first = false;
        }
        _ if whole => {
            if let Some((_, px)) = parts.into_iter().next() {
                n.early[data.index] = Some(px);
            }
        }
        _ => {}
    }
}

/// What changed since `last` (the previous frame's rows, packed), which
/// then holds this frame: one rectangle per run of changed rows, as wide
/// as the changes in it. `None` when there is no previous frame of this
/// size, or the buffer is short (then `last` is refilled when it can be).
fn changed(
    last: &mut Vec<u8>,
    bytes: &[u8],
    offset: usize,
    stride: i32,
    format: Format,
) -> Option<Vec<Rect>> {
    let stride = usize::try_from(stride).ok()?;
    let (w, h) = (format.width as usize, format.height as usize);
    let row_bytes = w * 4;
    if stride < row_bytes || bytes.len() < offset + (h.max(1) - 1) * stride + row_bytes {
        return None;
    }
    let row = |y: usize| &bytes[offset + y * stride..offset + y * stride + row_bytes];
    if last.len() != row_bytes * h {
        last.clear();
        for y in 0..h {
            last.extend_from_slice(row(y));
        }
        return None;
    }
    let mut out: Vec<Rect> = Vec::new();
    let mut band: Option<(usize, usize, usize, usize)> = None; // y0, y1, x0, x1
    for y in 0..h {
        let (new, old) = (row(y), &mut last[y * row_bytes..(y + 1) * row_bytes]);
        if new == &old[..] {
            if let Some((y0, y1, x0, x1)) = band.take() {
                out.push((x0 as u32, y0 as u32, (x1 - x0) as u32, (y1 - y0) as u32));
            }
            continue;
        }
        let differs = |i: &usize| new[i * 4..i * 4 + 4] != old[i * 4..i * 4 + 4];
        let first = (0..w).find(differs).unwrap_or(0);
        let end = (0..w).rev().find(differs).map_or(w, |i| i + 1);
        old.copy_from_slice(new);
        band = Some(match band {
            Some((y0, _, x0, x1)) => (y0, y + 1, x0.min(first), x1.max(end)),
            None => (y, y + 1, first, end),
        });
    }
    if let Some((y0, y1, x0, x1)) = band {
        out.push((x0 as u32, y0 as u32, (x1 - x0) as u32, (y1 - y0) as u32));
    }
    Some(out)
}

/// The rectangles' pixels, `0x00RRGGBB`, clipped to the frame; `None`
/// when the producer's buffer is smaller than its own format says.
fn read(
    bytes: &[u8],
    offset: usize,
    stride: i32,
    format: Format,
    rects: &[Rect],
) -> Option<Vec<(Rect, Vec<u32>)>> {
    let stride = usize::try_from(stride).ok()?;
    if stride < format.width as usize * 4 {
        return None;
    }
    let mut out = Vec::with_capacity(rects.len());
    for &(x, y, w, h) in rects {
        let (x0, y0) = (x.min(format.width), y.min(format.height));
        let w = x.saturating_add(w).min(format.width) - x0;
        let h = y.saturating_add(h).min(format.height) - y0;
        if w == 0 || h == 0 {
            continue;
        }
        let mut pixels = Vec::with_capacity(w as usize * h as usize);
        for row in y0..y0 + h {
            let at = offset + row as usize * stride + x0 as usize * 4;
            let line = bytes.get(at..at + w as usize * 4)?;
            pixels.extend(line.chunks_exact(4).map(|p| {
                if format.rgb {
                    u32::from_le_bytes([p[2], p[1], p[0], 0])
                } else {
                    u32::from_le_bytes([p[0], p[1], p[2], 0])
                }
            }));
        }
        out.push(((x0, y0, w, h), pixels));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BGR: Format = Format {
        width: 3,
        height: 2,
        rgb: false,
    };

    #[test]
    fn rows_are_read_at_their_stride_in_either_byte_order() {
        // Two rows of three pixels, stride 16 (4 bytes of padding).
        let mut bytes = vec![0u8; 4 + 32];
        for (i, b) in bytes[4..].iter_mut().enumerate() {
            *b = i as u8;
        }
        let got = read(&bytes, 4, 16, BGR, &[(1, 0, 2, 2)]).unwrap();
        assert_eq!(got[0].0, (1, 0, 2, 2));
        assert_eq!(got[0].1[0], 0x0006_0504);
        assert_eq!(got[0].1[2], 0x0016_1514);
        let rgb = Format { rgb: true, ..BGR };
        let got = read(&bytes, 4, 16, rgb, &[(0, 0, 1, 1)]).unwrap();
        assert_eq!(got[0].1, [0x0000_0102]);
    }

    #[test]
    fn a_short_buffer_or_stride_is_refused_and_rects_are_clipped() {
        assert!(read(&[0; 20], 0, 12, BGR, &[(0, 0, 3, 2)]).is_none());
        assert!(read(&[0; 24], 0, 8, BGR, &[(0, 0, 1, 1)]).is_none());
        let got = read(&[0; 24], 0, 12, BGR, &[(2, 1, 9, 9), (5, 5, 1, 1)]).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, (2, 1, 1, 1));
    }

    #[test]
    fn without_damage_the_change_is_found_against_the_last_frame() {
        let f = Format {
            width: 4,
            height: 3,
            rgb: false,
        };
        let mut last = Vec::new();
        let mut frame = vec![0u8; 48];
        assert_eq!(
            changed(&mut last, &frame, 0, 16, f),
            None,
            "no last frame yet"
        );
        assert_eq!(changed(&mut last, &frame, 0, 16, f), Some(vec![]));
        // Pixel (1,0) and (2,1): one band, rows 0-1, columns 1-2.
        frame[4] = 9;
        frame[16 + 8] = 9;
        assert_eq!(
            changed(&mut last, &frame, 0, 16, f),
            Some(vec![(1, 0, 2, 2)])
        );
        assert_eq!(changed(&mut last, &frame, 0, 16, f), Some(vec![]));
        assert_eq!(
            changed(&mut last, &frame[..40], 0, 16, f),
            None,
            "short buffer"
        );
    }

    #[test]
    fn screens_are_placed_at_their_positions_in_their_own_pixels() {
        let shared = [
            Shared {
                node: 7,
                position: Some((0, 0)),
                size: Some((1920, 1080)),
            },
            Shared {
                node: 8,
                position: Some((1920, 0)),
                size: Some((1280, 720)),
            },
        ];
        let formats = [
            Format {
                width: 1920,
                height: 1080,
                rgb: false,
            },
            Format {
                width: 2560,
                height: 1440,
                rgb: false,
            },
        ];
        let placed = place(&shared, &formats);
        assert_eq!(placed[0].rect, (0, 0, 1920, 1080));
        assert_eq!(placed[1].rect, (3840, 0, 2560, 1440));
        assert_eq!(placed[1].scale, 2.0);
    }
}
