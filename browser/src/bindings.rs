//! The page's handle on a [`Client`]: wasm-bindgen exports taking and
//! giving bytes, strings and numbers. Errors become `Error`s with the
//! client's sentence; events go out as one JSON array per call.

use lifeline_session::messages::{InputEvent, Key, MouseButton, Quality, Showing, ViewerMsg};
use wasm_bindgen::prelude::*;

use crate::client::{Client, ClientError};
use crate::keys::{Held, key_events};
use crate::video::{Chunk, Decoded, Format};

#[cfg(target_arch = "wasm32")]
#[wasm_bindgen]
extern "C" {
    /// The page's monotonic clock, in milliseconds.
    #[wasm_bindgen(js_namespace = performance)]
    fn now() -> f64;
}

/// Outside a browser (the native tests) there is no page clock.
#[cfg(not(target_arch = "wasm32"))]
fn now() -> f64 {
    0.0
}

fn js(e: ClientError) -> JsError {
    JsError::new(&e.to_string())
}

/// One session, as the page holds it.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Viewer {
    client: Client,
}

#[wasm_bindgen]
impl Viewer {
    /// Checks the code as typed (and the reason, when one is given); the
    /// hello and join are then ready in `take_control`. `video`: the page
    /// decodes H.264 with WebCodecs (`take_video`, `video_picture`); else
    /// the host sends pictures.
    #[wasm_bindgen(constructor)]
    pub fn new(code: &str, token: &str, reason: &str, video: bool) -> Result<Viewer, JsError> {
        Ok(Viewer {
            client: Client::new_for(code, token, reason, video).map_err(js)?,
        })
    }

    /// The next video frame to decode, if any (after `session_bytes` and
    /// `video_picture`, until none is left).
    pub fn take_video(&mut self) -> Option<VideoChunk> {
        self.client.take_video().map(|c| VideoChunk { c })
    }

    /// The decoded picture of chunk `ticket`: `format` is
    /// `VideoFrame.format`, `layout` the planes' offsets and strides in
    /// `data` (`[offset, stride, …]`, as `copyTo` gives them).
    pub fn video_picture(
        &mut self,
        ticket: u32,
        format: &str,
        width: u32,
        height: u32,
        data: &[u8],
        layout: &[u32],
    ) -> Result<(), JsError> {
        let Some(format) = Format::from_word(format) else {
            let why = format!("{}: {format}", crate::words::VIDEO_FORMAT);
            return self.client.video_failed(&why, &now).map_err(js);
        };
        let planes: Vec<(usize, usize)> = layout
            .chunks_exact(2)
            .map(|p| (p[0] as usize, p[1] as usize))
            .collect();
        let decoded = Decoded {
            format,
            width,
            height,
            data,
            planes: &planes,
        };
        self.client.video_picture(ticket, decoded, &now).map_err(js)
    }

    /// Chunk `ticket`'s picture is overdue: video goes off if it is still
    /// awaited.
    pub fn video_late(&mut self, ticket: u32) -> Result<(), JsError> {
        self.client.video_late(ticket, &now).map_err(js)
    }

    /// The page's decoder failed (`reason`): video goes off.
    pub fn video_failed(&mut self, reason: &str) -> Result<(), JsError> {
        self.client.video_failed(reason, &now).map_err(js)
    }

    /// Video frames decoded and drawn so far.
    pub fn video_frames(&self) -> f64 {
        self.client.video_figures().0 as f64
    }

    /// Bytes to write on the control stream.
    pub fn take_control(&mut self) -> Vec<u8> {
        self.client.take_control()
    }

    /// Bytes to write on the session stream.
    pub fn take_session(&mut self) -> Vec<u8> {
        self.client.take_session()
    }

    /// Bytes read from the control stream.
    pub fn control_bytes(&mut self, bytes: &[u8]) -> Result<(), JsError> {
        self.client.control_bytes(bytes).map_err(js)
    }

    /// The host's session stream arrived.
    pub fn session_opened(&mut self) -> Result<(), JsError> {
        self.client.session_opened().map_err(js)
    }

    /// Bytes read from the session stream.
    pub fn session_bytes(&mut self, bytes: &[u8]) -> Result<(), JsError> {
        self.client.session_bytes(bytes, &now).map_err(js)
    }

    /// What happened since the last call, as a JSON array of events.
    pub fn events(&mut self) -> String {
        let mut all = Vec::new();
        while let Some(e) = self.client.poll_event() {
            all.push(e);
        }
        serde_json::to_string(&all).unwrap_or_else(|_| "[]".into())
    }

    /// The remote screen's width (0 before the first whole frame).
    pub fn width(&self) -> u32 {
        self.client.size().map_or(0, |s| s.0)
    }

    /// The remote screen's height (0 before the first whole frame).
    pub fn height(&self) -> u32 {
        self.client.size().map_or(0, |s| s.1)
    }

    /// Brings the RGBA picture up to date and returns the rectangle that
    /// changed as `[x, y, w, h]` (empty when nothing did); the picture is
    /// `width × height × 4` bytes at [`Viewer::rgba_ptr`] in the module's
    /// memory, which the page wraps in an `ImageData` without copying.
    pub fn refresh(&mut self) -> Vec<u32> {
        self.client
            .refresh_rgba()
            .map_or_else(Vec::new, |(x, y, w, h)| vec![x, y, w, h])
    }

    /// Where the RGBA picture starts in the module's memory.
    pub fn rgba_ptr(&self) -> *const u8 {
        self.client.rgba().as_ptr()
    }

    /// Sealed bytes received so far.
    pub fn bytes_received(&self) -> f64 {
        self.client.figures().0 as f64
    }

    /// Updates applied so far.
    pub fn updates(&self) -> f64 {
        self.client.figures().1 as f64
    }

    /// A key went down or up; `true` when it was sent (the page then
    /// keeps it from the browser).
    #[allow(clippy::too_many_arguments)]
    pub fn key(
        &mut self,
        key: &str,
        code: &str,
        down: bool,
        ctrl: bool,
        alt: bool,
        shift: bool,
        meta: bool,
    ) -> Result<bool, JsError> {
        let held = Held {
            ctrl,
            alt,
            shift,
            meta,
        };
        let events = key_events(key, code, down, held);
        let sent = !events.is_empty();
        for ev in events {
            self.client.input(ev).map_err(js)?;
        }
        Ok(sent)
    }

    /// A key chord from the key menu (`ctrl+alt+Delete`, `super`): each
    /// key pressed in order, then released in reverse.
    pub fn chord(&mut self, chord: &str) -> Result<(), JsError> {
        let keys = Key::parse_chord(chord).map_err(|e| JsError::new(&e.to_string()))?;
        for k in &keys {
            self.client
                .input(InputEvent::Key {
                    key: *k,
                    down: true,
                })
                .map_err(js)?;
        }
        for k in keys.iter().rev() {
            self.client
                .input(InputEvent::Key {
                    key: *k,
                    down: false,
                })
                .map_err(js)?;
        }
        Ok(())
    }

    /// Text typed or pasted as a whole.
    pub fn text(&mut self, text: &str) -> Result<(), JsError> {
        self.client.input(InputEvent::Text(text.into())).map_err(js)
    }

    /// The pointer is over remote pixel (`x`, `y`).
    pub fn pointer(&mut self, x: u32, y: u32) -> Result<(), JsError> {
        self.client.input(InputEvent::Move { x, y }).map_err(js)
    }

    /// A button (0 left, 1 middle, 2 right: `MouseEvent.button`).
    pub fn button(&mut self, button: u8, down: bool) -> Result<(), JsError> {
        let button = match button {
            0 => MouseButton::Left,
            1 => MouseButton::Middle,
            2 => MouseButton::Right,
            _ => return Ok(()),
        };
        self.client
            .input(InputEvent::Button { button, down })
            .map_err(js)
    }

    /// Wheel notches; positive is down or right.
    pub fn wheel(&mut self, dx: i32, dy: i32) -> Result<(), JsError> {
        self.client.input(InputEvent::Wheel { dx, dy }).map_err(js)
    }

    /// `auto`, `speed`, `balanced` or `exact`.
    pub fn quality(&mut self, word: &str) -> Result<(), JsError> {
        let q = [
            Quality::Auto,
            Quality::Speed,
            Quality::Balanced,
            Quality::Exact,
        ]
        .into_iter()
        .find(|q| q.as_str() == word)
        .ok_or_else(|| JsError::new(&format!("unknown quality {word:?}")))?;
        self.client.quality(q).map_err(js)
    }

    /// `primary`, `all`, or a monitor's number from 0.
    pub fn show(&mut self, which: &str) -> Result<(), JsError> {
        let showing = match which {
            "primary" => Showing::Primary,
            "all" => Showing::All,
            n => Showing::Monitor(
                n.parse()
                    .map_err(|_| JsError::new(&format!("unknown monitor {n:?}")))?,
            ),
        };
        self.client.send(&ViewerMsg::Show(showing)).map_err(js)
    }

    /// A message for the user at the host.
    pub fn chat(&mut self, text: &str) -> Result<(), JsError> {
        self.client.send(&ViewerMsg::Chat(text.into())).map_err(js)
    }

    /// Asks for the host's clipboard text (a `clipboard` event answers).
    pub fn clipboard_get(&mut self) -> Result<(), JsError> {
        self.client.send(&ViewerMsg::ClipboardGet).map_err(js)
    }

    /// Puts text on the host's clipboard.
    pub fn clipboard_set(&mut self, text: &str) -> Result<(), JsError> {
        self.client
            .send(&ViewerMsg::ClipboardSet(text.into()))
            .map_err(js)
    }

    /// Starts putting a file (`name`, `size` bytes) in the user's download
    /// folder; returns its id. Open a stream and write `take_transfer(id)`.
    pub fn start_put(&mut self, name: &str, size: f64) -> Result<u32, JsError> {
        self.client.start_put(name, size as u64).map_err(js)
    }

    /// The put's next piece of the file (at most 64 KiB).
    pub fn put_chunk(&mut self, id: u32, bytes: &[u8]) -> Result<(), JsError> {
        self.client
            .transfer(id)
            .map_err(js)?
            .put_chunk(bytes)
            .map_err(js)
    }

    /// The put's file is all sent.
    pub fn put_end(&mut self, id: u32) -> Result<(), JsError> {
        self.client.transfer(id).map_err(js)?.end_put().map_err(js)
    }

    /// Starts fetching the file at `path` on the user's machine.
    pub fn start_get(&mut self, path: &str) -> Result<u32, JsError> {
        self.client.start_get(path).map_err(js)
    }

    /// Bytes to write on transfer `id`'s stream.
    pub fn take_transfer(&mut self, id: u32) -> Vec<u8> {
        self.client.take_transfer(id)
    }

    /// Bytes read from transfer `id`'s stream.
    pub fn transfer_bytes(&mut self, id: u32, bytes: &[u8]) -> Result<(), JsError> {
        self.client.transfer_bytes(id, bytes).map_err(js)
    }

    /// The fetched bytes of transfer `id` not taken yet.
    pub fn take_fetched(&mut self, id: u32) -> Vec<u8> {
        self.client.take_fetched(id)
    }

    /// The technician ends the session.
    pub fn bye(&mut self, reason: &str) -> Result<(), JsError> {
        self.client.send(&ViewerMsg::Bye(reason.into())).map_err(js)
    }
}

/// Whether `code` is a session code as typed: empty when it is, else the
/// sentence saying what is wrong (the page says it under the field).
#[wasm_bindgen]
pub fn check_code(code: &str) -> String {
    match code.parse::<lifeline_proto::SessionCode>() {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    }
}

/// One video frame for the page's decoder of its stream.
#[wasm_bindgen]
#[derive(Debug)]
pub struct VideoChunk {
    c: Chunk,
}

#[wasm_bindgen]
impl VideoChunk {
    /// Names the frame when its picture is handed back.
    #[wasm_bindgen(getter)]
    pub fn ticket(&self) -> u32 {
        self.c.ticket
    }

    /// The stream (one decoder each).
    #[wasm_bindgen(getter)]
    pub fn stream(&self) -> u32 {
        self.c.stream
    }

    /// A key frame: a new decoder for the stream, configured with `codec`.
    #[wasm_bindgen(getter)]
    pub fn key(&self) -> bool {
        self.c.key
    }

    #[wasm_bindgen(getter)]
    pub fn width(&self) -> u32 {
        self.c.width
    }

    #[wasm_bindgen(getter)]
    pub fn height(&self) -> u32 {
        self.c.height
    }

    /// `avc1.PPCCLL` on a key frame, else empty.
    #[wasm_bindgen(getter)]
    pub fn codec(&self) -> String {
        self.c.codec.clone()
    }

    /// The chunk's timestamp (the update's number).
    #[wasm_bindgen(getter)]
    pub fn timestamp(&self) -> f64 {
        self.c.seq as f64
    }

    /// The access unit, Annex B.
    #[wasm_bindgen(getter)]
    pub fn data(&self) -> Vec<u8> {
        self.c.data.clone()
    }
}
