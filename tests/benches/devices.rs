//! Idle enrolled devices on one relay (issue #32): the real relay binary
//! with N devices enrolled in its data directory, each held online by its
//! own QUIC connection as `lifeline-host service` holds it (the same
//! `OnlineLink`, the same client configuration and keep-alives), all from
//! this process on one UDP socket. Measured while they idle: the relay's
//! resident memory and CPU per device, and the bytes each device's link
//! costs an hour (both directions, from quinn's own counters). Twice, side
//! by side: the devices online at the relay's main port (the default),
//! then at its devices port (`serve --devices-listen`).
//!
//! `cargo bench -p lifeline-tests --bench devices [-- --devices N --secs S]`
//! (`--keep-alive-s S`: a keep-alive of S seconds instead of the service's
//! 4 s, for comparison; the idle timeout is 2.5 times it. `--delayed-acks`:
//! the relay acks each keep-alive after QUIC's usual delay, not at once as
//! the service asks).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use lifeline_net::client::Connector;
use lifeline_net::enroll::OnlineLink;
use lifeline_proto::devices::DevicePolicy;
use lifeline_relay_core::devices::DeviceRecord;
use sha2::{Digest, Sha256};

use lifeline_tests::BenchRelay as RelayProc;

fn start_relay(dir: &std::path::Path, devices_port: bool) -> RelayProc {
    let mut args = vec![
        // Every device comes from one address (loopback) here.
        "--max-connections-per-ip",
        "0",
        "--max-waiting-per-ip",
        "0",
        "--max-waiting-hosts",
        "100000",
        "--max-connections",
        "100000",
    ];
    if devices_port {
        args.extend(["--devices-listen", "127.0.0.1:0"]);
    }
    RelayProc::start(dir, &args)
}

/// `n` enrolled devices written as the relay keeps them; their tokens.
fn enroll(dir: &std::path::Path, n: usize) -> Vec<(String, String)> {
    let mut records = Vec::with_capacity(n);
    let mut tokens = Vec::with_capacity(n);
    for i in 0..n {
        let name = format!("desk-{i}");
        let token = format!("lld_{:032x}", i as u128 * 0x9e37_79b9_7f4a_7c15 + 1);
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&(i as u64).to_be_bytes());
        records.push(DeviceRecord {
            name: name.clone(),
            group: "bench".into(),
            policy: DevicePolicy::Unattended,
            key: hex::encode(key),
            ticket_sha256: hex::encode(Sha256::digest(name.as_bytes())),
            token_sha256: hex::encode(Sha256::digest(token.as_bytes())),
            enrolled: "2026-12-06T00:00:00Z".into(),
            disabled: false,
            approval: false,
        });
        tokens.push((name, token));
    }
    std::fs::write(
        dir.join("devices.json"),
        serde_json::to_vec(&records).unwrap(),
    )
    .unwrap();
    tokens
}

fn rss_mib(pid: u32) -> f64 {
    lifeline_tests::rss_kib(pid).unwrap_or(0) as f64 / 1024.0
}

fn link_bytes(links: &[OnlineLink]) -> u64 {
    links
        .iter()
        .map(|l| {
            let s = l.conn.stats();
            s.udp_tx.bytes + s.udp_rx.bytes
        })
        .sum()
}

/// Between two devices' coming online.
const STAGGER: Duration = Duration::from_millis(2);

/// What one configuration measured.
struct Figures {
    alive: usize,
    online_s: f64,
    rss0: f64,
    rss1: f64,
    cpu_pct: f64,
    per_hour: f64,
}

/// `n` devices online at a fresh relay (at its devices port when
/// `devices_port`), idle for `secs` while measured.
fn measure(n: usize, secs: u64, keep_alive: u64, devices_port: bool) -> Figures {
    let dir = tempfile::tempdir().unwrap();
    let tokens = enroll(dir.path(), n);
    let relay = start_relay(dir.path(), devices_port);
    let pid = relay.child.id();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let rss0 = rss_mib(pid);
    let ca = dir.path().join("ca.pem");
    let t0 = Instant::now();
    let links: Vec<OnlineLink> = rt.block_on(async {
        // `--keep-alive-s S`: what an idle device would cost with another
        // keep-alive (and an idle timeout of 2.5 times it); by default the
        // settings `lifeline-host service` uses for its online link.
        // `--delayed-acks`: the relay acks a keep-alive after its 25 ms
        // delay, as it did before the service asked for immediate acks.
        let config = match (keep_alive, delayed_acks()) {
            (0, false) => lifeline_common::tls::device_client_config(Some(&ca)).unwrap(),
            (0, true) => lifeline_common::tls::client_config_timed_for_bench(
                Some(&ca),
                lifeline_common::tls::DEVICE_IDLE_TIMEOUT,
                lifeline_common::tls::DEVICE_KEEP_ALIVE,
                false,
            )
            .unwrap(),
            (s, delayed) => lifeline_common::tls::client_config_timed_for_bench(
                Some(&ca),
                Duration::from_millis(s * 2500),
                Duration::from_secs(s),
                !delayed,
            )
            .unwrap(),
        };
        let connector = Connector::with_config(&relay.addr, config).await.unwrap();
        // One comes online every 2 ms, without waiting for the one before
        // (the devices port reads on a clock, so one at a time would take
        // a tick's wait each): their keep-alives then come evenly spread,
        // as a fleet's do, not in bursts the relay would read together.
        let mut opening = tokio::task::JoinSet::new();
        for (i, (name, token)) in tokens.iter().cloned().enumerate() {
            let connector = connector.clone();
            let at = tokio::time::Instant::now() + STAGGER * i as u32;
            opening.spawn(async move {
                tokio::time::sleep_until(at).await;
                OnlineLink::open(&connector, &name, &token).await
            });
        }
        let mut links = Vec::with_capacity(n);
        while let Some(opened) = opening.join_next().await {
            links.push(opened.unwrap().expect("online"));
        }
        links
    });
    let online_s = t0.elapsed().as_secs_f64();
    // Settle, then measure while idle.
    std::thread::sleep(Duration::from_secs(2));
    let (cpu0, bytes0, rss1) = (
        lifeline_tests::cpu_secs(pid),
        link_bytes(&links),
        rss_mib(pid),
    );
    let t1 = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    let wall = t1.elapsed().as_secs_f64();
    let (cpu1, bytes1) = (lifeline_tests::cpu_secs(pid), link_bytes(&links));
    let alive = links
        .iter()
        .filter(|l| l.conn.close_reason().is_none())
        .count();
    drop(links);
    Figures {
        alive,
        online_s,
        rss0,
        rss1,
        cpu_pct: (cpu1 - cpu0) / wall * 100.0,
        per_hour: (bytes1 - bytes0) as f64 / n as f64 / wall * 3600.0,
    }
}

/// Whether the bench runs with `--delayed-acks`.
fn delayed_acks() -> bool {
    std::env::args().any(|a| a == "--delayed-acks")
}

fn main() {
    let n: usize = lifeline_tests::bench_arg("--devices", 1000);
    let secs: u64 = lifeline_tests::bench_arg("--secs", 30);
    let keep_alive: u64 = lifeline_tests::bench_arg("--keep-alive-s", 0);
    let main_port = measure(n, secs, keep_alive, false);
    let devices_port = measure(n, secs, keep_alive, true);
    let keep = match keep_alive {
        0 => format!(
            "{} s (the service's)",
            lifeline_common::tls::DEVICE_KEEP_ALIVE.as_secs()
        ),
        s => format!("{s} s"),
    };
    let acks = match delayed_acks() {
        true => "acks delayed 25 ms",
        false => "acks at once",
    };
    println!(
        "\n{n} idle devices online at one relay, keep-alive {keep}, {acks}, {secs} s measured\n"
    );
    println!("| measure | at the main port (default) | at the devices port (`--devices-listen`) |");
    println!("|---|---|---|");
    let row = |what: &str, f: &dyn Fn(&Figures) -> String| {
        println!("| {what} | {} | {} |", f(&main_port), f(&devices_port));
    };
    row("devices still online at the end", &|f| {
        format!("{} of {n}", f.alive)
    });
    row("time for all to come online, one every 2 ms", &|f| {
        format!("{:.1} s", f.online_s)
    });
    row("relay RSS: empty / with the devices", &|f| {
        format!("{:.1} / {:.1} MiB", f.rss0, f.rss1)
    });
    row("relay RSS per device", &|f| {
        format!("{:.1} KiB", (f.rss1 - f.rss0) * 1024.0 / n as f64)
    });
    row("relay CPU while idle", &|f| {
        format!("{:.2} % of a core", f.cpu_pct)
    });
    row("relay CPU per 1,000 devices", &|f| {
        format!("{:.2} % of a core", f.cpu_pct * 1000.0 / n as f64)
    });
    row("link bytes per device an hour (both ways)", &|f| {
        format!("{:.0} kB", f.per_hour / 1000.0)
    });
    row("extrapolated to 10,000 devices", &|f| {
        format!(
            "{:.0} MiB, {:.1} % of a core",
            f.rss0 + (f.rss1 - f.rss0) * 10_000.0 / n as f64,
            f.cpu_pct * 10_000.0 / n as f64
        )
    });
    println!(
        "\nmachine: {} cores; command: cargo bench -p lifeline-tests --bench devices -- --devices {n} --secs {secs}{}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        match (keep_alive, delayed_acks()) {
            (0, false) => String::new(),
            (0, true) => " --delayed-acks".to_owned(),
            (s, false) => format!(" --keep-alive-s {s}"),
            (s, true) => format!(" --keep-alive-s {s} --delayed-acks"),
        }
    );
}
