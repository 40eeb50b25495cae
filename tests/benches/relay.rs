//! Relay capacity, measured against the real relay binary on loopback:
//! forwarded MB/s per relay CPU-second, pairings per second, resident
//! memory with many hosts waiting, and the most paired sessions held open
//! under 1 GiB.
//!
//! `cargo bench -p lifeline-tests --bench relay [-- --transfer-mb N --pairings N --waiting N --paired-step N --paired-max N]`
//!
//! The relay runs as its own process so its CPU time and RSS are read from
//! /proc apart from the load generator's (which shares the machine).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use std::process::Command;

use lifeline_net::client::{Connector, HostLink, ViewerLink};

use lifeline_tests::BenchRelay as RelayProc;

fn start_relay(dir: &std::path::Path) -> RelayProc {
    RelayProc::start(
        dir,
        &[
            "--max-waiting-hosts",
            "50000",
            // The whole load comes from one address (loopback).
            "--max-waiting-per-ip",
            "0",
            "--max-connections-per-ip",
            "0",
        ],
    )
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb / 1024.0
}

fn arg(name: &str, default: usize) -> usize {
    lifeline_tests::bench_arg(name, default)
}

async fn pair(c: &Connector, token: &str) -> (HostLink, ViewerLink) {
    lifeline_tests::load::pair(c, c, token).await
}

async fn throughput(relay: &RelayProc, c: &Connector, token: &str, mb: usize) {
    let (h, v) = pair(c, token).await;
    let cpu0 = lifeline_tests::cpu_secs(relay.child.id());
    let t0 = Instant::now();
    let got = lifeline_tests::load::push_mib(&v.conn, &h.conn, mb).await;
    let wall = t0.elapsed().as_secs_f64();
    let cpu = lifeline_tests::cpu_secs(relay.child.id()) - cpu0;
    assert_eq!(got, mb << 20);
    let mbs = got as f64 / 1e6;
    println!(
        "| forward {mb} MiB viewer→host | {:.0} MB/s wall | {:.2} relay CPU-s | **{:.0} MB/s per relay CPU-second** |",
        mbs / wall,
        cpu,
        mbs / cpu
    );
    h.end("bench done").await;
    drop(v);
}

async fn pairings(relay: &RelayProc, c: &Connector, token: &str, n: usize) {
    let cpu0 = lifeline_tests::cpu_secs(relay.child.id());
    let t0 = Instant::now();
    let token = Arc::new(token.to_owned());
    let per_task = n / 32;
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let c = c.clone();
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..per_task {
                let (h, v) = pair(&c, &token).await;
                h.conn.close(0u32.into(), b"done");
                v.conn.close(0u32.into(), b"done");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let done = per_task * 32;
    let wall = t0.elapsed().as_secs_f64();
    let cpu = lifeline_tests::cpu_secs(relay.child.id()) - cpu0;
    println!(
        "| {done} pairings (host register + viewer join, 32 at a time) | **{:.0} pairings/s** wall | {:.2} relay CPU-s | {:.0} pairings per relay CPU-second |",
        done as f64 / wall,
        cpu,
        done as f64 / cpu
    );
}

async fn waiting(relay: &RelayProc, ca: &std::path::Path, n: usize) {
    let pid = relay.child.id();
    let before = rss_mib(pid);
    let sem = Arc::new(tokio::sync::Semaphore::new(64));
    let mut tasks = Vec::with_capacity(n);
    let mut connectors = Vec::new();
    for _ in 0..n.div_ceil(250) {
        connectors.push(Connector::new(&relay.addr, Some(ca)).await.unwrap());
    }
    for i in 0..n {
        let c = connectors[i / 250].clone();
        let sem = sem.clone();
        tasks.push(tokio::spawn(async move {
            let _p = sem.acquire().await.unwrap();
            HostLink::register_with(&c, "bench", "bench")
                .await
                .unwrap()
                .0
        }));
    }
    let mut links = Vec::with_capacity(n);
    for t in tasks {
        links.push(t.await.unwrap());
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_mib(pid);
    println!(
        "| {n} hosts waiting | RSS {before:.0} MiB before → **{after:.0} MiB** | {:.1} KiB per waiting host | |",
        (after - before) * 1024.0 / n as f64
    );
    for l in links {
        l.conn.close(0u32.into(), b"done");
    }
}

/// Pairs sessions in steps and keeps them all open (host and viewer
/// connected, keep-alives flowing) until the relay passes 1 GiB or `max`
/// sessions are up: the most sessions that fit under 1 GiB.
async fn paired(relay: &RelayProc, ca: &std::path::Path, token: &str, step: usize, max: usize) {
    let pid = relay.child.id();
    let before = rss_mib(pid);
    let token = Arc::new(token.to_owned());
    let mut held = Vec::new();
    let mut under = (0usize, before);
    let mut connectors = Vec::new();
    while held.len() < max {
        let sem = Arc::new(tokio::sync::Semaphore::new(32));
        let mut tasks = Vec::with_capacity(step);
        for i in held.len()..held.len() + step {
            if i % 250 == 0 {
                connectors.push(Connector::new(&relay.addr, Some(ca)).await.unwrap());
            }
            let c = connectors[i / 250].clone();
            let (sem, token) = (sem.clone(), token.clone());
            tasks.push(tokio::spawn(async move {
                let _p = sem.acquire().await.unwrap();
                pair(&c, &token).await
            }));
        }
        for t in tasks {
            held.push(t.await.unwrap());
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let rss = rss_mib(pid);
        eprintln!("  {} paired sessions: relay RSS {rss:.0} MiB", held.len());
        if rss > 1024.0 {
            break;
        }
        under = (held.len(), rss);
    }
    let per = (under.1 - before) * 1024.0 / under.0.max(1) as f64;
    let reached = if under.0 == held.len() {
        format!(
            " (the load generator stopped at {max}; at {per:.0} KiB each, 1 GiB holds about {:.0})",
            (1024.0 - before) * 1024.0 / per
        )
    } else {
        String::new()
    };
    println!(
        "| paired sessions held open | **{} under 1 GiB** (RSS {:.0} MiB){reached} | {per:.0} KiB per session | |",
        under.0, under.1
    );
    for (h, v) in held {
        h.conn.close(0u32.into(), b"done");
        v.conn.close(0u32.into(), b"done");
    }
}

fn main() {
    let transfer_mb = arg("--transfer-mb", 1024);
    let n_pairings = arg("--pairings", 2048);
    let n_waiting = arg("--waiting", 10_000);
    let paired_step = arg("--paired-step", 2_000);
    let paired_max = arg("--paired-max", 20_000);
    let dir = tempfile::tempdir().unwrap();
    let relay = start_relay(dir.path());
    let out = Command::new(lifeline_tests::bin("lifeline-relay"))
        .args(["technician", "add", "bench", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let ca = dir.path().join("ca.pem");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = Connector::new(&relay.addr, Some(&ca)).await.unwrap();
        println!("| measure | result | relay CPU | per relay CPU |");
        println!("|---|---|---|---|");
        throughput(&relay, &c, &token, transfer_mb).await;
        pairings(&relay, &c, &token, n_pairings).await;
        // Waiting hosts come from many sockets, as real hosts do.
        waiting(&relay, &ca, n_waiting).await;
    });
    drop(relay);
    // A fresh relay, so the waiting hosts' memory is not counted twice.
    let relay = start_relay(dir.path());
    rt.block_on(paired(&relay, &ca, &token, paired_step, paired_max));
}
