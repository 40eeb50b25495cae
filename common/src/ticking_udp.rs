//! A UDP socket for QUIC that reads on a clock instead of on every
//! packet: the relay's devices port (`serve --devices-listen`), where
//! thousands of idle devices' keep-alives arrive spread evenly over time.
//! Read as each comes (quinn's own socket, registered with the runtime's
//! poller), every keep-alive wakes a sleeping thread, and those wake-ups
//! are most of what an idle device costs. This socket is not registered
//! with the poller at all: a read that finds nothing waits for the next
//! tick ([`BUSY_TICK`] after a tick that found packets, doubling while
//! none come, up to [`IDLE_TICK`]) and then reads everything that arrived
//! meanwhile, in batches. Sends go out at once.
//!
//! The price is latency: a packet waits up to a tick before the relay
//! reads it. That is nothing to an online link (a handshake, a keep-alive,
//! the ack of a call) and too much for a session, which never comes here.

use std::fmt;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use quinn::udp::{RecvMeta, Transmit, UdpSocketState};
use quinn::{AsyncUdpSocket, UdpPoller};
use tokio::time::Sleep;

/// The wait before reading again after a tick that found packets: under
/// load the socket is read a hundred times a second.
pub const BUSY_TICK: Duration = Duration::from_millis(10);
/// The longest wait between reads while nothing comes: an idle port wakes
/// the thread a few times a second, and a device's first packet waits at
/// most this long.
pub const IDLE_TICK: Duration = Duration::from_millis(160);

/// A UDP socket read on a clock (see the module's documentation).
pub struct TickingUdp {
    socket: std::net::UdpSocket,
    state: UdpSocketState,
    clock: Mutex<Clock>,
    /// A send found the kernel's buffer full; writers wait a tick.
    blocked: AtomicBool,
}

/// When the socket is read next.
struct Clock {
    next: Option<Pin<Box<Sleep>>>,
    tick: Duration,
    /// A read since the last tick found packets.
    got: bool,
}

impl TickingUdp {
    /// Takes over `socket` (made non-blocking), with quinn's socket
    /// options (segmentation offload, ECN) where the system has them.
    pub fn new(socket: std::net::UdpSocket) -> io::Result<Self> {
        socket.set_nonblocking(true)?;
        let state = UdpSocketState::new((&socket).into())?;
        Ok(Self {
            socket,
            state,
            clock: Mutex::new(Clock {
                next: None,
                tick: BUSY_TICK,
                got: false,
            }),
            blocked: AtomicBool::new(false),
        })
    }

    fn clock(&self) -> std::sync::MutexGuard<'_, Clock> {
        self.clock.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl fmt::Debug for TickingUdp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TickingUdp")
            .field("socket", &self.socket)
            .finish_non_exhaustive()
    }
}

impl Clock {
    /// Waits for the next tick, setting one up when none is: sooner after
    /// a tick that found packets, later while none come.
    fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let next = self.next.get_or_insert_with(|| {
            self.tick = match self.got {
                true => BUSY_TICK,
                false => (self.tick * 2).min(IDLE_TICK),
            };
            self.got = false;
            Box::pin(tokio::time::sleep(self.tick))
        });
        ready!(next.as_mut().poll(cx));
        self.next = None;
        Poll::Ready(())
    }
}

impl AsyncUdpSocket for TickingUdp {
    fn create_io_poller(self: Arc<Self>) -> Pin<Box<dyn UdpPoller>> {
        Box::pin(Poller {
            socket: self,
            wait: None,
        })
    }

    fn try_send(&self, transmit: &Transmit<'_>) -> io::Result<()> {
        let sent = self.state.send((&self.socket).into(), transmit);
        if matches!(&sent, Err(e) if e.kind() == io::ErrorKind::WouldBlock) {
            self.blocked.store(true, Ordering::Relaxed);
        }
        sent
    }

    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        loop {
            match self.state.recv((&self.socket).into(), bufs, meta) {
                Ok(n) => {
                    self.clock().got = true;
                    return Poll::Ready(Ok(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
            ready!(self.clock().poll_tick(cx));
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    fn may_fragment(&self) -> bool {
        self.state.may_fragment()
    }

    fn max_transmit_segments(&self) -> usize {
        self.state.max_gso_segments()
    }

    fn max_receive_segments(&self) -> usize {
        self.state.gro_segments()
    }
}

/// Whether a connection may send: at once, unless a send found the
/// kernel's buffer full, then after [`BUSY_TICK`].
struct Poller {
    socket: Arc<TickingUdp>,
    wait: Option<Pin<Box<Sleep>>>,
}

impl fmt::Debug for Poller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Poller").finish_non_exhaustive()
    }
}

impl UdpPoller for Poller {
    fn poll_writable(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.socket.blocked.load(Ordering::Relaxed) {
            return Poll::Ready(Ok(()));
        }
        let wait = self
            .wait
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(BUSY_TICK)));
        ready!(wait.as_mut().poll(cx));
        self.wait = None;
        self.socket.blocked.store(false, Ordering::Relaxed);
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Datagrams sent while nobody reads arrive at the next tick, all of
    /// them, and a send goes out at once.
    #[tokio::test]
    async fn reads_what_came_between_ticks() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let ticking = Arc::new(TickingUdp::new(socket).unwrap());
        let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = ticking.local_addr().unwrap();
        for i in 0..5u8 {
            peer.send_to(&[i; 10], to).unwrap();
        }
        let mut got = Vec::new();
        while got.len() < 5 {
            let mut buf = [0u8; 1500];
            let mut meta = [RecvMeta::default()];
            let n = std::future::poll_fn(|cx| {
                let mut bufs = [IoSliceMut::new(&mut buf)];
                ticking.poll_recv(cx, &mut bufs, &mut meta)
            });
            let n = tokio::time::timeout(Duration::from_secs(5), n)
                .await
                .expect("read within a few ticks")
                .unwrap();
            assert_eq!(n, 1);
            got.push(buf[0]);
        }
        assert_eq!(got, vec![0, 1, 2, 3, 4]);
        let back = Transmit {
            destination: peer.local_addr().unwrap(),
            ecn: None,
            contents: b"ack",
            segment_size: None,
            src_ip: None,
        };
        ticking.try_send(&back).unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 16];
        let (n, from) = peer.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (&b"ack"[..], to));
    }

    /// The clock slows while nothing comes and is brisk again once
    /// something does.
    #[tokio::test]
    async fn the_tick_slows_while_idle() {
        let mut clock = Clock {
            next: None,
            tick: BUSY_TICK,
            got: false,
        };
        let mut ticks = Vec::new();
        for _ in 0..5 {
            std::future::poll_fn(|cx| clock.poll_tick(cx)).await;
            ticks.push(clock.tick);
        }
        let ms = |n| Duration::from_millis(n);
        assert_eq!(ticks, [ms(20), ms(40), ms(80), ms(160), ms(160)]);
        clock.got = true;
        std::future::poll_fn(|cx| clock.poll_tick(cx)).await;
        assert_eq!(clock.tick, BUSY_TICK);
    }
}
