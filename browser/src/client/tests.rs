//! The browser client against a simulated relay and host (`sim`), sans-IO:
//! whatever passes here is what the real host sends and reads.

use lifeline_proto::control::{
    Hello, JoinRefusal, Mode, PROTOCOL_VERSION, Role, ViewerEvent, ViewerRequest,
};
use lifeline_proto::frame::{self, FrameDecoder, FrameError, MAX_CONTROL_FRAME};
use lifeline_session::e2e::{E2eError, Side};
use lifeline_session::messages::{HostMsg, InputEvent, Key, ViewerMsg, max_frame_from};
use lifeline_session::screen::encoder::Encoder;
use lifeline_session::screen::image::Image;
use lifeline_session::squeeze::{self, Packer};

use super::{Client, ClientError, Event};

mod sim;
mod video;

use sim::{
    HostError, Pair, SECRET, TOKEN, as_rgba, clock, code, joined_bytes, joined_client, pattern,
};

#[test]
fn a_reason_goes_with_the_join_and_a_malformed_one_is_refused_before_sending() {
    let mut client =
        Client::new_for(&code(SECRET).to_string(), TOKEN, " INC-4821 ", false).unwrap();
    let mut d = FrameDecoder::new(MAX_CONTROL_FRAME);
    d.push(&client.take_control());
    let _hello: Hello = d.next_message().unwrap().unwrap();
    let join: ViewerRequest = d.next_message().unwrap().unwrap();
    assert_eq!(
        join,
        ViewerRequest::JoinFor {
            token: TOKEN.into(),
            locator: code(SECRET).locator(),
            reason: "INC-4821".into(),
        }
    );
    for bad in ["two\nlines".to_owned(), "x".repeat(257)] {
        assert!(matches!(
            Client::new_for(&code(SECRET).to_string(), TOKEN, &bad, false),
            Err(ClientError::Reason)
        ));
    }
}

#[test]
fn hello_and_join_go_first_on_the_control_stream() {
    let mut client = Client::new(&format!(" {} ", code(SECRET)), "  tech-token\n", false).unwrap();
    let mut d = FrameDecoder::new(MAX_CONTROL_FRAME);
    d.push(&client.take_control());
    let hello: Hello = d.next_message().unwrap().unwrap();
    assert_eq!(
        hello,
        Hello {
            version: PROTOCOL_VERSION,
            role: Role::Viewer
        }
    );
    let join: ViewerRequest = d.next_message().unwrap().unwrap();
    assert_eq!(
        join,
        ViewerRequest::Join {
            token: TOKEN.into(),
            locator: code(SECRET).locator()
        }
    );
    assert!(d.next_frame().unwrap().is_none());
    d.finish().unwrap();
    assert!(client.take_control().is_empty(), "taken once");
    assert!(client.take_session().is_empty());
}

#[test]
fn a_mistyped_code_is_refused_before_anything_is_sent() {
    let mut digits = code(SECRET).digits().into_bytes();
    digits[11] = b'0' + (digits[11] - b'0' + 1) % 10;
    let typo = String::from_utf8(digits).unwrap();
    assert!(matches!(
        Client::new(&typo, TOKEN, false),
        Err(ClientError::Code(_))
    ));
    assert!(matches!(
        Client::new("12-34", TOKEN, false),
        Err(ClientError::Code(_))
    ));
}

#[test]
fn joined_and_refused_become_events() {
    let mut client = Client::new(&code(SECRET).to_string(), TOKEN, false).unwrap();
    // A byte at a time: the control stream may arrive in any pieces.
    for b in joined_bytes() {
        client.control_bytes(&[b]).unwrap();
    }
    assert_eq!(
        client.poll_event(),
        Some(Event::Joined {
            host_name: "desk-7".into(),
            os_user: "ada".into()
        })
    );
    assert_eq!(client.poll_event(), None);

    let mut refused = Client::new(&code(SECRET).to_string(), TOKEN, false).unwrap();
    let why = JoinRefusal::Throttled { retry_after_s: 30 };
    refused
        .control_bytes(&frame::encode(&ViewerEvent::Refused(why), MAX_CONTROL_FRAME).unwrap())
        .unwrap();
    assert_eq!(
        refused.poll_event(),
        Some(Event::Refused {
            reason: why.to_string()
        })
    );
    assert!(matches!(refused.session_opened(), Err(ClientError::Early)));
}

#[test]
fn the_relay_out_of_turn_is_an_error() {
    let mut client = joined_client(SECRET);
    let again = client.control_bytes(&joined_bytes());
    assert!(matches!(again, Err(ClientError::OutOfTurn(_))));
    let mut client = Client::new(&code(SECRET).to_string(), TOKEN, false).unwrap();
    let resumed = frame::encode(&ViewerEvent::Resumed, MAX_CONTROL_FRAME).unwrap();
    assert!(matches!(
        client.control_bytes(&resumed),
        Err(ClientError::OutOfTurn(_))
    ));
}

#[test]
fn the_session_stream_before_joined_is_early() {
    let mut client = Client::new(&code(SECRET).to_string(), TOKEN, false).unwrap();
    assert!(matches!(client.session_opened(), Err(ClientError::Early)));
    assert!(client.take_session().is_empty());
    let bytes = frame::encode_raw(&[1, 2, 3], 64).unwrap();
    assert!(matches!(
        client.session_bytes(&bytes, &clock),
        Err(ClientError::Early)
    ));
    // Joined but the stream not opened yet: the host's bytes are early too.
    let mut client = joined_client(SECRET);
    assert!(matches!(
        client.session_bytes(&bytes, &clock),
        Err(ClientError::Early)
    ));
}

#[test]
fn a_wrong_secret_is_wrong_code_on_both_sides() {
    let mut pair = Pair::opened(SECRET + 1);
    // The host's share, then the viewer's share and confirmation to the host.
    let share = std::mem::take(&mut pair.host.out);
    pair.client.session_bytes(&share, &clock).unwrap();
    let to_host = pair.client.take_session();
    let host = pair.host.receive(&to_host);
    assert!(matches!(host, Err(HostError::E2e(E2eError::WrongCode))));
    // The host's confirmation (sent before it read ours) fails here.
    let confirm = std::mem::take(&mut pair.host.out);
    let err = pair.client.session_bytes(&confirm, &clock).unwrap_err();
    assert!(
        matches!(err, ClientError::E2e(E2eError::WrongCode)),
        "{err}"
    );
    assert!(pair.client.take_session().is_empty(), "nothing after");
    // The channel is dead: nothing the host sends is read again.
    let more = frame::encode_raw(&[0; 40], 64).unwrap();
    assert!(pair.client.session_bytes(&more, &clock).is_err());
}

#[test]
fn no_video_is_the_first_thing_said() {
    let (mut pair, heard) = Pair::secured();
    assert_eq!(heard, [ViewerMsg::NoVideo]);
    assert!(pair.events().is_empty());
}

/// A rectangle (x, y, w, h).
pub(super) type Rect = (u32, u32, u32, u32);

/// The screen as the page takes it: the copy refreshed, then read.
pub(super) fn screen(client: &mut Client) -> (Option<Rect>, Vec<u8>) {
    let changed = client.refresh_rgba();
    (changed, client.rgba().to_vec())
}

#[test]
fn a_whole_frame_shows_and_is_acknowledged() {
    let (mut pair, _) = Pair::secured();
    assert_eq!(
        screen(&mut pair.client),
        (None, Vec::new()),
        "no screen yet"
    );
    let mut enc = Encoder::lossless();
    let first = pattern(0);
    let upd = enc.encode(&first).unwrap();
    assert!(upd.full);
    pair.host.send(&HostMsg::Mode(Mode::Control));
    pair.host.send(&HostMsg::Frame(upd.clone()));
    let heard = pair.step().unwrap();
    assert!(
        matches!(heard.as_slice(), [ViewerMsg::Decoded { seq, .. }] if *seq == upd.seq),
        "{heard:?}"
    );
    assert_eq!(
        pair.events(),
        [
            Event::Mode { mode: "control" },
            Event::Screen {
                width: 64,
                height: 48
            }
        ]
    );
    assert_eq!(pair.client.mode(), Some(Mode::Control));
    assert_eq!(pair.client.size(), Some((64, 48)));
    assert_eq!(
        screen(&mut pair.client),
        (Some((0, 0, 64, 48)), as_rgba(&first))
    );
    assert_eq!(screen(&mut pair.client).0, None, "nothing changed since");
}

#[test]
fn later_updates_redo_only_what_changed() {
    let (mut pair, _) = Pair::secured();
    let mut enc = Encoder::lossless();
    pair.host
        .send(&HostMsg::Frame(enc.encode(&pattern(0)).unwrap()));
    pair.step().unwrap();
    screen(&mut pair.client);

    // A block moves: only its rectangle is redone.
    let mut second = pattern(0);
    for y in 30..36 {
        for x in 20..30 {
            second.pixels[y * 64 + x] = 0x00ff_00ff;
        }
    }
    let upd = enc.encode(&second).unwrap();
    assert!(!upd.full);
    pair.host.send(&HostMsg::Frame(upd.clone()));
    let heard = pair.step().unwrap();
    assert!(matches!(heard.as_slice(), [ViewerMsg::Decoded { seq, .. }] if *seq == upd.seq));
    assert_eq!(
        screen(&mut pair.client),
        (Some((20, 30, 10, 6)), as_rgba(&second))
    );

    // Two updates between refreshes: both are in the one rectangle.
    let mut third = second.clone();
    third.pixels[2 * 64 + 3] = 0x0012_3456;
    third.pixels[40 * 64 + 50] = 0x0065_4321;
    pair.host.send(&HostMsg::Frame(enc.encode(&third).unwrap()));
    pair.step().unwrap();
    let mut fourth = third.clone();
    fourth.pixels[10 * 64 + 60] = 0x0000_00ff;
    pair.host
        .send(&HostMsg::Frame(enc.encode(&fourth).unwrap()));
    pair.step().unwrap();
    assert_eq!(
        screen(&mut pair.client),
        (Some((3, 2, 58, 39)), as_rgba(&fourth))
    );

    // A new size comes whole, and the copy takes its size.
    let mut small = Image::new(16, 8).unwrap();
    small
        .pixels
        .iter_mut()
        .enumerate()
        .for_each(|(i, p)| *p = i as u32 * 0x0001_0203);
    pair.host.send(&HostMsg::Frame(enc.encode(&small).unwrap()));
    pair.step().unwrap();
    assert_eq!(
        screen(&mut pair.client),
        (Some((0, 0, 16, 8)), as_rgba(&small))
    );
    assert_eq!(pair.client.figures().1, 5);
}

#[test]
fn an_update_that_does_not_apply_asks_for_a_whole_frame() {
    let (mut pair, _) = Pair::secured();
    let mut enc = Encoder::lossless();
    enc.encode(&pattern(0)).unwrap();
    // A partial update with nothing under it.
    let partial = enc.encode(&pattern(9)).unwrap();
    pair.host.send(&HostMsg::Frame(partial));
    assert_eq!(pair.step().unwrap(), [ViewerMsg::RequestFull]);
    assert_eq!(screen(&mut pair.client), (None, Vec::new()));
}

#[test]
fn input_goes_only_in_control_mode() {
    let (mut pair, _) = Pair::secured();
    let mv = InputEvent::Move { x: 3, y: 4 };
    let not_sent = Event::NotSent {
        reason: crate::words::VIEW_ONLY.into(),
    };
    pair.client.input(mv.clone()).unwrap();
    assert!(pair.step().unwrap().is_empty(), "no answer yet: not sent");
    assert_eq!(pair.events(), std::slice::from_ref(&not_sent));

    pair.host.send(&HostMsg::Mode(Mode::View));
    pair.step().unwrap();
    pair.client.input(mv.clone()).unwrap();
    assert!(pair.step().unwrap().is_empty(), "view only: not sent");
    assert_eq!(pair.events(), [Event::Mode { mode: "view" }, not_sent]);

    pair.host.send(&HostMsg::Mode(Mode::Control));
    pair.step().unwrap();
    pair.client.input(mv.clone()).unwrap();
    // What names no real key is dropped here, as the host would.
    let bad = InputEvent::Key {
        key: Key::F(0),
        down: true,
    };
    pair.client.input(bad).unwrap();
    assert_eq!(pair.step().unwrap(), [ViewerMsg::Input(mv)]);
    assert_eq!(pair.events(), [Event::Mode { mode: "control" }]);
}

#[test]
fn host_messages_become_events_in_order() {
    let (mut pair, _) = Pair::secured();
    pair.host.send(&HostMsg::Cursor { x: -2, y: 7 });
    pair.host.send(&HostMsg::Chat("hello".into()));
    pair.host.send(&HostMsg::ClipboardSet);
    pair.host.send(&HostMsg::Withheld(None));
    pair.step().unwrap();
    assert_eq!(
        pair.events(),
        [
            Event::Cursor { x: -2, y: 7 },
            Event::Chat {
                text: "hello".into()
            },
            Event::ClipboardSet,
            Event::Withheld { reason: None },
        ]
    );
}

#[test]
fn oversized_frames_are_refused_on_both_streams() {
    let mut client = Client::new(&code(SECRET).to_string(), TOKEN, false).unwrap();
    let too_long = u32::try_from(MAX_CONTROL_FRAME + 1).unwrap().to_be_bytes();
    assert!(matches!(
        client.control_bytes(&too_long),
        Err(ClientError::Control(FrameError::Oversized { .. }))
    ));
    let (mut pair, _) = Pair::secured();
    let too_long = u32::try_from(max_frame_from(Side::Host) + 1)
        .unwrap()
        .to_be_bytes();
    assert!(matches!(
        pair.client.session_bytes(&too_long, &clock),
        Err(ClientError::Frame(FrameError::Oversized { .. }))
    ));
}

#[test]
fn malformed_frames_are_errors() {
    let mut client = Client::new(&code(SECRET).to_string(), TOKEN, false).unwrap();
    let junk = frame::encode_raw(&[0xff; 9], MAX_CONTROL_FRAME).unwrap();
    assert!(matches!(
        client.control_bytes(&junk),
        Err(ClientError::Control(FrameError::Malformed(_)))
    ));
    // A key share of the wrong length.
    let mut pair = Pair::opened(SECRET);
    let share = frame::encode_raw(&[7; 5], 64).unwrap();
    assert!(matches!(
        pair.client.session_bytes(&share, &clock),
        Err(ClientError::E2e(E2eError::BadHandshake))
    ));
}

#[test]
fn tampered_truncated_and_unsealed_frames_end_the_session() {
    // Unsealed bytes where a sealed message is due.
    let (mut pair, _) = Pair::secured();
    let plain = frame::encode_raw(&[squeeze::PLAIN, 0, 0], 64).unwrap();
    assert!(matches!(
        pair.client.session_bytes(&plain, &clock),
        Err(ClientError::E2e(E2eError::Tampered { seq: 1 }))
    ));

    // A sealed message cut short: first it waits for the rest; reframed
    // at the shorter length it fails to open.
    let (mut pair, _) = Pair::secured();
    let sealed = pair.host.seal(&HostMsg::Chat("hi".into()));
    let cut = &sealed[..sealed.len() - 1];
    pair.client.session_bytes(cut, &clock).unwrap();
    assert!(pair.events().is_empty());
    let (mut pair, _) = Pair::secured();
    let sealed = pair.host.seal(&HostMsg::Chat("hi".into()));
    let short = frame::encode_raw(&sealed[frame::HEADER_LEN..sealed.len() - 1], 1 << 20).unwrap();
    assert!(matches!(
        pair.client.session_bytes(&short, &clock),
        Err(ClientError::E2e(E2eError::Tampered { .. }))
    ));

    // Sealed properly but not a message: the compression flag, then the body.
    let (mut pair, _) = Pair::secured();
    let bad_flag = pair.host.seal_raw(vec![9, 1, 2]);
    assert!(matches!(
        pair.client.session_bytes(&bad_flag, &clock),
        Err(ClientError::Squeeze(_))
    ));
    let (mut pair, _) = Pair::secured();
    let bad_body = pair.host.seal_raw(vec![squeeze::PLAIN, 0xff, 0xff, 0xff]);
    assert!(matches!(
        pair.client.session_bytes(&bad_body, &clock),
        Err(ClientError::Frame(FrameError::Malformed(_)))
    ));
}

/// A small deterministic generator, so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let len = (self.next() as usize) % (max + 1);
        (0..len).map(|_| self.next() as u8).collect()
    }

    /// Random bytes, with a plausible length prefix half the time.
    fn framed(&mut self, max: usize) -> Vec<u8> {
        let body = self.bytes(max);
        if self.next().is_multiple_of(2) {
            let mut out = u32::try_from(body.len()).unwrap().to_be_bytes().to_vec();
            out.extend(body);
            out
        } else {
            body
        }
    }
}

/// Feeds `bytes` in random pieces; the first error stops it.
fn in_pieces(
    rng: &mut Rng,
    bytes: &[u8],
    mut feed: impl FnMut(&[u8]) -> Result<(), ClientError>,
) -> Result<(), ClientError> {
    let mut rest = bytes;
    while !rest.is_empty() {
        let n = 1 + (rng.next() as usize) % rest.len();
        let (piece, after) = rest.split_at(n);
        feed(piece)?;
        rest = after;
    }
    Ok(())
}

#[test]
fn random_bytes_never_panic_on_either_stream() {
    let mut rng = Rng(0x5eed_1234_abcd_9876);
    for _ in 0..400 {
        let mut fresh = Client::new(&code(SECRET).to_string(), TOKEN, false).unwrap();
        let bytes = rng.framed(300);
        let _ = in_pieces(&mut rng, &bytes, |b| fresh.control_bytes(b));
        let _ = fresh.session_opened();

        let mut opened = joined_client(SECRET);
        opened.session_opened().unwrap();
        let bytes = rng.framed(300);
        let _ = in_pieces(&mut rng, &bytes, |b| opened.session_bytes(b, &clock));
        let _ = opened.input(InputEvent::Text("x".into()));
        let _ = opened.refresh_rgba();
    }
}

#[test]
fn random_sealed_messages_never_panic() {
    let mut rng = Rng(0x0dd_ba11_cafe_f00d);
    let (mut pair, _) = Pair::secured();
    for _ in 0..64 {
        let mut plain = rng.bytes(200);
        if let Some(flag) = plain.first_mut() {
            // Mostly a valid flag, so the message body is reached.
            *flag = (*flag % 3).min(squeeze::DEFLATED);
        }
        let sealed = pair.host.seal_raw(plain);
        let res = in_pieces(&mut rng, &sealed, |b| pair.client.session_bytes(b, &clock));
        let _ = pair.client.refresh_rgba();
        let _ = pair.events();
        if res.is_err() {
            // The channel is over: a fresh one for the next message.
            pair = Pair::secured().0;
        }
    }
}

/// One `browser_client` fuzz input that reaches the messages: mode 2, then
/// each plaintext as `[u16 BE length][bytes]` (see the fuzz target).
fn sealed_seed(plains: &[Vec<u8>]) -> Vec<u8> {
    sealed_seed_in(2, plains)
}

/// As [`sealed_seed`], in fuzz mode `mode` (4: the page decodes video).
fn sealed_seed_in(mode: u8, plains: &[Vec<u8>]) -> Vec<u8> {
    let mut seed = vec![mode, 0];
    for p in plains {
        seed.extend(u16::try_from(p.len()).unwrap().to_be_bytes());
        seed.extend(p);
    }
    seed
}

/// A message as the host's packer leaves it (flag and body), unsealed.
fn packed(packer: &mut Packer, msg: &HostMsg) -> Vec<u8> {
    let mut buf = vec![squeeze::PLAIN];
    frame::serialize_append(msg, &mut buf, 0).unwrap();
    packer.pack(&mut buf, 0).unwrap();
    buf
}

#[test]
#[ignore = "writes fuzz/seeds/browser_client/; run once by hand"]
fn write_fuzz_seeds() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/browser_client");
    std::fs::create_dir_all(&dir).unwrap();
    let refused = ViewerEvent::Refused(JoinRefusal::UnknownCode);
    let mut control = vec![0, 3];
    control.extend(joined_bytes());
    control.extend(frame::encode(&refused, MAX_CONTROL_FRAME).unwrap());
    let mut share = vec![1, 2];
    share.extend(frame::encode_raw(&[0x41; 33], 64).unwrap());

    let mut packer = Packer::new();
    let upd = Encoder::lossless().encode(&pattern(0)).unwrap();
    let screen = sealed_seed(&[
        packed(&mut packer, &HostMsg::Mode(Mode::Control)),
        packed(&mut packer, &HostMsg::Frame(upd)),
        packed(&mut packer, &HostMsg::Cursor { x: 5, y: 6 }),
    ]);
    // A message left plain, as the packer leaves a large one.
    let mut plain = vec![squeeze::PLAIN];
    frame::serialize_append(&HostMsg::Chat("hi".into()), &mut plain, 0).unwrap();
    let chat = sealed_seed(&[plain]);
    let video = video_seed();
    for (name, bytes) in [
        ("video", video),
        ("control", control),
        ("key-share", share),
        ("screen", screen),
        ("chat-plain", chat),
    ] {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

/// Fuzz mode 4's seed: a screen, an update with a real H.264 key frame
/// (and a tile), and a chat held behind it.
fn video_seed() -> Vec<u8> {
    use lifeline_session::screen::Video;
    use lifeline_session::video::VideoEncoder;
    let mut packer = Packer::new();
    let mut enc = Encoder::lossless();
    let first = enc.encode(&pattern(0)).unwrap();
    let mut second = pattern(0);
    second.pixels[5] ^= 0x00ff_ffff;
    let mut upd = enc.encode(&second).unwrap();
    let key = VideoEncoder::new(32, 16)
        .unwrap()
        .encode(&second, (16, 16, 32, 16), 0, 500_000, true)
        .unwrap();
    upd.video.push(Video {
        stream: 1,
        x: 16,
        y: 16,
        w: 32,
        h: 16,
        key: true,
        h264: key.h264,
    });
    sealed_seed_in(
        4,
        &[
            packed(&mut packer, &HostMsg::Frame(first)),
            packed(&mut packer, &HostMsg::Frame(upd)),
            packed(&mut packer, &HostMsg::Chat("after".into())),
        ],
    )
}
