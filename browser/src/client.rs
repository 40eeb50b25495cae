//! One browser viewer's session, sans-IO: the page moves bytes between
//! this and its WebTransport streams, and the clock is passed in.
//!
//! On the control stream it says hello and joins (as the native viewer's
//! `ViewerLink` does); on the session stream the host opens it runs the
//! key exchange of [`lifeline_session::e2e`] and then opens, unpacks and
//! decodes every [`HostMsg`], sealing every [`ViewerMsg`] it sends: the
//! same code, byte for byte, as `lifeline-net`'s secure channel. What the
//! page must show comes out as [`Event`]s.

use std::collections::VecDeque;

use lifeline_proto::SessionCode;
use lifeline_proto::control::{Hello, Mode, PROTOCOL_VERSION, Role, ViewerEvent, ViewerRequest};
use lifeline_proto::frame::{self, FrameDecoder as Decoder, FrameError, MAX_CONTROL_FRAME};
use lifeline_session::e2e::{self, E2eError, FilesRoot, Handshake, Opener, Sealer, Side};
use lifeline_session::messages::{
    HostMsg, InputEvent, MAX_HIDDEN_BOXES, MAX_VIEWER_FRAME, Quality, Showing, ViewerMsg,
    max_frame_from,
};
use lifeline_session::screen::{FrameUpdate, Framebuffer};
use lifeline_session::squeeze::{self, Packer, SqueezeError, Unpacker};

use crate::transfer::Transfer;
use crate::video::{Chunk, Decoded, Pending, Video, VideoError};
use serde::Serialize;

/// Why the session cannot go on; each is one sentence for the page.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    Code(String),
    #[error("the relay sent a malformed message: {0}")]
    Control(FrameError),
    #[error("the host sent a malformed message: {0}")]
    Frame(#[from] FrameError),
    #[error(transparent)]
    E2e(#[from] E2eError),
    #[error("session compression failed: {0}")]
    Squeeze(#[from] SqueezeError),
    #[error("the relay answered out of turn: {0}")]
    OutOfTurn(String),
    #[error("the host's stream came before the relay paired the session")]
    Early,
    #[error("the session has ended")]
    Ended,
    #[error("file transfer: {0}")]
    Transfer(String),
    #[error(transparent)]
    Video(#[from] VideoError),
    #[error("a reason is at most 256 characters, on one line")]
    Reason,
}

/// What the page shows, in the order it happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The relay paired us with the host; the user there is asked now.
    Joined {
        host_name: String,
        os_user: String,
    },
    /// The relay refused the join, with the sentence for the technician.
    Refused {
        reason: String,
    },
    /// The user at the host answered (or changed their answer).
    Mode {
        mode: &'static str,
    },
    /// The remote screen changed (its size, when known).
    Screen {
        width: u32,
        height: u32,
    },
    /// The remote pointer moved.
    Cursor {
        x: i32,
        y: i32,
    },
    Chat {
        text: String,
    },
    /// The host's clipboard text, as asked.
    Clipboard {
        text: String,
    },
    /// The host put our text on its clipboard.
    ClipboardSet,
    /// The host refused a request, and why.
    HostRefused {
        reason: String,
    },
    /// The host's monitors: how many, and which is shown.
    Monitors {
        names: Vec<String>,
        showing: String,
    },
    /// The page's video decoding failed: moving regions come as pictures
    /// from now on.
    VideoOff {
        reason: String,
    },
    /// The host's screen cannot be shown now (`None`: it can again).
    Withheld {
        reason: Option<&'static str>,
    },
    /// The user hides this many parts of the picture (their private
    /// windows, blank in the frames); 0: none.
    Hidden {
        boxes: usize,
    },
    /// Input not sent, and why.
    NotSent {
        reason: String,
    },
    /// The session is over.
    Ended {
        reason: String,
    },
    /// The host takes the put: send its bytes.
    FileReady {
        id: u32,
    },
    /// The put file is saved on the user's machine, there.
    FileSaved {
        id: u32,
        path: String,
    },
    /// The host refused the transfer, or it failed there, and why.
    FileRefused {
        id: u32,
        reason: String,
    },
    /// The fetched file's name and size; its bytes follow.
    FileOffer {
        id: u32,
        name: String,
        size: u64,
    },
    /// Bytes of the fetched file arrived (`got` so far).
    FileData {
        id: u32,
        got: u64,
    },
    /// The fetched file is all here, and whether its SHA-256 matched.
    FileFetched {
        id: u32,
        name: String,
        ok: bool,
    },
}

/// Where the end-to-end channel stands.
#[derive(Debug)]
enum Secure {
    /// Not started: the host has not opened its stream.
    Waiting,
    /// Our key share is sent; theirs is awaited.
    Exchanging(Handshake),
    /// Keys made; the host's confirmation is awaited.
    Confirming {
        sealer: Sealer,
        opener: Opener,
        expected: &'static [u8],
        files: FilesRoot,
    },
    Open {
        sealer: Sealer,
        opener: Opener,
    },
    Failed,
}

/// One browser viewer's session.
#[derive(Debug)]
pub struct Client {
    code: SessionCode,
    control_in: Decoder,
    control_out: Vec<u8>,
    session: Option<String>,
    secure: Secure,
    session_in: Decoder,
    session_out: Vec<u8>,
    packer: Packer,
    unpacker: Unpacker,
    fb: Framebuffer,
    mode: Option<Mode>,
    events: VecDeque<Event>,
    /// The screen as the canvas takes it (RGBA), kept up to date where
    /// updates changed it.
    rgba: Vec<u8>,
    /// What changed since the RGBA copy was last brought up to date
    /// (x0, y0, x1, y1), if anything.
    dirty: Option<(u32, u32, u32, u32)>,
    /// Sealed bytes received, for the page's figures.
    received: u64,
    /// Keys for file transfers, once the channel is open.
    files: Option<FilesRoot>,
    transfers: std::collections::HashMap<u32, Transfer>,
    next_transfer: u32,
    updates: u64,
    /// Video the page decodes, and the update waiting for it.
    video: Video,
}

impl Client {
    /// A join of `code` with the technician's `token`: the hello and the
    /// join are ready in [`Client::take_control`] at once. The code is
    /// checked as typed (its check digit), before anything is sent.
    /// `video`: the page decodes H.264 itself (WebCodecs), through
    /// [`Client::take_video`] and [`Client::video_picture`]; without, the
    /// host is told to send moving regions as pictures.
    pub fn new(code: &str, token: &str, video: bool) -> Result<Self, ClientError> {
        Self::new_for(code, token, "", video)
    }

    /// [`Client::new`] giving why the technician joins (the page's Reason
    /// field): empty joins without one; one that is not a reason (over
    /// 256 characters, not one line) is refused here, before anything is
    /// sent.
    pub fn new_for(
        code: &str,
        token: &str,
        reason: &str,
        video: bool,
    ) -> Result<Self, ClientError> {
        let reason = reason.trim();
        if !reason.is_empty() && !lifeline_proto::devices::valid_reason(reason) {
            return Err(ClientError::Reason);
        }
        let code: SessionCode = code
            .parse()
            .map_err(|e: lifeline_proto::code::CodeError| ClientError::Code(e.to_string()))?;
        let mut control_out = frame::encode(
            &Hello {
                version: PROTOCOL_VERSION,
                role: Role::Viewer,
            },
            MAX_CONTROL_FRAME,
        )
        .map_err(ClientError::Control)?;
        let join = if reason.is_empty() {
            ViewerRequest::Join {
                token: token.trim().into(),
                locator: code.locator(),
            }
        } else {
            ViewerRequest::JoinFor {
                token: token.trim().into(),
                locator: code.locator(),
                reason: reason.into(),
            }
        };
        control_out.extend(frame::encode(&join, MAX_CONTROL_FRAME).map_err(ClientError::Control)?);
        Ok(Self {
            code,
            control_in: Decoder::new(MAX_CONTROL_FRAME),
            control_out,
            session: None,
            secure: Secure::Waiting,
            session_in: Decoder::new(max_frame_from(Side::Host)),
            session_out: Vec::new(),
            packer: Packer::new(),
            unpacker: Unpacker::new(max_frame_from(Side::Host)),
            fb: Framebuffer::new(),
            mode: None,
            events: VecDeque::new(),
            rgba: Vec::new(),
            dirty: None,
            received: 0,
            updates: 0,
            files: None,
            transfers: std::collections::HashMap::new(),
            next_transfer: 1,
            video: Video::new(video),
        })
    }

    /// Bytes for the control stream.
    pub fn take_control(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.control_out)
    }

    /// Bytes for the session stream.
    pub fn take_session(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.session_out)
    }

    /// The next thing to show, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Bytes the relay sent on the control stream.
    pub fn control_bytes(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.control_in.push(bytes);
        while let Some(payload) = self.control_in.next_frame().map_err(ClientError::Control)? {
            let event: ViewerEvent = frame::decode(&payload).map_err(ClientError::Control)?;
            match event {
                ViewerEvent::Joined {
                    session,
                    host_name,
                    os_user,
                } if self.session.is_none() => {
                    self.session = Some(session);
                    self.events.push_back(Event::Joined { host_name, os_user });
                }
                ViewerEvent::Refused(r) => self.events.push_back(Event::Refused {
                    reason: r.to_string(),
                }),
                other => return Err(ClientError::OutOfTurn(format!("{other:?}"))),
            }
        }
        Ok(())
    }

    /// The host opened the session stream: our key share goes first.
    pub fn session_opened(&mut self) -> Result<(), ClientError> {
        let session = self.session.as_deref().ok_or(ClientError::Early)?;
        let (hs, mine) = e2e::start(Side::Viewer, &self.code, session);
        self.secure = Secure::Exchanging(hs);
        self.frame_out(&mine)
    }

    /// Bytes the host sent on the session stream. `clock_ms` reads a
    /// monotonic clock (milliseconds) to time each update's decoding,
    /// which the host subtracts when it times the link.
    pub fn session_bytes(
        &mut self,
        bytes: &[u8],
        clock_ms: &dyn Fn() -> f64,
    ) -> Result<(), ClientError> {
        self.session_in.push(bytes);
        while let Some(payload) = self.session_in.next_frame()? {
            self.received += (payload.len() + frame::HEADER_LEN) as u64;
            if self.video.waiting() {
                // In order, after the update the page is decoding.
                self.video.hold(payload)?;
            } else {
                self.one_frame(payload, clock_ms)?;
            }
        }
        Ok(())
    }

    /// Takes one session frame; a failure ends the channel.
    fn one_frame(
        &mut self,
        payload: Vec<u8>,
        clock_ms: &dyn Fn() -> f64,
    ) -> Result<(), ClientError> {
        let result = self.session_frame(payload, clock_ms);
        if result.is_err() {
            self.secure = Secure::Failed;
        }
        result
    }

    /// Takes the frames held while video was decoded, until another
    /// update waits for its pictures.
    fn drain_held(&mut self, clock_ms: &dyn Fn() -> f64) -> Result<(), ClientError> {
        while let Some(payload) = self.video.next_held() {
            self.one_frame(payload, clock_ms)?;
        }
        Ok(())
    }

    fn session_frame(
        &mut self,
        payload: Vec<u8>,
        clock_ms: &dyn Fn() -> f64,
    ) -> Result<(), ClientError> {
        match std::mem::replace(&mut self.secure, Secure::Failed) {
            Secure::Exchanging(hs) => {
                let keys = hs.finish(&payload)?;
                let mut sealer = keys.sealer;
                let confirm = sealer.seal(keys.my_confirm)?;
                self.frame_out(&confirm)?;
                self.secure = Secure::Confirming {
                    sealer,
                    opener: keys.opener,
                    expected: keys.their_confirm,
                    files: keys.files,
                };
            }
            Secure::Confirming {
                sealer,
                mut opener,
                expected,
                files,
            } => {
                opener.open_confirm(&payload, expected)?;
                self.files = Some(files);
                self.secure = Secure::Open { sealer, opener };
                if !self.video.is_on() {
                    // No H.264 here: the host sends moving regions otherwise.
                    self.send(&ViewerMsg::NoVideo)?;
                }
            }
            Secure::Open { sealer, mut opener } => {
                let opened = opener.open_owned(payload);
                self.secure = Secure::Open { sealer, opener };
                let packed = opened?;
                let msg: HostMsg = frame::decode(self.unpacker.unpack(&packed)?)?;
                self.handle(msg, clock_ms)?;
            }
            Secure::Waiting => return Err(ClientError::Early),
            Secure::Failed => return Err(ClientError::Ended),
        }
        Ok(())
    }

    fn handle(&mut self, msg: HostMsg, clock_ms: &dyn Fn() -> f64) -> Result<(), ClientError> {
        let event = match msg {
            HostMsg::Mode(m) => {
                self.mode = Some(m);
                Event::Mode { mode: m.as_str() }
            }
            HostMsg::Frame(upd) if !upd.video.is_empty() && self.video.is_on() => {
                return self.video_update(upd, clock_ms);
            }
            HostMsg::Frame(upd) => return self.update(&upd, clock_ms),
            HostMsg::Cursor { x, y } => Event::Cursor { x, y },
            HostMsg::Clipboard(text) => Event::Clipboard { text },
            HostMsg::ClipboardSet => Event::ClipboardSet,
            HostMsg::Refused(reason) => Event::HostRefused { reason },
            HostMsg::Chat(text) => Event::Chat { text },
            HostMsg::Monitors { monitors, showing } => Event::Monitors {
                names: monitors.into_iter().map(|m| m.name).collect(),
                showing: match showing {
                    Showing::Primary => "primary".into(),
                    Showing::All => "all".into(),
                    Showing::Monitor(n) => n.to_string(),
                },
            },
            HostMsg::Withheld(why) => Event::Withheld {
                reason: why.map(|w| w.as_str()),
            },
            HostMsg::Hidden(boxes) => Event::Hidden {
                boxes: boxes.len().min(MAX_HIDDEN_BOXES),
            },
        };
        self.events.push_back(event);
        Ok(())
    }

    /// Applies an update and acknowledges it with how long it took; one
    /// that does not apply asks for a whole frame instead.
    fn update(&mut self, upd: &FrameUpdate, clock_ms: &dyn Fn() -> f64) -> Result<(), ClientError> {
        let started = clock_ms();
        let applied = self.fb.apply(upd).is_ok();
        // Also when it failed halfway: what it changed must be redrawn.
        self.mark_dirty(upd);
        self.acknowledge(upd.seq, started, applied, clock_ms)
    }

    /// Says how long update `seq` took from `started`, or asks for a
    /// whole frame when it did not apply.
    fn acknowledge(
        &mut self,
        seq: u64,
        started: f64,
        applied: bool,
        clock_ms: &dyn Fn() -> f64,
    ) -> Result<(), ClientError> {
        let busy_us = ((clock_ms() - started).max(0.0) * 1000.0) as u32;
        let reply = if applied {
            ViewerMsg::Decoded { seq, busy_us }
        } else {
            ViewerMsg::RequestFull
        };
        self.send(&reply)?;
        self.updates += 1;
        if let Some(img) = self.fb.image() {
            self.events.push_back(Event::Screen {
                width: img.width,
                height: img.height,
            });
        }
        Ok(())
    }

    /// An update with video: checked, then held while the page decodes its
    /// frames ([`Client::take_video`]). One that cannot play (outside the
    /// screen, or a stream without its key frame) asks for a whole frame
    /// at once, nothing drawn.
    fn video_update(
        &mut self,
        upd: FrameUpdate,
        clock_ms: &dyn Fn() -> f64,
    ) -> Result<(), ClientError> {
        let started = clock_ms();
        let playable = self.fb.check(&upd).is_ok() && self.video.start(upd, started).is_ok();
        if !playable {
            self.send(&ViewerMsg::RequestFull)?;
        }
        Ok(())
    }

    /// The next video frame for the page's decoder of its stream.
    pub fn take_video(&mut self) -> Option<Chunk> {
        self.video.take_chunk()
    }

    /// The page's decoder gave the picture of `ticket`; once the waiting
    /// update has all its pictures it is applied, and the frames held
    /// meanwhile follow. A picture that cannot be read turns video off.
    pub fn video_picture(
        &mut self,
        ticket: u32,
        decoded: Decoded<'_>,
        clock_ms: &dyn Fn() -> f64,
    ) -> Result<(), ClientError> {
        match self.video.picture(ticket, decoded) {
            Ok(Some(pending)) => {
                self.finish_video(&pending, clock_ms)?;
                self.drain_held(clock_ms)
            }
            Ok(None) => Ok(()),
            Err(e) => self.video_failed(&e.to_string(), clock_ms),
        }
    }

    fn finish_video(&mut self, p: &Pending, clock_ms: &dyn Fn() -> f64) -> Result<(), ClientError> {
        let applied = self
            .fb
            .apply_with(&p.upd, &mut |img, i, _| p.draw(img, i))
            .is_ok();
        self.mark_dirty(&p.upd);
        self.acknowledge(p.upd.seq, p.started, applied, clock_ms)
    }

    /// `ticket`'s picture is overdue (the page's timer): video is off.
    pub fn video_late(
        &mut self,
        ticket: u32,
        clock_ms: &dyn Fn() -> f64,
    ) -> Result<(), ClientError> {
        if self.video.is_pending(ticket) {
            return self.video_failed(crate::words::VIDEO_LATE, clock_ms);
        }
        Ok(())
    }

    /// The page's video decoding failed (`reason`): the waiting update is
    /// given up, the host is asked for a whole frame and for pictures
    /// instead of video, and the held frames follow.
    pub fn video_failed(
        &mut self,
        reason: &str,
        clock_ms: &dyn Fn() -> f64,
    ) -> Result<(), ClientError> {
        if !self.video.is_on() {
            return Ok(());
        }
        self.video.turn_off();
        self.send(&ViewerMsg::NoVideo)?;
        self.send(&ViewerMsg::RequestFull)?;
        self.events.push_back(Event::VideoOff {
            reason: reason.into(),
        });
        self.drain_held(clock_ms)
    }

    /// Adds what `upd` changed to the rectangle the RGBA copy must redo.
    fn mark_dirty(&mut self, upd: &FrameUpdate) {
        let rects = upd
            .tiles
            .iter()
            .map(|t| (t.x, t.y, t.w, t.h))
            .chain(upd.copies.iter().map(|c| (c.x, c.y, c.w, c.h)))
            .chain(upd.pictures.iter().map(|p| (p.x, p.y, p.w, p.h)))
            .chain(upd.photos.iter().map(|p| (p.x, p.y, p.w, p.h)))
            .chain(upd.video.iter().map(|v| (v.x, v.y, v.w, v.h)));
        let whole = (0, 0, upd.width, upd.height);
        let changed = if upd.full {
            Some(whole)
        } else {
            rects.fold(None, |acc: Option<(u32, u32, u32, u32)>, (x, y, w, h)| {
                let r = (x, y, x.saturating_add(w), y.saturating_add(h));
                Some(acc.map_or(r, |a| {
                    (a.0.min(r.0), a.1.min(r.1), a.2.max(r.2), a.3.max(r.3))
                }))
            })
        };
        if let Some(r) = changed {
            self.dirty = Some(self.dirty.map_or(r, |d| {
                (d.0.min(r.0), d.1.min(r.1), d.2.max(r.2), d.3.max(r.3))
            }));
        }
    }

    /// Sends one input event, unless the user allowed view only.
    pub fn input(&mut self, ev: InputEvent) -> Result<(), ClientError> {
        if self.mode != Some(Mode::Control) {
            self.events.push_back(Event::NotSent {
                reason: crate::words::VIEW_ONLY.into(),
            });
            return Ok(());
        }
        if ev.check().is_err() {
            return Ok(());
        }
        self.send(&ViewerMsg::Input(ev))
    }

    /// Seals and queues one message for the host (once the channel is open;
    /// before, there is nobody to send it to and it is dropped).
    pub fn send(&mut self, msg: &ViewerMsg) -> Result<(), ClientError> {
        let Secure::Open { sealer, .. } = &mut self.secure else {
            return Ok(());
        };
        let mut buf = vec![squeeze::PLAIN];
        frame::serialize_append(msg, &mut buf, e2e::TAG_LEN)?;
        self.packer.pack(&mut buf, e2e::TAG_LEN)?;
        sealer.seal_in_place(&mut buf)?;
        self.frame_out(&buf)
    }

    /// Starts a put of `name` (`size` bytes) to the user's download
    /// folder; the page opens a stream for the id it returns and writes
    /// [`Client::take_transfer`] there.
    pub fn start_put(&mut self, name: &str, size: u64) -> Result<u32, ClientError> {
        let id = self.next_transfer_id()?;
        let root = self.files.as_ref().ok_or(ClientError::Early)?;
        self.transfers
            .insert(id, Transfer::put(root, id, name, size)?);
        Ok(id)
    }

    /// Starts fetching the file at `path` on the user's machine.
    pub fn start_get(&mut self, path: &str) -> Result<u32, ClientError> {
        let id = self.next_transfer_id()?;
        let root = self.files.as_ref().ok_or(ClientError::Early)?;
        self.transfers.insert(id, Transfer::get(root, id, path)?);
        Ok(id)
    }

    fn next_transfer_id(&mut self) -> Result<u32, ClientError> {
        let id = self.next_transfer;
        self.next_transfer = id
            .checked_add(1)
            .ok_or_else(|| ClientError::Transfer("too many transfers".into()))?;
        Ok(id)
    }

    /// Transfer `id`, while it is known.
    pub fn transfer(&mut self, id: u32) -> Result<&mut Transfer, ClientError> {
        self.transfers
            .get_mut(&id)
            .ok_or_else(|| ClientError::Transfer(format!("no transfer {id}")))
    }

    /// Bytes for transfer `id`'s stream.
    pub fn take_transfer(&mut self, id: u32) -> Vec<u8> {
        self.transfers
            .get_mut(&id)
            .map_or_else(Vec::new, Transfer::take_out)
    }

    /// Bytes the host sent on transfer `id`'s stream.
    pub fn transfer_bytes(&mut self, id: u32, bytes: &[u8]) -> Result<(), ClientError> {
        let mut events = Vec::new();
        let result = self.transfer(id)?.bytes_in(bytes, &mut events);
        self.events.extend(events);
        result
    }

    /// Fetched bytes of transfer `id` not taken yet; a transfer that is
    /// over is forgotten once its bytes are taken.
    pub fn take_fetched(&mut self, id: u32) -> Vec<u8> {
        let Some(t) = self.transfers.get_mut(&id) else {
            return Vec::new();
        };
        let data = t.take_data();
        if t.is_over() {
            self.transfers.remove(&id);
        }
        data
    }

    /// The technician's quality preference.
    pub fn quality(&mut self, q: Quality) -> Result<(), ClientError> {
        self.send(&ViewerMsg::Quality(q))
    }

    fn frame_out(&mut self, payload: &[u8]) -> Result<(), ClientError> {
        let framed = frame::encode_raw(payload, MAX_VIEWER_FRAME)?;
        self.session_out.extend_from_slice(&framed);
        Ok(())
    }

    /// The mode the user allows, once they answered.
    pub fn mode(&self) -> Option<Mode> {
        self.mode
    }

    /// The remote screen's size, once a whole frame arrived.
    pub fn size(&self) -> Option<(u32, u32)> {
        self.fb.image().map(|i| (i.width, i.height))
    }

    /// Brings the RGBA copy of the remote screen (what a canvas's
    /// `ImageData` takes, `width × height × 4` bytes) up to date where it
    /// changed, and returns that rectangle (x, y, w, h), if anything did.
    pub fn refresh_rgba(&mut self) -> Option<(u32, u32, u32, u32)> {
        let img = self.fb.image()?;
        let (x0, y0, x1, y1) = self.dirty.take()?;
        let whole = img.pixels.len() * 4;
        let (x0, y0, x1, y1) = if self.rgba.len() != whole {
            self.rgba.resize(whole, 0);
            (0, 0, img.width, img.height)
        } else {
            (x0, y0, x1.min(img.width), y1.min(img.height))
        };
        let w = img.width as usize;
        for y in y0 as usize..y1 as usize {
            let row = y * w;
            let (a, b) = (row + x0 as usize, row + x1 as usize);
            for (out, px) in self.rgba[a * 4..b * 4]
                .chunks_exact_mut(4)
                .zip(&img.pixels[a..b])
            {
                let [b, g, r, _] = px.to_le_bytes();
                out.copy_from_slice(&[r, g, b, 255]);
            }
        }
        Some((x0, y0, x1 - x0, y1 - y0))
    }

    /// The RGBA copy as [`Client::refresh_rgba`] left it.
    pub fn rgba(&self) -> &[u8] {
        &self.rgba
    }

    /// Sealed bytes received on the session stream, and updates applied.
    pub fn figures(&self) -> (u64, u64) {
        (self.received, self.updates)
    }

    /// Video frames the page decoded and drawn, and whether it still
    /// decodes video.
    pub fn video_figures(&self) -> (u64, bool) {
        (self.video.shown, self.video.is_on())
    }
}

#[cfg(test)]
mod tests;
