//! One direction of the simulated link: the session stream's bytes, cut
//! into packets, each leaving when the rate allows, arriving after the
//! delay (some later: reordered; a lost one a retransmission timeout
//! later, as QUIC would resend it), and reassembled in order at the other
//! end, as a QUIC stream is. Every draw comes from a seeded generator, so
//! a scenario runs the same every time.
//!
//! What travels is what the real stream carries minus the seal: each
//! message serialised ([`frame::serialize_append`]), packed by the
//! direction's deflate stream ([`Packer`]/[`Unpacker`]) and
//! length-prefixed ([`frame::encode_raw`], [`FrameDecoder`]).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use lifeline_proto::frame::{self, FrameDecoder};
use lifeline_session::messages::{HostMsg, ViewerMsg};
use lifeline_session::squeeze::{self, Packer, Unpacker};

/// How one direction behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spec {
    /// One-way delay.
    pub delay: Duration,
    /// Bytes a second; `None`: as fast as they come.
    pub rate: Option<u64>,
    /// Share of packets lost (each loss costs a retransmission timeout).
    pub loss: f64,
    /// Share of packets held back by up to `jitter` (so overtaken).
    pub reorder: f64,
    pub jitter: Duration,
    /// Seeds the draws of loss and reordering.
    pub seed: u64,
}

impl Spec {
    /// A clean link with this one-way delay.
    pub fn delay(ms: u64) -> Self {
        Self {
            delay: Duration::from_millis(ms),
            rate: None,
            loss: 0.0,
            reorder: 0.0,
            jitter: Duration::ZERO,
            seed: 1,
        }
    }

    /// The same, limited to `bytes_per_s`.
    pub fn rate(self, bytes_per_s: u64) -> Self {
        Self {
            rate: Some(bytes_per_s),
            ..self
        }
    }

    /// The same, losing `loss` and reordering `reorder` of its packets
    /// (held back by up to `jitter`), drawn from `seed`.
    pub fn lossy(self, loss: f64, reorder: f64, jitter: Duration, seed: u64) -> Self {
        Self {
            loss,
            reorder,
            jitter,
            seed,
            ..self
        }
    }
}

/// The largest packet's payload.
const PACKET: usize = 1200;

/// A small deterministic generator (splitmix64).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A draw in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Debug)]
struct Packet {
    arrives: Instant,
    offset: u64,
    bytes: Vec<u8>,
}

/// One direction of the link.
#[derive(Debug)]
pub struct Pipe {
    spec: Spec,
    rng: Rng,
    /// When the last packet finished leaving (the rate's queue).
    free_at: Option<Instant>,
    /// The stream offset of the next byte sent.
    sent: u64,
    in_flight: Vec<Packet>,
    /// Packets arrived ahead of a gap, by offset.
    early: BTreeMap<u64, Vec<u8>>,
    /// The stream offset up to which bytes were handed on.
    delivered: u64,
    frames: FrameDecoder,
    packer: Packer,
    unpacker: Unpacker,
    max: usize,
    /// Down: whatever is sent is lost.
    up: bool,
}

impl Pipe {
    /// A direction carrying frames of at most `max` bytes.
    pub fn new(spec: Spec, max: usize) -> Self {
        Self {
            rng: Rng::new(spec.seed),
            spec,
            free_at: None,
            sent: 0,
            in_flight: Vec::new(),
            early: BTreeMap::new(),
            delivered: 0,
            frames: FrameDecoder::new(max),
            packer: Packer::new(),
            unpacker: Unpacker::new(max),
            max,
            up: true,
        }
    }

    /// Stream bytes sent so far (length prefixes included).
    pub fn bytes_sent(&self) -> u64 {
        self.sent
    }

    /// Stream bytes handed on in order so far.
    pub fn bytes_delivered(&self) -> u64 {
        self.delivered
    }

    /// Puts a message from the host on the link.
    pub fn send_host(&mut self, now: Instant, msg: &HostMsg) {
        let mut buf = vec![squeeze::PLAIN];
        frame::serialize_append(msg, &mut buf, 0).expect("a message serialises");
        self.send(now, buf);
    }

    /// Puts a message from the viewer on the link.
    pub fn send_viewer(&mut self, now: Instant, msg: &ViewerMsg) {
        let mut buf = vec![squeeze::PLAIN];
        frame::serialize_append(msg, &mut buf, 0).expect("a message serialises");
        self.send(now, buf);
    }

    /// Packs a serialised message (after its flag byte) as the real
    /// stream does (without the seal) and sends it in packets.
    fn send(&mut self, now: Instant, mut buf: Vec<u8>) {
        self.packer.pack(&mut buf, 0).expect("a message packs");
        let framed = frame::encode_raw(&buf, self.max).expect("a message fits its frame");
        if !self.up {
            return;
        }
        for chunk in framed.chunks(PACKET) {
            self.packet(now, chunk);
        }
    }

    fn packet(&mut self, now: Instant, bytes: &[u8]) {
        let leaves = match self.spec.rate {
            Some(rate) => {
                let start = self.free_at.map_or(now, |t| t.max(now));
                let took = Duration::from_secs_f64(bytes.len() as f64 / rate.max(1) as f64);
                let done = start + took;
                self.free_at = Some(done);
                done
            }
            None => now,
        };
        let mut arrives = leaves + self.spec.delay;
        if self.rng.unit() < self.spec.reorder {
            arrives += self.spec.jitter.mul_f64(self.rng.unit());
        }
        // Lost: resent once the sender notices, which may be lost again.
        let rto = 3 * self.spec.delay + Duration::from_millis(10);
        while self.rng.unit() < self.spec.loss {
            arrives += rto;
        }
        self.in_flight.push(Packet {
            arrives,
            offset: self.sent,
            bytes: bytes.to_vec(),
        });
        self.sent += bytes.len() as u64;
    }

    /// When the next packet arrives, if any is on the way.
    pub fn next_arrival(&self) -> Option<Instant> {
        self.in_flight.iter().map(|p| p.arrives).min()
    }

    /// The messages (serialised payloads, for [`frame::decode`]) whole by
    /// `now`, in order.
    pub fn deliver(&mut self, now: Instant) -> Vec<Vec<u8>> {
        let (here, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.in_flight)
            .into_iter()
            .partition(|p| p.arrives <= now);
        self.in_flight = later;
        for p in here {
            self.early.insert(p.offset, p.bytes);
        }
        while let Some(bytes) = self.early.remove(&self.delivered) {
            self.delivered += bytes.len() as u64;
            self.frames.push(&bytes);
        }
        let mut out = Vec::new();
        while let Some(packed) = self.frames.next_frame().expect("frames are whole") {
            let plain = self
                .unpacker
                .unpack(&packed)
                .expect("the deflate stream is in step");
            out.push(plain.to_vec());
        }
        out
    }

    /// The link is cut: what is on the way is gone, and anything sent
    /// until [`Pipe::restore`] is lost.
    pub fn cut(&mut self) {
        self.up = false;
        self.in_flight.clear();
    }

    /// A new stream on a new link, as a resumed session has: both ends'
    /// compression start afresh.
    pub fn restore(&mut self, now: Instant) {
        let salt = now_salt(self.sent);
        *self = Self {
            free_at: Some(now),
            ..Self::new(self.spec, self.max)
        };
        self.rng = Rng::new(self.spec.seed ^ salt);
    }

    /// The one-way delay.
    pub fn delay(&self) -> Duration {
        self.spec.delay
    }
}

/// Keeps a restored pipe's draws apart from the first one's.
fn now_salt(n: u64) -> u64 {
    n.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1
}

#[cfg(test)]
mod tests {
    use lifeline_session::messages::MAX_VIEWER_FRAME;

    use super::*;

    fn chat(i: usize) -> ViewerMsg {
        // Big enough to take several packets.
        ViewerMsg::Chat(format!("{i}:{}", "x".repeat(i * 700)))
    }

    fn drain(p: &mut Pipe, until: Instant) -> Vec<ViewerMsg> {
        let mut out = Vec::new();
        while let Some(t) = p.next_arrival().filter(|t| *t <= until) {
            out.extend(
                p.deliver(t)
                    .iter()
                    .map(|m| frame::decode::<ViewerMsg>(m).unwrap()),
            );
        }
        out
    }

    #[test]
    fn a_lossy_reordering_link_still_delivers_in_order() {
        let t0 = Instant::now();
        let spec = Spec::delay(20).lossy(0.2, 0.5, Duration::from_millis(40), 9);
        let mut p = Pipe::new(spec, MAX_VIEWER_FRAME);
        let sent: Vec<_> = (0..20).map(chat).collect();
        for m in &sent {
            p.send_viewer(t0, m);
        }
        assert_eq!(drain(&mut p, t0 + Duration::from_secs(10)), sent);
        assert_eq!(p.bytes_delivered(), p.bytes_sent());
    }

    #[test]
    fn the_rate_spaces_packets_and_the_delay_adds_to_it() {
        let t0 = Instant::now();
        let mut p = Pipe::new(Spec::delay(50).rate(10_000), MAX_VIEWER_FRAME);
        p.send_viewer(t0, &ViewerMsg::Chat("y".repeat(9_000)));
        let bytes = p.bytes_sent();
        let last = p.in_flight.iter().map(|p| p.arrives).max().unwrap();
        let want = Duration::from_millis(50) + Duration::from_secs_f64(bytes as f64 / 10_000.0);
        assert!(
            (last - t0).abs_diff(want) < Duration::from_millis(2),
            "{:?}",
            last - t0
        );
        assert!(p.deliver(last - Duration::from_millis(1)).is_empty());
        assert_eq!(p.deliver(last).len(), 1);
    }

    #[test]
    fn a_cut_link_loses_what_is_on_the_way_and_restores_fresh() {
        let t0 = Instant::now();
        let mut p = Pipe::new(Spec::delay(10), MAX_VIEWER_FRAME);
        p.send_viewer(t0, &chat(1));
        p.cut();
        p.send_viewer(t0, &chat(2));
        assert_eq!(p.next_arrival(), None);
        p.restore(t0);
        p.send_viewer(t0, &chat(3));
        assert_eq!(drain(&mut p, t0 + Duration::from_secs(1)), [chat(3)]);
    }
}
