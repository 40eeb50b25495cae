//! A bad network in a box, for the soak: a UDP forwarder in front of the
//! relay that acts like a flaky NAT. On command it drops packets in bursts
//! (some or all, both ways, for a while) and *rebinds*: every client gets a
//! new outside port, so the relay sees each client move to a new address,
//! as when a laptop changes network. Traffic goes to loopback only.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the forwarder is told to do, shared with its threads.
#[derive(Debug, Default)]
struct Control {
    /// Until when, and what share of packets (0..=1000 per mille), to drop.
    burst: Mutex<Option<(Instant, u32)>>,
    /// Bumped to give every client a new outside port.
    generation: AtomicU64,
    dropped: AtomicU64,
    passed: AtomicU64,
    rng: AtomicU64,
}

impl Control {
    /// Whether this packet is lost.
    fn drop_now(&self) -> bool {
        let burst = *self.burst.lock().unwrap_or_else(|e| e.into_inner());
        let lost = match burst {
            Some((until, per_mille)) if Instant::now() < until => {
                // xorshift: cheap, and good enough to pick packets.
                let mut x = self.rng.load(Ordering::Relaxed) | 1;
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                self.rng.store(x, Ordering::Relaxed);
                (x % 1000) < u64::from(per_mille)
            }
            _ => false,
        };
        let counter = if lost { &self.dropped } else { &self.passed };
        counter.fetch_add(1, Ordering::Relaxed);
        lost
    }
}

/// One client's outside socket, and the thread that carries replies back.
struct Outside {
    socket: Arc<UdpSocket>,
    generation: u64,
    stop: Arc<AtomicBool>,
}

/// The flaky NAT; clients use [`ChaosNat::addr`] as the relay's address.
#[derive(Debug)]
pub struct ChaosNat {
    pub addr: SocketAddr,
    control: Arc<Control>,
    stop: Arc<AtomicBool>,
}

impl ChaosNat {
    /// Forwards `127.0.0.1:<new port>` to `target`.
    pub fn start(target: SocketAddr) -> std::io::Result<Self> {
        let front = Arc::new(UdpSocket::bind("127.0.0.1:0")?);
        front.set_read_timeout(Some(Duration::from_millis(100)))?;
        let addr = front.local_addr()?;
        let control = Arc::new(Control {
            rng: AtomicU64::new(0x9e37_79b9_7f4a_7c15),
            ..Control::default()
        });
        let stop = Arc::new(AtomicBool::new(false));
        let (c, halt) = (control.clone(), stop.clone());
        std::thread::spawn(move || forward(&front, target, &c, &halt));
        Ok(Self {
            addr,
            control,
            stop,
        })
    }

    /// Drops `per_mille` of the packets both ways for `span`.
    pub fn burst(&self, per_mille: u32, span: Duration) {
        let mut b = self.control.burst.lock().unwrap_or_else(|e| e.into_inner());
        *b = Some((Instant::now() + span, per_mille.min(1000)));
    }

    /// Every client's next packet leaves from a new port.
    pub fn rebind(&self) {
        self.control.generation.fetch_add(1, Ordering::Relaxed);
    }

    /// Packets dropped and passed so far.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.control.dropped.load(Ordering::Relaxed),
            self.control.passed.load(Ordering::Relaxed),
        )
    }
}

impl Drop for ChaosNat {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The front loop: client → relay, through each client's outside socket.
fn forward(front: &Arc<UdpSocket>, target: SocketAddr, control: &Arc<Control>, halt: &AtomicBool) {
    let mut clients: HashMap<SocketAddr, Outside> = HashMap::new();
    let mut buf = vec![0u8; 65_536];
    while !halt.load(Ordering::Relaxed) {
        let Ok((n, from)) = front.recv_from(&mut buf) else {
            continue;
        };
        let generation = control.generation.load(Ordering::Relaxed);
        let stale = clients
            .get(&from)
            .is_none_or(|o| o.generation != generation);
        if stale {
            if let Some(old) = clients.remove(&from) {
                old.stop.store(true, Ordering::Relaxed);
            }
            match outside(front, from, generation, control) {
                Ok(o) => {
                    clients.insert(from, o);
                }
                Err(_) => continue,
            }
        }
        if control.drop_now() {
            continue;
        }
        if let Some(o) = clients.get(&from) {
            let _ = o.socket.send_to(&buf[..n], target);
        }
    }
    for o in clients.values() {
        o.stop.store(true, Ordering::Relaxed);
    }
}

/// A new outside socket for `client`, with its reply thread.
fn outside(
    front: &Arc<UdpSocket>,
    client: SocketAddr,
    generation: u64,
    control: &Arc<Control>,
) -> std::io::Result<Outside> {
    let socket = Arc::new(UdpSocket::bind("127.0.0.1:0")?);
    socket.set_read_timeout(Some(Duration::from_millis(100)))?;
    let stop = Arc::new(AtomicBool::new(false));
    let (back, to_client, halt, c) = (socket.clone(), front.clone(), stop.clone(), control.clone());
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65_536];
        while !halt.load(Ordering::Relaxed) {
            if let Ok((n, _)) = back.recv_from(&mut buf)
                && !c.drop_now()
            {
                let _ = to_client.send_to(&buf[..n], client);
            }
        }
    });
    Ok(Outside {
        socket,
        generation,
        stop,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwards_drops_in_bursts_and_rebinds() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let nat = ChaosNat::start(server.local_addr().unwrap()).unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let mut buf = [0u8; 16];
        client.send_to(b"one", nat.addr).unwrap();
        let (n, seen_as) = server.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"one");
        server.send_to(b"back", seen_as).unwrap();
        let (n, _) = client.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"back");

        nat.burst(1000, Duration::from_millis(300));
        client.send_to(b"lost", nat.addr).unwrap();
        server
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        assert!(server.recv_from(&mut buf).is_err(), "dropped in the burst");
        std::thread::sleep(Duration::from_millis(300));

        nat.rebind();
        client.send_to(b"two", nat.addr).unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let (n, moved) = server.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"two");
        assert_ne!(moved, seen_as, "the client appears at a new address");
        let (dropped, passed) = nat.counts();
        assert_eq!((dropped, passed), (1, 3));
    }
}
