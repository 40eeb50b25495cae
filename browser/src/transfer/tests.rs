//! File transfers of the browser client against a simulated host: the
//! host's end is written with `lifeline-session`'s own pieces and reads and
//! writes a transfer stream exactly as `lifeline-net`'s `accept_transfer`
//! and secure channel do, following `lifeline-host`'s file flow (put:
//! `Put`, `Ready`, chunks, `End`, `Saved`; get: `Get`, `Offer`, chunks,
//! `End`). The session itself is `client`'s simulator (`sim`).

use lifeline_proto::frame::{self, FrameDecoder, FrameError};
use lifeline_session::e2e::{self, E2eError, FilesRoot, Opener, Sealer, Side};
use lifeline_session::files::{CHUNK, FileMsg, MAX_FILE_FRAME};
use lifeline_session::messages::HostMsg;
use lifeline_session::squeeze::{self, Packer, Unpacker};
use sha2::{Digest, Sha256};

use crate::client::{Client, ClientError, Event};

// Shared with `client`'s tests, which use the rest of it.
#[allow(dead_code, clippy::duplicate_mod)]
#[path = "../client/tests/sim.rs"]
mod sim;

use sim::{HostError, Pair};

/// The host's end of one transfer stream.
struct HostEnd {
    id: u32,
    sealer: Sealer,
    opener: Opener,
    packer: Packer,
    unpacker: Unpacker,
    inbox: FrameDecoder,
}

impl HostEnd {
    /// `accept_transfer`: the first frame is the id in the clear; it keys
    /// the channel. Whatever else came waits for [`HostEnd::receive`].
    fn accept(root: &FilesRoot, bytes: &[u8]) -> Result<Self, HostError> {
        let mut inbox = FrameDecoder::new(MAX_FILE_FRAME);
        inbox.push(bytes);
        let no_id = E2eError::Tampered { seq: 0 };
        let first = inbox.next_frame()?.ok_or(no_id)?;
        let id = <[u8; 4]>::try_from(first.as_slice())
            .map(u32::from_be_bytes)
            .map_err(|_| E2eError::Tampered { seq: 0 })?;
        let (sealer, opener) = e2e::transfer_keys(root, id, Side::Host)?;
        Ok(Self {
            id,
            sealer,
            opener,
            packer: Packer::new(),
            unpacker: Unpacker::new(MAX_FILE_FRAME),
            inbox,
        })
    }

    /// `SecureRecv::recv` for each whole frame.
    fn receive(&mut self, bytes: &[u8]) -> Result<Vec<FileMsg>, HostError> {
        self.inbox.push(bytes);
        let mut got = Vec::new();
        while let Some(sealed) = self.inbox.next_frame()? {
            let packed = self.opener.open_owned(sealed)?;
            got.push(frame::decode(self.unpacker.unpack(&packed)?)?);
        }
        Ok(got)
    }

    /// `SecureSend::send`, byte for byte, without the stream.
    fn send(&mut self, msg: &FileMsg) -> Vec<u8> {
        let mut buf = vec![squeeze::PLAIN];
        frame::serialize_append(msg, &mut buf, e2e::TAG_LEN).unwrap();
        self.packer.pack(&mut buf, e2e::TAG_LEN).unwrap();
        self.seal_raw(buf)
    }

    /// Seals `plain` as it is and frames it.
    fn seal_raw(&mut self, mut plain: Vec<u8>) -> Vec<u8> {
        self.sealer.seal_in_place(&mut plain).unwrap();
        frame::encode_raw(&plain, MAX_FILE_FRAME).unwrap()
    }
}

/// A client after the key exchange, and the files root the host made.
fn secured() -> (Client, FilesRoot) {
    let (mut pair, _) = Pair::secured();
    let _ = pair.events();
    let root = pair
        .host
        .files
        .take()
        .expect("the host made the files root");
    (pair.client, root)
}

fn events(client: &mut Client) -> Vec<Event> {
    std::iter::from_fn(|| client.poll_event()).collect()
}

/// A file of `len` bytes with a pattern.
fn file(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

const NAME: &str = "report.pdf";

/// A put of `size` bytes the host accepted and answered `Ready` to.
fn ready_put(size: u64) -> (Client, HostEnd, u32) {
    let (mut client, root) = secured();
    let id = client.start_put(NAME, size).unwrap();
    let mut host = HostEnd::accept(&root, &client.take_transfer(id)).unwrap();
    assert_eq!(host.id, id);
    assert_eq!(
        host.receive(&[]).unwrap(),
        vec![FileMsg::Put {
            name: NAME.into(),
            size
        }]
    );
    // A byte at a time: the stream may arrive in any pieces.
    for b in host.send(&FileMsg::Ready) {
        client.transfer_bytes(id, &[b]).unwrap();
    }
    assert_eq!(events(&mut client), vec![Event::FileReady { id }]);
    (client, host, id)
}

/// A get of `path` the host heard; the client and the host's end.
fn asked_get(path: &str) -> (Client, HostEnd, u32) {
    let (mut client, root) = secured();
    let id = client.start_get(path).unwrap();
    let mut host = HostEnd::accept(&root, &client.take_transfer(id)).unwrap();
    assert_eq!(host.id, id);
    assert_eq!(
        host.receive(&[]).unwrap(),
        vec![FileMsg::Get { path: path.into() }]
    );
    (client, host, id)
}

#[test]
fn the_id_goes_first_in_the_clear_then_sealed_messages() {
    let (mut client, root) = secured();
    let id = client.start_put(NAME, 3).unwrap();
    let out = client.take_transfer(id);
    assert_eq!(out[..8], [0, 0, 0, 4, 0, 0, 0, 1], "id 1, framed, clear");
    assert!(client.take_transfer(id).is_empty(), "taken once");
    // Another transfer's keys do not open it: each has its own.
    let (_, mut other) = e2e::transfer_keys(&root, 2, Side::Host).unwrap();
    let mut d = FrameDecoder::new(MAX_FILE_FRAME);
    d.push(&out);
    d.next_frame().unwrap();
    let sealed = d.next_frame().unwrap().unwrap();
    assert!(matches!(
        other.open_owned(sealed),
        Err(E2eError::Tampered { .. })
    ));
}

#[test]
fn a_put_goes_in_chunks_and_ends_with_its_sha256() {
    let bytes = file(150_000);
    let (mut client, mut host, id) = ready_put(bytes.len() as u64);
    for piece in bytes.chunks(CHUNK) {
        client.transfer(id).unwrap().put_chunk(piece).unwrap();
    }
    client.transfer(id).unwrap().end_put().unwrap();
    let heard = host.receive(&client.take_transfer(id)).unwrap();
    assert_eq!(heard.len(), 4, "three chunks and the end");
    let mut got = Vec::new();
    for msg in &heard[..3] {
        let FileMsg::Chunk(c) = msg else {
            panic!("a chunk, not {msg:?}");
        };
        assert!(c.len() <= CHUNK);
        got.extend_from_slice(c);
    }
    assert!(got == bytes, "the put bytes");
    assert_eq!(
        heard[3],
        FileMsg::End {
            sha256: sha256(&bytes)
        }
    );
    assert!(!client.transfer(id).unwrap().is_over());

    let path = "C:\\Users\\ada\\Downloads\\report.pdf".to_string();
    let saved = host.send(&FileMsg::Saved { path: path.clone() });
    client.transfer_bytes(id, &saved).unwrap();
    assert_eq!(events(&mut client), vec![Event::FileSaved { id, path }]);
    assert!(client.transfer(id).unwrap().is_over());
}

#[test]
fn a_put_sends_no_more_than_its_size_and_ends_only_when_all_is_sent() {
    let (mut client, _host, id) = ready_put(100);
    let t = client.transfer(id).unwrap();
    assert!(matches!(
        t.put_chunk(&[1; 101]),
        Err(ClientError::Transfer(_))
    ));
    t.put_chunk(&[1; 60]).unwrap();
    assert!(matches!(t.end_put(), Err(ClientError::Transfer(_))));
    assert!(matches!(
        t.put_chunk(&[1; 41]),
        Err(ClientError::Transfer(_))
    ));
    t.put_chunk(&[1; 40]).unwrap();
    t.end_put().unwrap();
    assert!(matches!(t.end_put(), Err(ClientError::Transfer(_))));
    assert!(matches!(t.put_chunk(&[]), Err(ClientError::Transfer(_))));

    // More than a chunk at once is refused even within the size.
    let (mut client, _host, id) = ready_put(2 * CHUNK as u64);
    let t = client.transfer(id).unwrap();
    assert!(matches!(
        t.put_chunk(&vec![0; CHUNK + 1]),
        Err(ClientError::Transfer(_))
    ));
    // A get takes no chunks and has no end to send.
    let (mut client, _host, id) = asked_get("a.txt");
    let t = client.transfer(id).unwrap();
    assert!(matches!(t.put_chunk(&[1]), Err(ClientError::Transfer(_))));
    assert!(matches!(t.end_put(), Err(ClientError::Transfer(_))));
}

#[test]
fn a_refused_put_is_over_and_what_follows_is_ignored() {
    let (mut client, root) = secured();
    let id = client.start_put(NAME, 10).unwrap();
    let mut host = HostEnd::accept(&root, &client.take_transfer(id)).unwrap();
    let reason = "the user refused the file".to_string();
    let mut bytes = host.send(&FileMsg::Refused(reason.clone()));
    bytes.extend(host.send(&FileMsg::Ready));
    client.transfer_bytes(id, &bytes).unwrap();
    let saved = host.send(&FileMsg::Saved { path: "x".into() });
    client.transfer_bytes(id, &saved).unwrap();
    assert_eq!(events(&mut client), vec![Event::FileRefused { id, reason }]);
    assert!(client.transfer(id).unwrap().is_over());
}

#[test]
fn the_host_out_of_turn_on_a_put_is_an_error() {
    // Saved before the end, and anything a get would hear.
    let out_of_turn = [
        FileMsg::Saved { path: "x".into() },
        FileMsg::Offer {
            name: "a".into(),
            size: 1,
        },
        FileMsg::Chunk(vec![1]),
        FileMsg::End { sha256: [0; 32] },
        FileMsg::Put {
            name: "a".into(),
            size: 1,
        },
    ];
    for msg in out_of_turn {
        let (mut client, mut host, id) = ready_put(1);
        let res = client.transfer_bytes(id, &host.send(&msg));
        assert!(matches!(res, Err(ClientError::Transfer(_))), "{msg:?}");
        assert!(events(&mut client).is_empty(), "{msg:?}");
    }
}

/// The host's answer to a get: the offer, the file in chunks, the end.
fn offer(host: &mut HostEnd, name: &str, bytes: &[u8], sha256: [u8; 32]) -> Vec<u8> {
    let size = bytes.len() as u64;
    let mut out = host.send(&FileMsg::Offer {
        name: name.into(),
        size,
    });
    for piece in bytes.chunks(CHUNK) {
        out.extend(host.send(&FileMsg::Chunk(piece.to_vec())));
    }
    out.extend(host.send(&FileMsg::End { sha256 }));
    out
}

#[test]
fn a_get_is_offered_fetched_checked_and_then_forgotten() {
    let bytes = file(150_000);
    let (mut client, mut host, id) = asked_get("C:\\Users\\ada\\notes.txt");
    let answer = offer(&mut host, "notes.txt", &bytes, sha256(&bytes));
    // In uneven pieces, a frame split across calls.
    for piece in answer.chunks(40_000) {
        client.transfer_bytes(id, piece).unwrap();
    }
    let name = "notes.txt".to_string();
    assert_eq!(
        events(&mut client),
        vec![
            Event::FileOffer {
                id,
                name: name.clone(),
                size: bytes.len() as u64
            },
            Event::FileData { id, got: 65_536 },
            Event::FileData { id, got: 131_072 },
            Event::FileData { id, got: 150_000 },
            Event::FileFetched { id, name, ok: true },
        ]
    );
    assert!(client.take_fetched(id) == bytes, "the fetched bytes");
    assert!(
        matches!(client.transfer(id), Err(ClientError::Transfer(_))),
        "forgotten once its bytes are taken"
    );
    assert!(client.take_fetched(id).is_empty());
    assert!(client.take_transfer(id).is_empty());
}

#[test]
fn fetched_bytes_can_be_taken_as_they_come() {
    let bytes = file(70_000);
    let (mut client, mut host, id) = asked_get("big.bin");
    let (head, tail) = bytes.split_at(CHUNK);
    let size = bytes.len() as u64;
    let mut first = host.send(&FileMsg::Offer {
        name: "big.bin".into(),
        size,
    });
    first.extend(host.send(&FileMsg::Chunk(head.to_vec())));
    client.transfer_bytes(id, &first).unwrap();
    let mut got = client.take_fetched(id);
    assert!(got == head, "the first chunk");
    assert!(client.transfer(id).is_ok(), "not over: still known");
    let mut rest = host.send(&FileMsg::Chunk(tail.to_vec()));
    rest.extend(host.send(&FileMsg::End {
        sha256: sha256(&bytes),
    }));
    client.transfer_bytes(id, &rest).unwrap();
    got.extend(client.take_fetched(id));
    assert!(got == bytes, "all of it, in order");
    assert!(client.transfer(id).is_err(), "forgotten");
}

#[test]
fn a_fetch_that_does_not_check_out_is_not_ok() {
    let bytes = file(1000);
    let name = "a.txt".to_string();
    let fetched = |answer: &dyn Fn(&mut HostEnd) -> Vec<u8>| {
        let (mut client, mut host, id) = asked_get("a.txt");
        client.transfer_bytes(id, &answer(&mut host)).unwrap();
        let last = events(&mut client).pop();
        assert!(client.transfer(id).unwrap().is_over());
        (id, last)
    };
    // A wrong SHA-256.
    let (id, last) = fetched(&|h| offer(h, "a.txt", &bytes, [7; 32]));
    let ok = false;
    assert_eq!(last, Some(Event::FileFetched { id, name, ok }));
    // Fewer bytes than offered, even with their own SHA-256.
    let (_, last) = fetched(&|h| {
        let mut out = h.send(&FileMsg::Offer {
            name: "a.txt".into(),
            size: 1001,
        });
        out.extend(h.send(&FileMsg::Chunk(bytes.clone())));
        out.extend(h.send(&FileMsg::End {
            sha256: sha256(&bytes),
        }));
        out
    });
    assert!(matches!(last, Some(Event::FileFetched { ok: false, .. })));
}

#[test]
fn more_bytes_than_offered_is_an_error() {
    let (mut client, mut host, id) = asked_get("a.txt");
    let mut out = host.send(&FileMsg::Offer {
        name: "a.txt".into(),
        size: 10,
    });
    out.extend(host.send(&FileMsg::Chunk(vec![1; 6])));
    client.transfer_bytes(id, &out).unwrap();
    let more = host.send(&FileMsg::Chunk(vec![1; 5]));
    let res = client.transfer_bytes(id, &more);
    assert!(matches!(res, Err(ClientError::Transfer(_))));
    assert_eq!(client.take_fetched(id), vec![1; 6], "only what was offered");
}

#[test]
fn the_host_out_of_turn_on_a_get_is_an_error() {
    let before_offer = [
        FileMsg::Chunk(vec![1]),
        FileMsg::End { sha256: [0; 32] },
        FileMsg::Ready,
        FileMsg::Saved { path: "x".into() },
        FileMsg::Get { path: "x".into() },
    ];
    for msg in before_offer {
        let (mut client, mut host, id) = asked_get("a.txt");
        let res = client.transfer_bytes(id, &host.send(&msg));
        assert!(matches!(res, Err(ClientError::Transfer(_))), "{msg:?}");
        assert!(events(&mut client).is_empty(), "{msg:?}");
        assert!(client.take_fetched(id).is_empty());
    }
    // A second offer.
    let (mut client, mut host, id) = asked_get("a.txt");
    let again = FileMsg::Offer {
        name: "b".into(),
        size: 1,
    };
    client.transfer_bytes(id, &host.send(&again)).unwrap();
    let res = client.transfer_bytes(id, &host.send(&again));
    assert!(matches!(res, Err(ClientError::Transfer(_))));
}

#[test]
fn transfer_ids_count_up_from_one() {
    let (mut client, root) = secured();
    let ids = [
        client.start_put("a", 1).unwrap(),
        client.start_get("b").unwrap(),
        client.start_put("c", 0).unwrap(),
    ];
    assert_eq!(ids, [1, 2, 3]);
    for id in ids {
        let host = HostEnd::accept(&root, &client.take_transfer(id)).unwrap();
        assert_eq!(host.id, id);
    }
    // An empty file is a put with no chunks.
    let t = client.transfer(3).unwrap();
    t.end_put().unwrap();
    assert!(matches!(
        client.transfer_bytes(9, &[0]),
        Err(ClientError::Transfer(_))
    ));
}

#[test]
fn a_transfer_before_the_key_exchange_is_early() {
    let mut client = sim::joined_client(sim::SECRET);
    assert!(matches!(client.start_put("a", 1), Err(ClientError::Early)));
    let mut pair = Pair::opened(sim::SECRET);
    assert!(matches!(
        pair.client.start_put("a", 1),
        Err(ClientError::Early)
    ));
    assert!(matches!(
        pair.client.start_get("a"),
        Err(ClientError::Early)
    ));
    assert!(pair.client.take_transfer(1).is_empty());
}

#[test]
fn tampered_replayed_and_foreign_frames_are_errors() {
    let (mut client, mut host, id) = asked_get("a.txt");
    let good = host.send(&FileMsg::Offer {
        name: "a".into(),
        size: 1,
    });
    // A byte changed anywhere after the length prefix.
    for at in [frame::HEADER_LEN, good.len() / 2, good.len() - 1] {
        let (mut client, _, id) = asked_get("a.txt");
        let mut bad = good.clone();
        bad[at] ^= 0x20;
        let res = client.transfer_bytes(id, &bad);
        assert!(
            matches!(res, Err(ClientError::E2e(E2eError::Tampered { .. }))),
            "{at}: {res:?}"
        );
        assert!(events(&mut client).is_empty());
    }
    // The same frame again.
    client.transfer_bytes(id, &good).unwrap();
    let res = client.transfer_bytes(id, &good);
    assert!(matches!(res, Err(ClientError::E2e(_))), "{res:?}");

    // Sealed for another transfer, or with the session's keys.
    let (mut pair, _) = Pair::secured();
    let root = pair.host.files.take().unwrap();
    let id = pair.client.start_get("a.txt").unwrap();
    let (mut other, _) = e2e::transfer_keys(&root, id + 1, Side::Host).unwrap();
    let mut sealed = vec![squeeze::PLAIN];
    frame::serialize_append(&FileMsg::Ready, &mut sealed, e2e::TAG_LEN).unwrap();
    other.seal_in_place(&mut sealed).unwrap();
    let foreign = frame::encode_raw(&sealed, MAX_FILE_FRAME).unwrap();
    let session = pair.host.seal(&HostMsg::Chat("hi".into()));
    for bytes in [foreign, session] {
        let res = pair.client.transfer_bytes(id, &bytes);
        assert!(matches!(res, Err(ClientError::E2e(_))), "{res:?}");
    }
    assert!(pair.events().is_empty());
}

#[test]
fn oversized_and_malformed_frames_are_errors() {
    let (mut client, mut host, id) = asked_get("a.txt");
    let huge = u32::try_from(MAX_FILE_FRAME + 1).unwrap().to_be_bytes();
    let res = client.transfer_bytes(id, &huge);
    assert!(
        matches!(res, Err(ClientError::Frame(FrameError::Oversized { .. }))),
        "{res:?}"
    );
    // Sealed right but not a message: an unknown compression flag, then
    // an unknown variant.
    let (mut client2, mut host2, id2) = asked_get("a.txt");
    let res = client2.transfer_bytes(id2, &host2.seal_raw(vec![0xee, 1, 2]));
    assert!(matches!(res, Err(ClientError::Squeeze(_))), "{res:?}");
    let res = client.transfer_bytes(id, &host.seal_raw(vec![squeeze::PLAIN, 0xff, 0xff]));
    assert!(matches!(res, Err(ClientError::Frame(_))), "{res:?}");
    // Too short to hold a tag.
    let (mut client, _, id) = asked_get("a.txt");
    let res = client.transfer_bytes(id, &[0, 0, 0, 3, 1, 2, 3]);
    assert!(matches!(res, Err(ClientError::E2e(_))), "{res:?}");
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
}

#[test]
fn random_bytes_on_a_transfer_stream_never_panic_nor_pass() {
    let mut rng = Rng(0x7a5f_e11e_0b5e_55ed);
    let (mut client, _) = secured();
    for i in 0..300 {
        let id = if i % 2 == 0 {
            client.start_get("a").unwrap()
        } else {
            client.start_put("a", 10).unwrap()
        };
        let mut bytes = rng.bytes(300);
        if i % 3 == 0 && bytes.len() >= 4 {
            // A plausible length prefix, so the opener is reached.
            let len = u32::try_from(bytes.len() - 4).unwrap();
            bytes[..4].copy_from_slice(&len.to_be_bytes());
        }
        let _ = client.transfer_bytes(id, &bytes);
        let _ = client.take_fetched(id);
        assert!(events(&mut client).is_empty(), "nothing forged opens");
    }
}

#[test]
fn random_sealed_messages_on_a_transfer_stream_never_panic() {
    let mut rng = Rng(0x0f11_e5ea_1ed0_c0de);
    for i in 0..64 {
        let (mut client, mut host, id) = if i % 2 == 0 {
            asked_get("a")
        } else {
            ready_put(10)
        };
        for _ in 0..4 {
            let mut plain = rng.bytes(120);
            if let Some(flag) = plain.first_mut() {
                *flag = (*flag % 3).min(squeeze::DEFLATED);
            }
            if client.transfer_bytes(id, &host.seal_raw(plain)).is_err() {
                break;
            }
        }
        let _ = client.take_fetched(id);
        let _ = events(&mut client);
    }
}

/// One `browser_client` fuzz input for a transfer: mode 3, `cut` (bit 0:
/// a put), then each message as the host packs it, `[u16 BE length][bytes]`
/// (see the fuzz target).
fn transfer_seed(cut: u8, msgs: &[FileMsg]) -> Vec<u8> {
    let mut seed = vec![3, cut];
    for msg in msgs {
        let mut plain = vec![squeeze::PLAIN];
        frame::serialize_append(msg, &mut plain, 0).unwrap();
        seed.extend(u16::try_from(plain.len()).unwrap().to_be_bytes());
        seed.extend(plain);
    }
    seed
}

#[test]
#[ignore = "writes fuzz/seeds/browser_client/transfer-*; run once by hand"]
fn write_transfer_fuzz_seeds() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/browser_client");
    std::fs::create_dir_all(&dir).unwrap();
    let get = transfer_seed(
        0,
        &[
            FileMsg::Offer {
                name: "a.txt".into(),
                size: 3,
            },
            FileMsg::Chunk(b"abc".to_vec()),
            FileMsg::End {
                sha256: sha256(b"abc"),
            },
        ],
    );
    std::fs::write(dir.join("transfer-get"), get).unwrap();
    let saved = FileMsg::Saved {
        path: "a.txt".into(),
    };
    let put = transfer_seed(1, &[FileMsg::Ready, saved]);
    std::fs::write(dir.join("transfer-put"), put).unwrap();
}
