//! Video through the browser's own H.264 decoder (WebCodecs), sans-IO.
//!
//! OpenH264 does not build for WebAssembly, so an update that carries
//! video is held while the page decodes its frames: [`Video::start`]
//! checks which frames can play (a stream starts with its key frame, as
//! in the native framebuffer) and queues one [`Chunk`] per frame for the
//! page; the page hands each decoded picture back as [`Decoded`] planes;
//! once all are here the client applies the update with them
//! (`Framebuffer::apply_with`), in the update's order, converting the
//! planes with the session crate's own `yuv::store`. Session frames that
//! arrive meanwhile wait, in order, in [`Video::hold`].

use std::collections::VecDeque;

use lifeline_session::screen::{FrameUpdate, Image, ScreenError, framebuffer::MAX_STREAMS};
use lifeline_session::video::yuv::{I420, Planes, store};

use crate::words;

/// Most bytes of session frames held while the page decodes video (the
/// host's flow control keeps far fewer in flight).
pub const MAX_HELD: usize = 64 << 20;

/// Why video could not be shown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VideoError {
    #[error("{0}")]
    Frame(String),
    #[error("{}", words::VIDEO_HELD)]
    TooMuchHeld,
}

/// One frame for the page's decoder of stream `stream`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Names the frame when its picture comes back.
    pub ticket: u32,
    pub stream: u32,
    /// A key frame: the page starts a new decoder for the stream with it.
    pub key: bool,
    pub width: u32,
    pub height: u32,
    /// The WebCodecs codec string (`avc1.PPCCLL`, from the key frame's
    /// sequence parameter set); empty on other frames.
    pub codec: String,
    /// The update's number, as the chunk's timestamp.
    pub seq: u64,
    /// The access unit, Annex B.
    pub data: Vec<u8>,
}

/// A decoded picture's layout, as `VideoFrame.copyTo` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Three planes: Y, U, V.
    I420,
    /// Two planes: Y, then U and V interleaved.
    Nv12,
}

impl Format {
    /// `VideoFrame.format`'s word, if it is one this takes.
    pub fn from_word(word: &str) -> Option<Self> {
        match word {
            "I420" => Some(Self::I420),
            "NV12" => Some(Self::Nv12),
            _ => None,
        }
    }
}

/// A picture the page's decoder gave: one buffer and where each plane
/// starts and how long its rows are.
#[derive(Debug, Clone, Copy)]
pub struct Decoded<'a> {
    pub format: Format,
    pub width: u32,
    pub height: u32,
    pub data: &'a [u8],
    /// (offset, stride) of each plane, in order.
    pub planes: &'a [(usize, usize)],
}

impl Decoded<'_> {
    /// The picture as tight I420 planes, checked against its layout.
    fn to_i420(self) -> Result<I420, String> {
        let (w, h) = (self.width as usize, self.height as usize);
        let (cw, ch) = (w / 2, h / 2);
        let plane = |i: usize, row: usize, rows: usize| -> Result<Vec<&[u8]>, String> {
            let (offset, stride) = *self
                .planes
                .get(i)
                .ok_or_else(|| format!("{}: plane {i} missing", words::VIDEO_BAD_PICTURE))?;
            let end = stride
                .checked_mul(rows.saturating_sub(1))
                .and_then(|n| n.checked_add(offset)?.checked_add(row));
            if stride < row || end.is_none_or(|e| e > self.data.len()) {
                return Err(format!("{}: plane {i} short", words::VIDEO_BAD_PICTURE));
            }
            Ok((0..rows)
                .map(|r| &self.data[offset + r * stride..offset + r * stride + row])
                .collect())
        };
        let mut pic = I420::new(w, h);
        for (out, row) in pic.y.chunks_exact_mut(w).zip(plane(0, w, h)?) {
            out.copy_from_slice(row);
        }
        match self.format {
            Format::I420 => {
                let rows = plane(1, cw, ch)?.into_iter().zip(plane(2, cw, ch)?);
                let outs = pic.u.chunks_exact_mut(cw).zip(pic.v.chunks_exact_mut(cw));
                for ((u, v), (ur, vr)) in outs.zip(rows) {
                    u.copy_from_slice(ur);
                    v.copy_from_slice(vr);
                }
            }
            Format::Nv12 => {
                let rows = plane(1, 2 * cw, ch)?;
                let outs = pic.u.chunks_exact_mut(cw).zip(pic.v.chunks_exact_mut(cw));
                for ((u, v), uv) in outs.zip(rows) {
                    for ((u, v), pair) in u.iter_mut().zip(v.iter_mut()).zip(uv.chunks_exact(2)) {
                        (*u, *v) = (pair[0], pair[1]);
                    }
                }
            }
        }
        Ok(pic)
    }
}

/// An update waiting for its video frames' pictures.
#[derive(Debug)]
pub struct Pending {
    pub upd: FrameUpdate,
    /// When it arrived (the page's clock, ms): its acknowledgement counts
    /// the decoding from here.
    pub started: f64,
    /// A ticket per video frame, and its picture once it came back
    /// (`None` for a frame that does not play).
    tickets: Vec<u32>,
    pictures: Vec<Option<I420>>,
    waiting: usize,
}

impl Pending {
    /// Draws video frame `i` into `img` from its picture.
    pub fn draw(&self, img: &mut Image, i: usize) -> Result<(), ScreenError> {
        let (Some(Some(pic)), Some(v)) = (self.pictures.get(i), self.upd.video.get(i)) else {
            return Ok(());
        };
        if (pic.width, pic.height) != (v.w as usize, v.h as usize) {
            return Err(ScreenError::Corrupt(format!(
                "video: {}×{} where {}×{} was announced",
                pic.width, pic.height, v.w, v.h
            )));
        }
        let planes = Planes {
            y: &pic.y,
            u: &pic.u,
            v: &pic.v,
            strides: (pic.width, pic.width / 2),
        };
        store(planes, (pic.width, pic.height), img, v.x, v.y);
        Ok(())
    }
}

/// The page's video: whether it decodes H.264, its streams, and the
/// update it is decoding.
#[derive(Debug, Default)]
pub struct Video {
    on: bool,
    /// Streams started by a key frame, most recently used last (as the
    /// page keeps its decoders).
    streams: Vec<u32>,
    next_ticket: u32,
    out: VecDeque<Chunk>,
    pending: Option<Pending>,
    held: VecDeque<Vec<u8>>,
    held_bytes: usize,
    /// Frames whose pictures came back and were drawn.
    pub shown: u64,
}

impl Video {
    /// Video decoded by the page (`on`), or none asked of the host.
    pub fn new(on: bool) -> Self {
        Self {
            on,
            ..Self::default()
        }
    }

    /// Whether the page decodes video.
    pub fn is_on(&self) -> bool {
        self.on
    }

    /// No more video: the page's decoders failed.
    pub fn turn_off(&mut self) {
        self.on = false;
        self.pending = None;
        self.streams.clear();
        self.out.clear();
    }

    /// Whether an update waits for its pictures (frames are held).
    pub fn waiting(&self) -> bool {
        self.pending.is_some()
    }

    /// Holds a session frame until the pending update is applied.
    pub fn hold(&mut self, payload: Vec<u8>) -> Result<(), VideoError> {
        self.held_bytes += payload.len();
        if self.held_bytes > MAX_HELD {
            return Err(VideoError::TooMuchHeld);
        }
        self.held.push_back(payload);
        Ok(())
    }

    /// The next held frame, once nothing is pending.
    pub fn next_held(&mut self) -> Option<Vec<u8>> {
        if self.waiting() {
            return None;
        }
        let p = self.held.pop_front()?;
        self.held_bytes -= p.len();
        Some(p)
    }

    /// The next frame for the page's decoders.
    pub fn take_chunk(&mut self) -> Option<Chunk> {
        self.out.pop_front()
    }

    /// Starts decoding `upd`'s video (the update is checked): a frame of a
    /// stream never started by a key frame refuses it, as the native
    /// framebuffer does, and nothing is queued.
    pub fn start(&mut self, upd: FrameUpdate, started: f64) -> Result<(), VideoError> {
        let mut streams = self.streams.clone();
        let mut chunks = Vec::with_capacity(upd.video.len());
        for v in &upd.video {
            let codec = if v.key {
                streams.retain(|s| *s != v.stream);
                if streams.len() >= MAX_STREAMS {
                    streams.remove(0);
                }
                streams.push(v.stream);
                codec_string(&v.h264)
                    .ok_or_else(|| VideoError::Frame(words::VIDEO_NO_SPS.into()))?
            } else if let Some(at) = streams.iter().position(|s| *s == v.stream) {
                let s = streams.remove(at);
                streams.push(s);
                String::new()
            } else {
                return Err(VideoError::Frame(
                    ScreenError::VideoWithoutKey(v.stream).to_string(),
                ));
            };
            self.next_ticket = self.next_ticket.wrapping_add(1);
            chunks.push(Chunk {
                ticket: self.next_ticket,
                stream: v.stream,
                key: v.key,
                width: v.w,
                height: v.h,
                codec,
                seq: upd.seq,
                data: v.h264.clone(),
            });
        }
        self.streams = streams;
        let tickets = chunks.iter().map(|c| c.ticket).collect();
        self.pending = Some(Pending {
            pictures: vec![None; upd.video.len()],
            waiting: chunks.len(),
            upd,
            started,
            tickets,
        });
        self.out.extend(chunks);
        Ok(())
    }

    /// The picture for `ticket`; the pending update once every picture
    /// is here. A ticket not pending (an update given up) is ignored.
    pub fn picture(
        &mut self,
        ticket: u32,
        decoded: Decoded<'_>,
    ) -> Result<Option<Pending>, VideoError> {
        let Some(p) = self.pending.as_mut() else {
            return Ok(None);
        };
        let Some(i) = p.tickets.iter().position(|t| *t == ticket) else {
            return Ok(None);
        };
        if p.pictures[i].is_some() {
            return Ok(None);
        }
        let v = &p.upd.video[i];
        if (decoded.width, decoded.height) != (v.w, v.h) {
            return Err(VideoError::Frame(format!(
                "{}: {}×{} where {}×{} was sent",
                words::VIDEO_BAD_PICTURE,
                decoded.width,
                decoded.height,
                v.w,
                v.h
            )));
        }
        p.pictures[i] = Some(decoded.to_i420().map_err(VideoError::Frame)?);
        p.waiting -= 1;
        self.shown += 1;
        Ok(if p.waiting == 0 {
            self.pending.take()
        } else {
            None
        })
    }

    /// Whether `ticket` is a frame of the update waiting for pictures.
    pub fn is_pending(&self, ticket: u32) -> bool {
        self.pending
            .as_ref()
            .is_some_and(|p| p.tickets.contains(&ticket))
    }
}

/// The WebCodecs codec string of a key frame: `avc1.` and the profile,
/// constraint flags and level of its sequence parameter set.
pub fn codec_string(h264: &[u8]) -> Option<String> {
    nal_units(h264)
        .find(|nal| nal.first().is_some_and(|b| b & 0x1f == 7) && nal.len() >= 4)
        .map(|sps| format!("avc1.{:02X}{:02X}{:02X}", sps[1], sps[2], sps[3]))
}

/// The NAL units of an Annex B byte stream (each without its start code).
fn nal_units(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let starts: Vec<usize> = (0..data.len().saturating_sub(2))
        .filter(|&i| data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1)
        .map(|i| i + 3)
        .collect();
    let ends: Vec<usize> = starts
        .iter()
        .skip(1)
        .map(|&s| {
            // The next unit's start code, and a zero byte before it.
            let e = s - 3;
            if e > 0 && data[e - 1] == 0 { e - 1 } else { e }
        })
        .chain(std::iter::once(data.len()))
        .collect();
    starts
        .into_iter()
        .zip(ends)
        .filter(|(s, e)| s < e)
        .map(move |(s, e)| &data[s..e])
}

#[cfg(test)]
mod tests;
