//! A constrained link for tests and benchmarks: a network namespace of our
//! own joined to this one by a veth pair, the namespace's side shaped with
//! `tc` token-bucket (the rate), and small forwarders in this namespace
//! that hold every packet or chunk for half the round trip each way (the
//! delay; this kernel's netem is not available).
//!
//! What runs inside the namespace (the host agent, x11vnc) reaches this
//! side only through the shaped veth and a forwarder, so one leg, the
//! user's uplink, is slow and far away while the relay and viewer legs
//! stay on loopback. Traffic only ever goes to loopback and to the two
//! addresses of the veth pair this module made.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

/// A link profile: rate and round-trip time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Profile {
    pub name: &'static str,
    pub mbit: f64,
    pub rtt: Duration,
}

/// The profiles of issue #12: fibre-ish, a hotel or 4G, a poor uplink;
/// and issue #29's field user: a slow home uplink to a nearby relay.
pub const PROFILES: [Profile; 4] = [
    Profile {
        name: "50mbit",
        mbit: 50.0,
        rtt: Duration::from_millis(20),
    },
    Profile {
        name: "10mbit",
        mbit: 10.0,
        rtt: Duration::from_millis(60),
    },
    Profile {
        name: "2mbit",
        mbit: 2.0,
        rtt: Duration::from_millis(150),
    },
    Profile {
        name: "uplink",
        mbit: 10.0,
        rtt: Duration::from_millis(5),
    },
];

/// A profile by name.
pub fn profile(name: &str) -> Option<Profile> {
    PROFILES.iter().copied().find(|p| p.name == name)
}

impl Profile {
    /// Bytes a second.
    pub fn bytes_per_s(&self) -> f64 {
        self.mbit * 1e6 / 8.0
    }
}

/// A namespace joined to this one by a shaped veth pair; deleted on drop.
#[derive(Debug)]
pub struct Netns {
    pub name: String,
    /// Our side of the pair, and the namespace's.
    pub outer: std::net::Ipv4Addr,
    pub inner: std::net::Ipv4Addr,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Netns {
    /// Makes the namespace and the veth pair, and shapes the namespace's
    /// egress to `profile`'s rate. `Err` says why it cannot be done here
    /// (not root, no `ip`, no tbf), so a test can say it skipped.
    pub fn new(profile: &Profile) -> Result<Self, String> {
        // Unique per process and call: tests run in parallel.
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let id = (std::process::id() % 200) as u8;
        let name = format!("ll{}x{n}", std::process::id());
        let (outer_if, inner_if) = (format!("llo{id}x{n}"), format!("lli{id}x{n}"));
        let outer = std::net::Ipv4Addr::new(10, 201, id, (n % 60 * 4 + 1) as u8);
        let inner = std::net::Ipv4Addr::new(10, 201, id, (n % 60 * 4 + 2) as u8);
        ip(&["netns", "add", &name])?;
        let ns = Self { name, outer, inner };
        let netns = ns.name.as_str();
        let o = format!("{outer}/30");
        let i = format!("{inner}/30");
        ip(&[
            "link", "add", &outer_if, "type", "veth", "peer", "name", &inner_if,
        ])?;
        ip(&["link", "set", &inner_if, "netns", netns])?;
        ip(&["addr", "add", &o, "dev", &outer_if])?;
        ip(&["link", "set", &outer_if, "up"])?;
        ip(&["-n", netns, "addr", "add", &i, "dev", &inner_if])?;
        ip(&["-n", netns, "link", "set", &inner_if, "up"])?;
        ip(&["-n", netns, "link", "set", "lo", "up"])?;
        let rate = format!("{}kbit", (profile.mbit * 1000.0) as u64);
        let tc = Command::new("ip")
            .args([
                "netns", "exec", netns, "tc", "qdisc", "add", "dev", &inner_if,
            ])
            .args([
                "root", "tbf", "rate", &rate, "burst", "16kb", "latency", "100ms",
            ])
            .output()
            .map_err(|e| format!("cannot run tc: {e}"))?;
        if !tc.status.success() {
            return Err(format!(
                "tc tbf failed: {}",
                String::from_utf8_lossy(&tc.stderr).trim()
            ));
        }
        Ok(ns)
    }

    /// `ip netns exec NAME` before `program`: a command that runs inside.
    pub fn command(&self, program: &std::path::Path) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace deletes the veth pair with it.
        let _ = ip(&["netns", "del", &self.name]);
    }
}

/// Items due at a time, released in order by a thread of their own.
fn delayed<T: Send + 'static>(
    delay: Duration,
    mut deliver: impl FnMut(T) -> bool + Send + 'static,
) -> mpsc::Sender<T> {
    let (tx, rx) = mpsc::channel::<(Instant, T)>();
    std::thread::spawn(move || {
        while let Ok((due, item)) = rx.recv() {
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            if !deliver(item) {
                return;
            }
        }
    });
    let (front, back) = mpsc::channel::<T>();
    std::thread::spawn(move || {
        while let Ok(item) = back.recv() {
            if tx.send((Instant::now() + delay, item)).is_err() {
                return;
            }
        }
    });
    front
}

/// A UDP forwarder adding `delay` each way: clients send to `addr`, and it
/// relays to `target` from a socket per client. Stops when dropped.
#[derive(Debug)]
pub struct UdpDelay {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl UdpDelay {
    pub fn start(listen: SocketAddr, target: SocketAddr, delay: Duration) -> std::io::Result<Self> {
        let front = Arc::new(UdpSocket::bind(listen)?);
        front.set_read_timeout(Some(Duration::from_millis(200)))?;
        let addr = front.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let halt = stop.clone();
        std::thread::spawn(move || {
            let mut clients: HashMap<SocketAddr, mpsc::Sender<Vec<u8>>> = HashMap::new();
            let mut buf = vec![0u8; 65_536];
            while !halt.load(Ordering::Relaxed) {
                let Ok((n, from)) = front.recv_from(&mut buf) else {
                    continue;
                };
                let upstream = clients
                    .entry(from)
                    .or_insert_with(|| Self::client(&front, from, target, delay, &halt));
                let _ = upstream.send(buf[..n].to_vec());
            }
        });
        Ok(Self { addr, stop })
    }

    /// A socket towards `target` for one client, with delayed queues both ways.
    fn client(
        front: &Arc<UdpSocket>,
        client: SocketAddr,
        target: SocketAddr,
        delay: Duration,
        halt: &Arc<AtomicBool>,
    ) -> mpsc::Sender<Vec<u8>> {
        let any = if target.is_ipv4() {
            "127.0.0.1:0"
        } else {
            "[::1]:0"
        };
        let back = match UdpSocket::bind(any) {
            Ok(s) => Arc::new(s),
            Err(_) => return mpsc::channel().0,
        };
        let _ = back.set_read_timeout(Some(Duration::from_millis(200)));
        let to_target = back.clone();
        let forward = delayed(delay, move |pkt: Vec<u8>| {
            let _ = to_target.send_to(&pkt, target);
            true
        });
        let to_client = front.clone();
        let reply = delayed(delay, move |pkt: Vec<u8>| {
            let _ = to_client.send_to(&pkt, client);
            true
        });
        let halt = halt.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65_536];
            while !halt.load(Ordering::Relaxed) {
                if let Ok((n, _)) = back.recv_from(&mut buf)
                    && reply.send(buf[..n].to_vec()).is_err()
                {
                    return;
                }
            }
        });
        forward
    }
}

impl Drop for UdpDelay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A TCP forwarder adding `delay` each way: connections to `addr` are
/// relayed to `target`. Stops accepting when dropped.
#[derive(Debug)]
pub struct TcpDelay {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl TcpDelay {
    pub fn start(listen: SocketAddr, target: SocketAddr, delay: Duration) -> std::io::Result<Self> {
        let listener = TcpListener::bind(listen)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let halt = stop.clone();
        std::thread::spawn(move || {
            while !halt.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        if let Ok(server) = TcpStream::connect(target) {
                            let _ = client.set_nonblocking(false);
                            Self::pipe(&client, &server, delay);
                            Self::pipe(&server, &client, delay);
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Ok(Self { addr, stop })
    }

    /// Copies `from` to `to`, each chunk held for `delay`.
    fn pipe(from: &TcpStream, to: &TcpStream, delay: Duration) {
        let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
            return;
        };
        let _ = to.set_nodelay(true);
        let out = delayed(delay, move |chunk: Vec<u8>| {
            if chunk.is_empty() {
                let _ = to.shutdown(std::net::Shutdown::Write);
                return false;
            }
            to.write_all(&chunk).is_ok()
        });
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match from.read(&mut buf) {
                    Ok(0) | Err(_) => {
                        let _ = out.send(Vec::new());
                        return;
                    }
                    Ok(n) => {
                        if out.send(buf[..n].to_vec()).is_err() {
                            return;
                        }
                    }
                }
            }
        });
    }
}

impl Drop for TcpDelay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
