//! Soak and chaos: N real host agents (each on its own Xvfb, typing into a
//! real xterm, with pictures drawn beside it) and N viewers through one
//! real relay, behind a flaky NAT ([`ChaosNat`]) that drops packets in
//! bursts and moves every client to a new address, while the relay is
//! killed (`kill -9`) and restarted gracefully. At the end: every viewer's
//! screen equals its host's, every session's audit records are complete
//! (each interruption resumed, each session ended by its technician), no
//! process panicked, and memory stayed within the bounds below.
//!
//! CI runs a short smoke (2 sessions, 30 s); `scripts/soak N MINUTES`
//! runs the full one (`LIFELINE_SOAK_SESSIONS`, `LIFELINE_SOAK_SECONDS`).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lifeline_proto::audit::AuditEvent;
use lifeline_session::messages::{InputEvent, Key, MouseButton};
use lifeline_tests::chaos::ChaosNat;
use lifeline_tests::peers::HostProcess;
use lifeline_tests::x::{Shown, Xvfb, pattern_image};
use lifeline_tests::{RelayProcess, audit_records, log_to, relay_cli, rss_kib};
use lifeline_viewer::session::Viewer;

/// Most a relay may hold resident, in MiB, at any time.
const RELAY_MAX_MIB: u64 = 200;
/// Most a host agent may hold resident (debug build, 640×400 screen).
const HOST_MAX_MIB: u64 = 300;
/// Most a host may grow between the end of warm-up and the end.
const HOST_GROWTH_MIB: u64 = 64;

const W: u32 = 640;
const H: u32 = 400;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A small random number generator, seeded per run (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below.max(1)
    }
}

/// What the network and the relay go through, in order.
#[derive(Debug, Clone, Copy)]
enum Chaos {
    /// Lose this share (per mille) of packets for this long.
    Loss(u32, Duration),
    /// Every client moves to a new address.
    Rebind,
    /// The relay is killed with SIGKILL and started again.
    Kill,
    /// The relay stops gracefully (SIGTERM) and starts again.
    Restart,
}

/// One cycle of trouble a minute (or one in a shorter run): a partial
/// loss, an address change, a kill, a loss longer than the idle timeout
/// (a real reconnect), a graceful restart.
fn schedule(total: Duration) -> Vec<(Duration, Chaos)> {
    let cycle = total.min(Duration::from_secs(60));
    let cycles = (total.as_secs() / cycle.as_secs().max(1)).max(1);
    let mut out = Vec::new();
    for c in 0..cycles {
        let base = cycle * u32::try_from(c).unwrap_or(0);
        let at = |f: f64| base + cycle.mul_f64(f);
        out.push((at(0.12), Chaos::Loss(300, Duration::from_secs(2))));
        out.push((at(0.25), Chaos::Rebind));
        out.push((at(0.38), Chaos::Kill));
        out.push((at(0.55), Chaos::Loss(1000, Duration::from_millis(4500))));
        out.push((at(0.75), Chaos::Restart));
    }
    out
}

/// One session: its X server, host, viewer, and what it drew.
struct Seat {
    x: Xvfb,
    _xterm: lifeline_tests::x::XClient,
    host: HostProcess,
    viewer: Arc<Viewer>,
    shown: Option<Shown>,
}

/// Resident memory seen per process name, in KiB: the most, and the
/// value when warm-up ended and at the end.
#[derive(Debug, Default, Clone, Copy)]
struct Rss {
    max: u64,
    warm: u64,
    last: u64,
}

fn sample(rss: &mut HashMap<String, Rss>, name: &str, pid: u32, warm: bool) {
    if let Some(kib) = rss_kib(pid) {
        let r = rss.entry(name.to_owned()).or_default();
        r.max = r.max.max(kib);
        r.last = kib;
        if warm {
            r.warm = kib;
        }
    }
}

fn mib(kib: u64) -> u64 {
    kib / 1024
}

#[test]
fn soak() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    let sessions = env_or("LIFELINE_SOAK_SESSIONS", 2);
    let total = Duration::from_secs(env_or("LIFELINE_SOAK_SECONDS", 30));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let data = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap().to_owned();
    let relay_log = logs.path().join("relay.log");
    let mut relay = RelayProcess::start_logged("127.0.0.1:0", data.path(), &[], log_to(&relay_log));
    let listen = relay.addr.to_string();
    let nat = ChaosNat::start(relay.addr).unwrap();
    let via = nat.addr.to_string();
    let (_, token, _) = relay_cli(&["technician", "add", "soak", "--data-dir", &d]);
    let token = token.trim().to_owned();
    let ca = data.path().join("ca.pem");

    let mut seats = Vec::new();
    for i in 0..sessions {
        let x = Xvfb::start(W, H);
        let typed = logs.path().join(format!("typed-{i}.txt"));
        let xterm = x.xterm_cat("50x12+0+0", &typed);
        let log = log_to(&logs.path().join(format!("host-{i}.log")));
        let host = HostProcess::spawn_logged(&via, &ca, &x.display, &["--allow", "control"], log);
        let code = host.code();
        let viewer = rt
            .block_on(Viewer::connect(&via, Some(&ca), &token, &code, |_| {}))
            .unwrap_or_else(|e| panic!("session {i} did not start: {e}"));
        seats.push(Seat {
            x,
            _xterm: xterm,
            host,
            viewer: Arc::new(viewer),
            shown: None,
        });
    }

    let stop = Arc::new(AtomicBool::new(false));
    let inputs = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = seats
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let (v, stop, inputs) = (s.viewer.clone(), stop.clone(), inputs.clone());
            rt.spawn(work(v, stop, inputs, i as u64 + 1))
        })
        .collect();

    let start = Instant::now();
    let mut plan = schedule(total).into_iter().peekable();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut rss: HashMap<String, Rss> = HashMap::new();
    let (mut kills, mut restarts, mut bursts, mut rebinds) = (0, 0, 0, 0);
    let mut warm_taken = false;
    while start.elapsed() < total {
        // Something new on each screen now and then, beside the terminal.
        for (i, seat) in seats.iter_mut().enumerate() {
            if rng.next(3) == 0 {
                seat.shown = None;
                let (px, py) = (300 + rng.next(200) as i16, rng.next(250) as i16);
                let seed = u32::try_from(rng.next(1000)).unwrap_or(0) + i as u32;
                seat.shown = Some(seat.x.show(px, py, &pattern_image(120, 90, seed)));
            }
        }
        let warm = !warm_taken && start.elapsed() >= total.mul_f64(0.3);
        warm_taken |= warm;
        sample(&mut rss, "relay", relay.child.id(), warm);
        for (i, seat) in seats.iter().enumerate() {
            sample(&mut rss, &format!("host-{i}"), seat.host.child.id(), warm);
        }
        sample(&mut rss, "viewers", std::process::id(), warm);
        while plan.peek().is_some_and(|(at, _)| start.elapsed() >= *at) {
            let Some((_, what)) = plan.next() else { break };
            eprintln!("soak: {:?}: {what:?}", start.elapsed());
            match what {
                Chaos::Loss(per_mille, span) => {
                    bursts += 1;
                    nat.burst(per_mille, span);
                }
                Chaos::Rebind => {
                    rebinds += 1;
                    nat.rebind();
                }
                Chaos::Kill | Chaos::Restart => {
                    let signal = if matches!(what, Chaos::Kill) {
                        kills += 1;
                        "KILL"
                    } else {
                        restarts += 1;
                        "TERM"
                    };
                    relay.signal(signal);
                    let _ = relay.child.wait();
                    std::thread::sleep(Duration::from_millis(300));
                    relay =
                        RelayProcess::start_logged(&listen, data.path(), &[], log_to(&relay_log));
                }
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        rt.block_on(w).unwrap();
    }

    // Every session is live again, and each viewer ends exact.
    for (i, seat) in seats.iter().enumerate() {
        let v = seat.viewer.clone();
        let live = rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(90), async {
                loop {
                    if let Some(why) = v.ended() {
                        return Err(why);
                    }
                    if v.reconnecting().borrow().is_none() {
                        return Ok(());
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
            .await
        });
        match live {
            Ok(Ok(())) => {}
            Ok(Err(why)) => panic!("session {i} ended: {why}"),
            Err(_) => panic!("session {i} was still reconnecting after 90 s"),
        }
    }
    let mut equal = 0;
    for (i, seat) in seats.iter().enumerate() {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let want = seat.x.screenshot();
            if seat.viewer.image().as_ref() == Some(&want) {
                equal += 1;
                break;
            }
            assert!(
                Instant::now() < deadline,
                "session {i}: the viewer's screen never matched its host's"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    for seat in &seats {
        rt.block_on(seat.viewer.disconnect("soak over"));
    }
    for (i, seat) in seats.iter_mut().enumerate() {
        let ended = seat.host.wait_event("ended");
        assert_eq!(ended["reason"], "soak over", "session {i}");
        seat.host.wait_exit();
    }
    relay.signal("TERM");
    let _ = relay.child.wait();

    let (rc, out, _) = relay_cli(&["audit", "verify", "--data-dir", &d]);
    assert_eq!(rc, 0, "{out}");
    let (interrupted, resumed) = check_audit(data.path(), seats.len());
    check_logs(logs.path());
    let (dropped, passed) = nat.counts();
    let host_max = (0..seats.len())
        .filter_map(|i| rss.get(&format!("host-{i}")))
        .map(|r| r.max)
        .max()
        .unwrap_or(0);
    let host_growth = (0..seats.len())
        .filter_map(|i| rss.get(&format!("host-{i}")))
        .map(|r| r.last.saturating_sub(r.warm))
        .max()
        .unwrap_or(0);
    let relay_max = rss.get("relay").map_or(0, |r| r.max);
    let viewers = rss.get("viewers").copied().unwrap_or_default();
    println!(
        "soak: {} sessions for {} s: {kills} relay kills, {restarts} graceful restarts, {bursts} loss bursts, {rebinds} address changes; {dropped} of {} packets dropped",
        seats.len(),
        total.as_secs(),
        dropped + passed
    );
    println!(
        "soak: {} inputs sent; {interrupted} interruptions, {resumed} resumes (audit); {equal}/{} viewers exact at the end",
        inputs.load(Ordering::Relaxed),
        seats.len()
    );
    println!(
        "soak: RSS max: relay {} MiB, hosts {} MiB (growth after warm-up ≤ {} MiB), test process with all viewers {} MiB (warm {} → end {})",
        mib(relay_max),
        mib(host_max),
        mib(host_growth),
        mib(viewers.max),
        mib(viewers.warm),
        mib(viewers.last)
    );
    assert!(mib(relay_max) <= RELAY_MAX_MIB, "relay RSS {relay_max} KiB");
    assert!(mib(host_max) <= HOST_MAX_MIB, "host RSS {host_max} KiB");
    assert!(
        mib(host_growth) <= HOST_GROWTH_MIB,
        "a host grew {host_growth} KiB after warm-up"
    );
}

/// The technician's hands: text, Return, pointer moves and clicks.
async fn work(v: Arc<Viewer>, stop: Arc<AtomicBool>, inputs: Arc<AtomicU64>, seed: u64) {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    const WORDS: [&str; 6] = ["hello", "lifeline", "soak", "resume", "quic", "x11"];
    while !stop.load(Ordering::Relaxed) {
        let events = match rng.next(4) {
            0 | 1 => vec![
                InputEvent::Text(format!("{} ", WORDS[rng.next(6) as usize])),
                InputEvent::Key {
                    key: Key::Return,
                    down: true,
                },
                InputEvent::Key {
                    key: Key::Return,
                    down: false,
                },
            ],
            2 => vec![InputEvent::Move {
                x: rng.next(u64::from(W)) as u32,
                y: rng.next(u64::from(H)) as u32,
            }],
            _ => vec![
                InputEvent::Move {
                    x: 20 + rng.next(200) as u32,
                    y: 20 + rng.next(100) as u32,
                },
                InputEvent::Button {
                    button: MouseButton::Left,
                    down: true,
                },
                InputEvent::Button {
                    button: MouseButton::Left,
                    down: false,
                },
            ],
        };
        for ev in events {
            if v.input(ev).await.is_err() {
                return;
            }
            inputs.fetch_add(1, Ordering::Relaxed);
        }
        tokio::time::sleep(Duration::from_millis(50 + rng.next(350))).await;
    }
}

/// Every session started was ended by its technician, and every
/// interruption was followed by a resume. Returns (interruptions, resumes).
fn check_audit(dir: &Path, sessions: usize) -> (usize, usize) {
    let recs = audit_records(dir);
    let started: Vec<&str> = recs
        .iter()
        .filter_map(|r| match &r.event {
            AuditEvent::SessionStarted { session, .. } => Some(session.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(started.len(), sessions, "one start record a session");
    let (mut interrupted, mut resumed) = (0, 0);
    for id in started {
        let of: Vec<&AuditEvent> = recs
            .iter()
            .map(|r| &r.event)
            .filter(|e| e.session() == Some(id))
            .collect();
        let i = of
            .iter()
            .filter(|e| matches!(e, AuditEvent::SessionInterrupted { .. }))
            .count();
        let r = of
            .iter()
            .filter(|e| matches!(e, AuditEvent::SessionResumed { .. }))
            .count();
        assert!(r >= i, "session {id}: {i} interruptions but {r} resumes");
        let ends: Vec<&str> = of
            .iter()
            .filter_map(|e| match e {
                AuditEvent::SessionEnded { reason, .. } => Some(reason.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(ends.len(), 1, "session {id}: ends {ends:?}");
        assert!(ends[0].contains("soak over"), "session {id}: {}", ends[0]);
        interrupted += i;
        resumed += r;
    }
    (interrupted, resumed)
}

/// No process panicked.
fn check_logs(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        assert!(
            !text.contains("panicked"),
            "{} shows a panic:\n{text}",
            entry.path().display()
        );
    }
}
