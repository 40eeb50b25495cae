//! Idle enrolled devices on one relay (issue #32): the real relay binary
//! with N devices enrolled in its data directory, each held online by its
//! own QUIC connection as `lifeline-host service` holds it (the same
//! `OnlineLink`, the same client configuration and keep-alives), all from
//! this process on one UDP socket. Measured while they idle: the relay's
//! resident memory and CPU per device, and the bytes each device's link
//! costs an hour (both directions, from quinn's own counters).
//!
//! `cargo bench -p lifeline-tests --bench devices [-- --devices N --secs S]`
//! (`--keep-alive-s S`: a keep-alive of S seconds instead of the service's
//! 4 s, for comparison; the idle timeout is 2.5 times it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use lifeline_net::client::Connector;
use lifeline_net::enroll::OnlineLink;
use lifeline_proto::devices::DevicePolicy;
use lifeline_relay_core::devices::DeviceRecord;
use sha2::{Digest, Sha256};

use lifeline_tests::BenchRelay as RelayProc;

fn start_relay(dir: &std::path::Path) -> RelayProc {
    RelayProc::start(
        dir,
        &[
            // Every device comes from one address (loopback) here.
            "--max-connections-per-ip",
            "0",
            "--max-waiting-per-ip",
            "0",
            "--max-waiting-hosts",
            "100000",
            "--max-connections",
            "100000",
        ],
    )
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

fn main() {
    let n: usize = lifeline_tests::bench_arg("--devices", 1000);
    let secs: u64 = lifeline_tests::bench_arg("--secs", 30);
    let keep_alive: u64 = lifeline_tests::bench_arg("--keep-alive-s", 0);
    let dir = tempfile::tempdir().unwrap();
    let tokens = enroll(dir.path(), n);
    let relay = start_relay(dir.path());
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
        let config = match keep_alive {
            0 => lifeline_common::tls::device_client_config(Some(&ca)).unwrap(),
            s => lifeline_common::tls::client_config_timed_for_bench(
                Some(&ca),
                Duration::from_millis(s * 2500),
                Duration::from_secs(s),
            )
            .unwrap(),
        };
        let connector = Connector::with_config(&relay.addr, config).await.unwrap();
        let mut links = Vec::with_capacity(n);
        for (name, token) in &tokens {
            links.push(
                OnlineLink::open(&connector, name, token)
                    .await
                    .expect("online"),
            );
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
    let cpu_pct = (cpu1 - cpu0) / wall * 100.0;
    let per_hour = (bytes1 - bytes0) as f64 / n as f64 / wall * 3600.0;
    let keep = match keep_alive {
        0 => format!(
            "{} s (the service's)",
            lifeline_common::tls::DEVICE_KEEP_ALIVE.as_secs()
        ),
        s => format!("{s} s"),
    };
    println!("\n{n} idle devices online at one relay, keep-alive {keep}, {secs} s measured\n");
    println!("| measure | value |");
    println!("|---|---|");
    println!("| devices still online at the end | {alive} of {n} |");
    println!("| time for all to come online | {online_s:.1} s |");
    println!("| relay RSS: empty / with the devices | {rss0:.1} / {rss1:.1} MiB |");
    println!(
        "| relay RSS per device | {:.1} KiB |",
        (rss1 - rss0) * 1024.0 / n as f64
    );
    println!("| relay CPU while idle | {cpu_pct:.2} % of a core |");
    println!(
        "| relay CPU per 1,000 devices | {:.2} % of a core |",
        cpu_pct * 1000.0 / n as f64
    );
    println!(
        "| link bytes per device an hour (both ways) | {:.0} kB |",
        per_hour / 1000.0
    );
    println!(
        "| extrapolated to 10,000 devices | {:.0} MiB, {:.1} % of a core |",
        rss0 + (rss1 - rss0) * 10_000.0 / n as f64,
        cpu_pct * 10_000.0 / n as f64
    );
    println!(
        "\nmachine: {} cores; command: cargo bench -p lifeline-tests --bench devices -- --devices {n} --secs {secs}{}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if keep_alive == 0 {
            String::new()
        } else {
            format!(" --keep-alive-s {keep_alive}")
        }
    );
    drop(links);
}
