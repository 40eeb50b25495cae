//! Video the page decodes (WebCodecs), against the simulated host: an
//! update with video waits for its pictures, what came after it waits in
//! order, and a decoder that fails or goes quiet turns video off without
//! losing the session.

use lifeline_session::messages::{HostMsg, ViewerMsg};
use lifeline_session::screen::encoder::Encoder;
use lifeline_session::screen::image::Image;
use lifeline_session::screen::{FrameUpdate, Video};
use lifeline_session::video::yuv::{Planes, store};

use super::sim::{Pair, as_rgba, clock, pattern};
use super::{Event, screen};
use crate::client::ClientError;
use crate::video::{Chunk, Decoded, Format, MAX_HELD};

/// A key frame's bytes as far as the client reads them: a sequence
/// parameter set (Constrained Baseline, level 3.1) and a slice.
fn key_bytes() -> Vec<u8> {
    vec![
        0, 0, 0, 1, 0x67, 0x42, 0xC0, 0x1F, 0xAA, 0, 0, 1, 0x65, 0x88, 0x80,
    ]
}

fn video(stream: u32, key: bool, (x, y): (u32, u32)) -> Video {
    Video {
        stream,
        x,
        y,
        w: 16,
        h: 16,
        key,
        h264: if key {
            key_bytes()
        } else {
            vec![0, 0, 1, 0x41, 0x9A]
        },
    }
}

/// A secured pair whose page decodes video, showing `pattern(0)`, and
/// the host's screen.
fn showing() -> (Pair, Screen) {
    let (mut pair, heard) = Pair::secured_with(true);
    assert!(
        heard.is_empty(),
        "no NoVideo when the page decodes: {heard:?}"
    );
    let mut enc = Encoder::lossless();
    pair.host
        .send(&HostMsg::Frame(enc.encode(&pattern(0)).unwrap()));
    pair.step().unwrap();
    pair.events();
    screen(&mut pair.client);
    (
        pair,
        Screen {
            enc,
            img: pattern(0),
        },
    )
}

/// The host's screen: `pattern(0)`, a corner pixel flipping at each
/// update for video to ride on.
struct Screen {
    enc: Encoder,
    img: Image,
}

impl Screen {
    fn next(&mut self) -> FrameUpdate {
        self.img.pixels[47 * 64 + 63] ^= 0x0001_0203;
        self.enc.encode(&self.img).expect("a pixel changed")
    }
}

/// A flat 16×16 I420 picture (`y`, `u`, `v` everywhere), as `copyTo`
/// lays it out: planes one after another, rows `pad` bytes longer.
fn flat(y: u8, u: u8, v: u8, pad: usize) -> (Vec<u8>, Vec<u32>) {
    let (ys, cs) = (16 + pad, 8 + pad);
    let mut data = vec![y; ys * 16];
    data.extend(vec![u; cs * 8]);
    data.extend(vec![v; cs * 8]);
    let layout = vec![
        0,
        ys as u32,
        (ys * 16) as u32,
        cs as u32,
        (ys * 16 + cs * 8) as u32,
        cs as u32,
    ];
    (data, layout)
}

fn planes(layout: &[u32]) -> Vec<(usize, usize)> {
    layout
        .chunks_exact(2)
        .map(|p| (p[0] as usize, p[1] as usize))
        .collect()
}

fn give(pair: &mut Pair, chunk: &Chunk, (data, layout): &(Vec<u8>, Vec<u32>)) {
    let planes = planes(layout);
    let decoded = Decoded {
        format: Format::I420,
        width: chunk.width,
        height: chunk.height,
        data,
        planes: &planes,
    };
    pair.client
        .video_picture(chunk.ticket, decoded, &clock)
        .unwrap();
}

/// `img` with a flat `y u v` 16×16 block at (x, y), through the session
/// crate's own conversion.
fn with_block(img: &Image, (x, y): (u32, u32), yuv: (u8, u8, u8)) -> Image {
    let mut out = img.clone();
    let (l, c) = (vec![yuv.0; 256], (vec![yuv.1; 64], vec![yuv.2; 64]));
    let p = Planes {
        y: &l,
        u: &c.0,
        v: &c.1,
        strides: (16, 8),
    };
    store(p, (16, 16), &mut out, x, y);
    out
}

#[test]
fn an_update_with_video_waits_for_its_picture_and_what_follows_waits_too() {
    let (mut pair, mut enc) = showing();
    let mut second = pattern(0);
    second.pixels[2 * 64 + 3] = 0x0012_3456;
    let mut upd = enc.enc.encode(&second).unwrap();
    upd.video.push(video(7, true, (32, 16)));
    pair.host.send(&HostMsg::Frame(upd.clone()));
    pair.host.send(&HostMsg::Chat("after the video".into()));
    let heard = pair.step().unwrap();
    assert!(
        heard.is_empty(),
        "not acknowledged before its picture: {heard:?}"
    );
    assert!(pair.events().is_empty(), "the chat waits behind the update");
    assert_eq!(screen(&mut pair.client).0, None, "nothing drawn yet");

    let chunk = pair.client.take_video().expect("a chunk for the page");
    assert!(pair.client.take_video().is_none());
    assert_eq!(
        (
            chunk.stream,
            chunk.key,
            chunk.width,
            chunk.height,
            chunk.seq
        ),
        (7, true, 16, 16, upd.seq)
    );
    assert_eq!(chunk.codec, "avc1.42C01F");
    assert_eq!(chunk.data, key_bytes());

    give(&mut pair, &chunk, &flat(180, 90, 200, 5));
    let want = with_block(&second, (32, 16), (180, 90, 200));
    assert_eq!(
        screen(&mut pair.client),
        (Some((3, 2, 45, 30)), as_rgba(&want)),
        "the picture in its place, the tile after it"
    );
    assert_eq!(
        pair.events(),
        [
            Event::Screen {
                width: 64,
                height: 48
            },
            Event::Chat {
                text: "after the video".into()
            }
        ]
    );
    let heard = pair.step().unwrap();
    assert!(
        matches!(heard.as_slice(), [ViewerMsg::Decoded { seq, .. }] if *seq == upd.seq),
        "{heard:?}"
    );
    assert_eq!(pair.client.video_figures(), (1, true));

    // The stream goes on without a key frame; the same picture again is
    // ignored once the update is applied.
    second.pixels[40 * 64 + 2] = 0x0000_0001;
    let mut upd = enc.enc.encode(&second).unwrap();
    upd.video.push(video(7, false, (32, 16)));
    pair.host.send(&HostMsg::Frame(upd));
    pair.step().unwrap();
    let next = pair.client.take_video().unwrap();
    assert_eq!((next.key, next.codec.as_str()), (false, ""));
    give(&mut pair, &next, &flat(60, 128, 128, 0));
    give(&mut pair, &next, &flat(200, 128, 128, 0));
    let want = with_block(&second, (32, 16), (60, 128, 128));
    assert_eq!(screen(&mut pair.client).1, as_rgba(&want));
}

#[test]
fn a_stream_without_its_key_frame_asks_for_a_whole_frame() {
    let (mut pair, mut enc) = showing();
    let mut upd = enc.next();
    upd.video.push(video(3, false, (0, 0)));
    pair.host.send(&HostMsg::Frame(upd));
    pair.host.send(&HostMsg::Chat("next".into()));
    let heard = pair.step().unwrap();
    assert_eq!(heard, [ViewerMsg::RequestFull]);
    assert!(pair.client.take_video().is_none(), "nothing to decode");
    assert_eq!(
        pair.events(),
        [Event::Chat {
            text: "next".into()
        }]
    );

    // A key frame without its parameter set cannot be configured either.
    let mut upd = enc.next();
    let mut bare = video(4, true, (0, 0));
    bare.h264 = vec![0, 0, 1, 0x65, 0x88];
    upd.video.push(bare);
    pair.host.send(&HostMsg::Frame(upd));
    assert_eq!(pair.step().unwrap(), [ViewerMsg::RequestFull]);
    assert!(pair.client.take_video().is_none());
}

#[test]
fn a_quiet_decoder_turns_video_off_and_the_held_frames_follow() {
    let (mut pair, mut enc) = showing();
    let mut upd = enc.next();
    upd.video.push(video(1, true, (0, 0)));
    pair.host.send(&HostMsg::Frame(upd));
    pair.host.send(&HostMsg::Chat("held".into()));
    pair.step().unwrap();
    let chunk = pair.client.take_video().unwrap();
    // Another ticket's timer is not this one's.
    pair.client.video_late(chunk.ticket + 1, &clock).unwrap();
    assert!(pair.events().is_empty());
    pair.client.video_late(chunk.ticket, &clock).unwrap();
    assert_eq!(
        pair.events(),
        [
            Event::VideoOff {
                reason: crate::words::VIDEO_LATE.into()
            },
            Event::Chat {
                text: "held".into()
            }
        ]
    );
    assert_eq!(
        pair.step().unwrap(),
        [ViewerMsg::NoVideo, ViewerMsg::RequestFull]
    );
    // A picture that comes after all is ignored.
    give(&mut pair, &chunk, &flat(1, 2, 3, 0));
    assert_eq!(pair.client.video_figures(), (0, false));
    assert!(pair.events().is_empty());
    // Video off: an update with video goes to the framebuffer, which has
    // no decoder here and asks for a whole frame.
    let mut upd = enc.next();
    upd.video.push(video(2, true, (0, 0)));
    pair.host.send(&HostMsg::Frame(upd));
    let heard = pair.step().unwrap();
    assert!(pair.client.take_video().is_none());
    assert!(
        matches!(
            heard.as_slice(),
            [ViewerMsg::RequestFull] | [ViewerMsg::Decoded { .. }]
        ),
        "{heard:?}"
    );
}

#[test]
fn an_unreadable_picture_turns_video_off() {
    for (format, width, height, layout_of) in [
        // A chroma plane cut short.
        (Format::I420, 16, 16, 1usize),
        // The wrong size.
        (Format::I420, 32, 16, 0),
    ] {
        let (mut pair, mut enc) = showing();
        let mut upd = enc.next();
        upd.video.push(video(1, true, (0, 0)));
        pair.host.send(&HostMsg::Frame(upd));
        pair.step().unwrap();
        let chunk = pair.client.take_video().unwrap();
        let (mut data, layout) = flat(1, 2, 3, 0);
        if layout_of == 1 {
            data.truncate(data.len() - 10);
        }
        let planes = planes(&layout);
        let decoded = Decoded {
            format,
            width,
            height,
            data: &data,
            planes: &planes,
        };
        pair.client
            .video_picture(chunk.ticket, decoded, &clock)
            .unwrap();
        let events = pair.events();
        assert!(
            matches!(events.as_slice(), [Event::VideoOff { reason }] if reason.contains("unreadable")),
            "{events:?}"
        );
        assert_eq!(
            pair.step().unwrap(),
            [ViewerMsg::NoVideo, ViewerMsg::RequestFull]
        );
    }
}

#[test]
fn nv12_pictures_read_as_i420() {
    let (mut pair, mut enc) = showing();
    let mut upd = enc.next();
    upd.video.push(video(1, true, (16, 0)));
    pair.host.send(&HostMsg::Frame(upd));
    pair.step().unwrap();
    let chunk = pair.client.take_video().unwrap();
    let mut data = vec![100u8; 16 * 16];
    data.extend([70u8, 210].repeat(8 * 8));
    let planes = [(0, 16), (256, 16)];
    let decoded = Decoded {
        format: Format::Nv12,
        width: 16,
        height: 16,
        data: &data,
        planes: &planes,
    };
    pair.client
        .video_picture(chunk.ticket, decoded, &clock)
        .unwrap();
    let want = with_block(&enc.img, (16, 0), (100, 70, 210));
    assert_eq!(screen(&mut pair.client).1, as_rgba(&want));
}

#[test]
fn a_host_that_floods_a_decoding_page_is_cut_off() {
    let (mut pair, mut enc) = showing();
    let mut upd = enc.next();
    upd.video.push(video(1, true, (0, 0)));
    pair.host.send(&HostMsg::Frame(upd));
    pair.step().unwrap();
    // Held frames are not opened until the update is applied: any bytes
    // count, a mebibyte at a time.
    let piece = lifeline_proto::frame::encode_raw(&vec![7; 1 << 20], 2 << 20).unwrap();
    let mut result = Ok(());
    for _ in 0..=MAX_HELD >> 20 {
        result = pair.client.session_bytes(&piece, &clock);
        if result.is_err() {
            break;
        }
    }
    assert!(matches!(result, Err(ClientError::Video(_))), "{result:?}");
}
