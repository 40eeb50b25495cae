//! The browser viewer's client (`lifeline-browser`) fed what a relay or a
//! host could send: the first byte picks where the bytes go, the second
//! where they are cut in two.
//!   0: the control stream of a fresh client (then the session stream is
//!      opened, early or not);
//!   1: the session stream once joined and opened (where the host's key
//!      share is due);
//!   2: after a real key exchange with a host, each `[u16 BE length][bytes]`
//!      is sealed by the host as it is (a compression flag and a body, as
//!      if its packer made them), so the client opens it and reaches the
//!      unpacker, the message decoder and the framebuffer;
//!   3: a file transfer after a real key exchange (a get, or a put when the
//!      cut byte is odd): with bit 1 of the cut clear each
//!      `[u16 BE length][bytes]` is sealed with the transfer's own keys as
//!      the host would (reaching the unpacker and the transfer's turns),
//!      with it set the rest goes on the transfer stream as it is;
//!   4: as 2, the page decoding video: each frame it asks to decode gets a
//!      flat picture of its size back (or, when the cut byte is odd, is
//!      overdue), reaching the held update, the frames held behind it and
//!      the drawing of pictures.
//! Seeds: `cargo test -p lifeline-browser -- --ignored write_fuzz_seeds`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lifeline_browser::client::Client;
use lifeline_browser::video::{Decoded, Format};
use lifeline_proto::SessionCode;
use lifeline_proto::code::Locator;
use lifeline_proto::control::ViewerEvent;
use lifeline_proto::frame::{self, FrameDecoder, MAX_CONTROL_FRAME};
use lifeline_session::e2e::{self, FilesRoot, Side};
use lifeline_session::files::MAX_FILE_FRAME;
use lifeline_session::messages::{InputEvent, max_frame_from};

const SESSION: &str = "s-1";

fn code() -> SessionCode {
    SessionCode::new(Locator::new(12_345).expect("locator"), 678_901).expect("code")
}

fn clock() -> f64 {
    0.0
}

fn joined() -> Client {
    joined_with(false)
}

fn joined_with(video: bool) -> Client {
    let mut client =
        Client::new(&code().to_string(), "tech-token", video).expect("a valid code");
    let joined = ViewerEvent::Joined {
        session: SESSION.into(),
        host_name: "desk".into(),
        os_user: "ada".into(),
    };
    let bytes = frame::encode(&joined, MAX_CONTROL_FRAME).expect("encodes");
    client.control_bytes(&bytes).expect("joined");
    client.session_opened().expect("opened");
    client
}

/// Feeds `rest` in two pieces, cut at `cut`.
fn halves(cut: u8, rest: &[u8], mut feed: impl FnMut(&[u8]) -> bool) {
    let at = usize::from(cut).min(rest.len());
    if feed(&rest[..at]) {
        feed(&rest[at..]);
    }
}

/// Runs the key exchange as `lifeline-net`'s host does; the host's sealer
/// and files root.
fn secure(client: &mut Client) -> (e2e::Sealer, FilesRoot) {
    let (hs, mine) = e2e::start(Side::Host, &code(), SESSION);
    let share = frame::encode_raw(&mine, max_frame_from(Side::Host)).expect("frames");
    client.session_bytes(&share, &clock).expect("share");
    let mut from_client = FrameDecoder::new(max_frame_from(Side::Viewer));
    from_client.push(&client.take_session());
    let theirs = from_client.next_frame().expect("frame").expect("share");
    let keys = hs.finish(&theirs).expect("same code");
    let (mut sealer, mut opener) = (keys.sealer, keys.opener);
    let confirm = from_client.next_frame().expect("frame").expect("confirm");
    opener
        .open_confirm(&confirm, keys.their_confirm)
        .expect("the client confirms the same code");
    let mine = sealer.seal(keys.my_confirm).expect("seals");
    let mine = frame::encode_raw(&mine, max_frame_from(Side::Host)).expect("frames");
    client.session_bytes(&mine, &clock).expect("confirmed");
    (sealer, keys.files)
}

/// Answers every video frame the client asks to decode: a flat picture of
/// its size (small ones only), or overdue when `late`.
fn pictures(client: &mut Client, late: bool) {
    while let Some(chunk) = client.take_video() {
        let (w, h) = (chunk.width as usize, chunk.height as usize);
        let result = if late || w * h > 1 << 18 {
            client.video_late(chunk.ticket, &clock)
        } else {
            let data = vec![chunk.ticket as u8; w * h * 3 / 2];
            let planes = [(0, w), (w * h, w / 2), (w * h + w * h / 4, w / 2)];
            let decoded = Decoded {
                format: Format::I420,
                width: chunk.width,
                height: chunk.height,
                data: &data,
                planes: &planes,
            };
            client.video_picture(chunk.ticket, decoded, &clock)
        };
        if result.is_err() {
            return;
        }
    }
}

fn sealed_messages(client: &mut Client, mut rest: &[u8], late: Option<bool>) {
    let (mut sealer, _) = secure(client);
    while let Some((len, after)) = rest.split_first_chunk::<2>() {
        let len = usize::from(u16::from_be_bytes(*len)).min(after.len());
        let (plain, after) = after.split_at(len);
        rest = after;
        let mut buf = plain.to_vec();
        sealer.seal_in_place(&mut buf).expect("seals");
        let framed = frame::encode_raw(&buf, max_frame_from(Side::Host)).expect("frames");
        if client.session_bytes(&framed, &clock).is_err() {
            return;
        }
        if let Some(late) = late {
            pictures(client, late);
        }
        if let Some((x, y, w, h)) = client.refresh_rgba() {
            let (sw, sh) = client.size().expect("a screen");
            assert!(
                x + w <= sw && y + h <= sh,
                "the refreshed rectangle is on the screen"
            );
            assert_eq!(client.rgba().len(), sw as usize * sh as usize * 4);
        }
    }
}

/// Splits `rest` into `[u16 BE length][bytes]` pieces.
fn pieces(mut rest: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        let (len, after) = rest.split_first_chunk::<2>()?;
        let len = usize::from(u16::from_be_bytes(*len)).min(after.len());
        let (piece, after) = after.split_at(len);
        rest = after;
        Some(piece)
    })
}

fn transfer(client: &mut Client, cut: u8, rest: &[u8]) {
    let (_, files) = secure(client);
    let put = cut & 1 == 1;
    let id = if put {
        client.start_put("a.txt", 3).expect("a put")
    } else {
        client.start_get("a.txt").expect("a get")
    };
    assert!(
        !client.take_transfer(id).is_empty(),
        "the id and the request"
    );
    if cut & 2 == 2 {
        let _ = client.transfer_bytes(id, rest);
    } else {
        let (mut sealer, _) = e2e::transfer_keys(&files, id, Side::Host).expect("keys");
        for plain in pieces(rest) {
            let mut buf = plain.to_vec();
            sealer.seal_in_place(&mut buf).expect("seals");
            let framed = frame::encode_raw(&buf, MAX_FILE_FRAME).expect("frames");
            if client.transfer_bytes(id, &framed).is_err() {
                break;
            }
        }
    }
    if put && let Ok(t) = client.transfer(id) {
        let _ = t.put_chunk(b"abc");
        let _ = t.end_put();
    }
    let _ = client.take_fetched(id);
    let _ = client.take_transfer(id);
    while client.poll_event().is_some() {}
}

fuzz_target!(|data: &[u8]| {
    let [mode, cut, rest @ ..] = data else {
        return;
    };
    match mode % 5 {
        0 => {
            let mut client =
                Client::new(&code().to_string(), "tech-token", false).expect("a valid code");
            halves(*cut, rest, |b| client.control_bytes(b).is_ok());
            let _ = client.session_opened();
            while client.poll_event().is_some() {}
        }
        1 => {
            let mut client = joined();
            halves(*cut, rest, |b| client.session_bytes(b, &clock).is_ok());
        }
        3 => transfer(&mut joined(), *cut, rest),
        4 => {
            let mut client = joined_with(true);
            sealed_messages(&mut client, rest, Some(cut & 1 == 1));
            let _ = client.take_session();
            while client.poll_event().is_some() {}
        }
        _ => {
            let mut client = joined();
            sealed_messages(&mut client, rest, None);
            let _ = client.input(InputEvent::Text("x".into()));
            let _ = client.take_session();
            while client.poll_event().is_some() {}
        }
    }
});
