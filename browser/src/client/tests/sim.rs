//! A simulated relay and host for the client's tests: the host is written
//! with `lifeline-session`'s own pieces and lays its bytes out exactly as
//! `lifeline-net`'s secure channel does (`SecureSend::send` and
//! `SecureRecv::recv`), without the streams.

use lifeline_proto::SessionCode;
use lifeline_proto::code::Locator;
use lifeline_proto::control::ViewerEvent;
use lifeline_proto::frame::{self, FrameDecoder, FrameError, MAX_CONTROL_FRAME};
use lifeline_session::e2e::{self, E2eError, FilesRoot, Handshake, Opener, Sealer, Side};
use lifeline_session::messages::{HostMsg, MAX_VIEWER_FRAME, ViewerMsg, max_frame_from};
use lifeline_session::screen::image::Image;
use lifeline_session::squeeze::{self, Packer, SqueezeError, Unpacker};

use crate::client::{Client, ClientError, Event};

pub(super) const LOCATOR: u32 = 12_345;
pub(super) const SECRET: u32 = 678_901;
pub(super) const SESSION: &str = "s-1";
pub(super) const TOKEN: &str = "tech-token";

pub(super) fn code(secret: u32) -> SessionCode {
    SessionCode::new(Locator::new(LOCATOR).unwrap(), secret).unwrap()
}

pub(super) fn clock() -> f64 {
    0.0
}

/// Why the simulated host stopped.
#[derive(Debug, thiserror::Error)]
pub(super) enum HostError {
    #[error(transparent)]
    E2e(#[from] E2eError),
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error(transparent)]
    Squeeze(#[from] SqueezeError),
}

/// Where the host's end of the channel stands.
pub(super) enum Keys {
    Exchanging(Handshake),
    Confirming {
        sealer: Sealer,
        opener: Opener,
        expected: &'static [u8],
    },
    Open {
        sealer: Sealer,
        opener: Opener,
    },
    Gone,
}

/// The host's end of the session stream, as `lifeline-net` runs it: it
/// opens the stream with its key share, confirms, then seals every
/// message after a compression flag.
pub(super) struct Host {
    pub(super) keys: Keys,
    pub(super) inbox: FrameDecoder,
    pub(super) out: Vec<u8>,
    pub(super) packer: Packer,
    pub(super) unpacker: Unpacker,
    /// Keys file transfers, once the key exchange made them.
    pub(super) files: Option<FilesRoot>,
}

impl Host {
    pub(super) fn new(code: &SessionCode) -> Self {
        let (hs, mine) = e2e::start(Side::Host, code, SESSION);
        Self {
            keys: Keys::Exchanging(hs),
            inbox: FrameDecoder::new(max_frame_from(Side::Viewer)),
            out: frame::encode_raw(&mine, max_frame_from(Side::Host)).unwrap(),
            packer: Packer::new(),
            unpacker: Unpacker::new(MAX_VIEWER_FRAME),
            files: None,
        }
    }

    /// `SecureSend::send`, byte for byte, without the stream.
    pub(super) fn seal(&mut self, msg: &HostMsg) -> Vec<u8> {
        let mut buf = vec![squeeze::PLAIN];
        frame::serialize_append(msg, &mut buf, e2e::TAG_LEN).unwrap();
        self.packer.pack(&mut buf, e2e::TAG_LEN).unwrap();
        self.seal_raw(buf)
    }

    /// Seals `plain` as it is (any bytes, as if a host's packer made them)
    /// and frames it.
    pub(super) fn seal_raw(&mut self, mut plain: Vec<u8>) -> Vec<u8> {
        let Keys::Open { sealer, .. } = &mut self.keys else {
            panic!("the host's channel is not open");
        };
        sealer.seal_in_place(&mut plain).unwrap();
        frame::encode_raw(&plain, max_frame_from(Side::Host)).unwrap()
    }

    pub(super) fn send(&mut self, msg: &HostMsg) {
        let framed = self.seal(msg);
        self.out.extend(framed);
    }

    /// The viewer's bytes: the handshake, then `SecureRecv::recv` for each
    /// whole frame.
    pub(super) fn receive(&mut self, bytes: &[u8]) -> Result<Vec<ViewerMsg>, HostError> {
        self.inbox.push(bytes);
        let mut got = Vec::new();
        while let Some(payload) = self.inbox.next_frame()? {
            match std::mem::replace(&mut self.keys, Keys::Gone) {
                Keys::Exchanging(hs) => {
                    let keys = hs.finish(&payload)?;
                    self.files = Some(keys.files);
                    let mut sealer = keys.sealer;
                    let confirm = sealer.seal(keys.my_confirm)?;
                    self.out
                        .extend(frame::encode_raw(&confirm, max_frame_from(Side::Host))?);
                    self.keys = Keys::Confirming {
                        sealer,
                        opener: keys.opener,
                        expected: keys.their_confirm,
                    };
                }
                Keys::Confirming {
                    sealer,
                    mut opener,
                    expected,
                } => {
                    opener.open_confirm(&payload, expected)?;
                    self.keys = Keys::Open { sealer, opener };
                }
                Keys::Open { sealer, mut opener } => {
                    let packed = opener.open_owned(payload)?;
                    self.keys = Keys::Open { sealer, opener };
                    got.push(frame::decode(self.unpacker.unpack(&packed)?)?);
                }
                Keys::Gone => panic!("the host already failed"),
            }
        }
        Ok(got)
    }

    pub(super) fn open(&self) -> bool {
        matches!(self.keys, Keys::Open { .. })
    }
}

/// A client and a host joined by their session stream.
pub(super) struct Pair {
    pub(super) client: Client,
    pub(super) host: Host,
}

/// A client the relay paired: hello and join taken, `Joined` fed.
pub(super) fn joined_client(secret: u32) -> Client {
    joined_client_with(secret, false)
}

/// As [`joined_client`], with the page decoding video (`video`) or not.
pub(super) fn joined_client_with(secret: u32, video: bool) -> Client {
    let mut client = Client::new(&code(secret).to_string(), TOKEN, video).unwrap();
    client.take_control();
    client.control_bytes(&joined_bytes()).unwrap();
    assert!(matches!(client.poll_event(), Some(Event::Joined { .. })));
    client
}

pub(super) fn joined_bytes() -> Vec<u8> {
    let joined = ViewerEvent::Joined {
        session: SESSION.into(),
        host_name: "desk-7".into(),
        os_user: "ada".into(),
    };
    frame::encode(&joined, MAX_CONTROL_FRAME).unwrap()
}

impl Pair {
    /// Joined, the session stream opened, the host's key share not yet
    /// delivered.
    pub(super) fn opened(host_secret: u32) -> Self {
        Self::opened_with(host_secret, false)
    }

    /// As [`Pair::opened`], the page decoding video (`video`) or not.
    pub(super) fn opened_with(host_secret: u32, video: bool) -> Self {
        let mut client = joined_client_with(SECRET, video);
        client.session_opened().unwrap();
        Self {
            client,
            host: Host::new(&code(host_secret)),
        }
    }

    /// The key exchange done; what the host heard is returned.
    pub(super) fn secured() -> (Self, Vec<ViewerMsg>) {
        Self::secured_with(false)
    }

    /// As [`Pair::secured`], the page decoding video (`video`) or not.
    pub(super) fn secured_with(video: bool) -> (Self, Vec<ViewerMsg>) {
        let mut pair = Self::opened_with(SECRET, video);
        let heard = pair.step().unwrap();
        assert!(pair.host.open());
        (pair, heard)
    }

    /// Moves bytes both ways until neither side has any; the viewer
    /// messages the host opened on the way.
    pub(super) fn step(&mut self) -> Result<Vec<ViewerMsg>, ClientError> {
        let mut heard = Vec::new();
        loop {
            let to_host = self.client.take_session();
            let to_client = std::mem::take(&mut self.host.out);
            if to_host.is_empty() && to_client.is_empty() {
                return Ok(heard);
            }
            heard.extend(self.host.receive(&to_host).unwrap());
            self.client.session_bytes(&to_client, &clock)?;
        }
    }

    pub(super) fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.client.poll_event()).collect()
    }
}

/// A 64×48 screen with a pattern in every channel.
pub(super) fn pattern(shift: u32) -> Image {
    let mut img = Image::new(64, 48).unwrap();
    for y in 0..48u32 {
        for x in 0..64u32 {
            img.pixels[(y * 64 + x) as usize] =
                (((x * 4 + shift) & 0xff) << 16) | (((y * 5) & 0xff) << 8) | (((x ^ y) * 3) & 0xff);
        }
    }
    img
}

/// `img` as the canvas takes it.
pub(super) fn as_rgba(img: &Image) -> Vec<u8> {
    img.pixels
        .iter()
        .flat_map(|p| {
            let [b, g, r, _] = p.to_le_bytes();
            [r, g, b, 255]
        })
        .collect()
}
