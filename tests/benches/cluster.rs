//! A cluster of real relay binaries on one real PostgreSQL (a throwaway
//! one, fsync on), on loopback: pairings per second with 1, 2 and 3
//! relays, forwarding per relay CPU-second within one relay and across
//! two, the join latency a cross-relay pairing adds (and what a redirect
//! would cost instead), and many hosts waiting across three relays.
//!
//! `cargo bench -p lifeline-tests --bench cluster [-- --pairings N --joins N --transfer-mb N --waiting N --parts pairings,forwarding,latency,waiting]`
//!
//! Everything shares this machine's cores: PostgreSQL, every relay and
//! the load generator. Relay and database CPU are read from /proc apart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lifeline_net::client::{Connector, HostLink, ViewerLink};
use lifeline_proto::control::HostEvent;
use lifeline_tests::load::{pair, push_mib};
use lifeline_tests::postgres::Postgres;
use lifeline_tests::{RelayProcess, cpu_secs, relay_cli};
use rand::Rng;

struct Cluster {
    relays: Vec<RelayProcess>,
    connectors: Vec<Connector>,
    ca: PathBuf,
    token: String,
    _dirs: tempfile::TempDir,
}

/// `n` relays on a new database `db`, one technician.
async fn cluster(pg: &Postgres, n: usize, db: &str) -> Cluster {
    let url = pg.create_db(db);
    let dirs = tempfile::tempdir().unwrap();
    let mut relays = Vec::new();
    for i in 0..n {
        let dir = dirs.path().join(format!("relay{i}"));
        if i > 0 {
            std::fs::create_dir_all(&dir).unwrap();
            for f in ["ca.pem", "ca-key.pem"] {
                std::fs::copy(dirs.path().join("relay0").join(f), dir.join(f)).unwrap();
            }
        }
        let args = [
            "--database",
            &url,
            "--max-waiting-hosts",
            "50000",
            "--throttle-burst",
            "1000000",
            // The whole load comes from one address (loopback).
            "--max-waiting-per-ip",
            "0",
            "--max-connections-per-ip",
            "0",
        ];
        relays.push(RelayProcess::start_on("127.0.0.1:0", &dir, &args));
    }
    let ca = dirs.path().join("relay0/ca.pem");
    let (rc, out, err) = relay_cli(&["technician", "add", "bench", "--database", &url]);
    assert_eq!(rc, 0, "{err}");
    let mut connectors = Vec::new();
    for r in &relays {
        connectors.push(
            Connector::new(&r.addr.to_string(), Some(&ca))
                .await
                .unwrap(),
        );
    }
    Cluster {
        relays,
        connectors,
        ca,
        token: out.trim().to_owned(),
        _dirs: dirs,
    }
}

impl Cluster {
    fn cpu(&self) -> f64 {
        self.relays.iter().map(|r| cpu_secs(r.child.id())).sum()
    }
}

/// `total` pairings, 32 at a time, host and viewer each on a relay drawn
/// at random (as DNS round robin spreads them).
async fn pairings(pg: &Postgres, c: &Cluster, total: usize) {
    let (cpu0, db0, t0) = (c.cpu(), pg.cpu_secs(), Instant::now());
    let per_task = total / 32;
    let token = Arc::new(c.token.clone());
    let connectors = Arc::new(c.connectors.clone());
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (token, connectors) = (token.clone(), connectors.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..per_task {
                let (h, v) = {
                    let mut rng = rand::rng();
                    let n = connectors.len();
                    (rng.random_range(0..n), rng.random_range(0..n))
                };
                let (host, viewer) = pair(&connectors[h], &connectors[v], &token).await;
                host.conn.close(0u32.into(), b"done");
                viewer.conn.close(0u32.into(), b"done");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let done = (per_task * 32) as f64;
    let wall = t0.elapsed().as_secs_f64();
    let (cpu, db) = (c.cpu() - cpu0, pg.cpu_secs() - db0);
    println!(
        "| {} relay(s) | {done:.0} pairings | **{:.0} pairings/s** | {:.0} per relay CPU-second | {:.0} per PostgreSQL CPU-second |",
        c.relays.len(),
        done / wall,
        done / cpu,
        done / db
    );
}

/// `mb` MiB viewer→host through relays `h` (host) and `v` (viewer).
async fn forwarding(c: &Cluster, h: usize, v: usize, mb: usize) {
    let (host, viewer) = pair(&c.connectors[h], &c.connectors[v], &c.token).await;
    let (cpu0, t0) = (c.cpu(), Instant::now());
    let got = push_mib(&viewer.conn, &host.conn, mb).await;
    let (wall, cpu) = (t0.elapsed().as_secs_f64(), c.cpu() - cpu0);
    assert_eq!(got, mb << 20);
    let mbs = got as f64 / 1e6;
    let path = if h == v {
        "one relay"
    } else {
        "two relays (link)"
    };
    println!(
        "| {mb} MiB through {path} | {:.0} MB/s wall | {cpu:.2} relay CPU-s | **{:.0} MB per relay CPU-second** |",
        mbs / wall,
        mbs / cpu
    );
    host.end("bench done").await;
    drop(viewer);
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// Joins (new connection, join, answer) one at a time: host on relay 0,
/// viewer through `v`. Milliseconds.
async fn join_times(c: &Cluster, v: usize, n: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let (mut host, reg) = HostLink::register_with(&c.connectors[0], "bench", "bench")
            .await
            .unwrap();
        let t0 = Instant::now();
        let viewer = ViewerLink::join_with(&c.connectors[v], &c.token, reg.locator)
            .await
            .unwrap();
        out.push(t0.elapsed().as_secs_f64() * 1e3);
        assert!(matches!(
            host.next_event().await.unwrap(),
            HostEvent::Paired { .. }
        ));
        host.conn.close(0u32.into(), b"done");
        viewer.conn.close(0u32.into(), b"done");
    }
    out
}

/// A redirect would have the viewer hear "go to relay A" from B, then
/// connect to A and join there. B's answer is timed as a join B refuses
/// after asking the database about the code (a code never issued), each
/// by a technician of its own so none is suspended for guessing.
async fn refusal_times(c: &Cluster, url: &str, n: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let (_, token, _) = relay_cli(&["technician", "add", &format!("r{i}"), "--database", url]);
        let never = lifeline_proto::Locator::new(99_999 - i as u32).unwrap();
        let t0 = Instant::now();
        let refused = ViewerLink::join_with(&c.connectors[1], token.trim(), never).await;
        out.push(t0.elapsed().as_secs_f64() * 1e3);
        assert!(refused.is_err());
    }
    out
}

async fn latency(c: &Cluster, url: &str, n: usize) {
    let mut same = join_times(c, 0, n).await;
    let mut cross = join_times(c, 1, n).await;
    let mut answer = refusal_times(c, url, n.min(100)).await;
    let (s50, s99) = (percentile(&mut same, 0.5), percentile(&mut same, 0.99));
    let (c50, c99) = (percentile(&mut cross, 0.5), percentile(&mut cross, 0.99));
    let a50 = percentile(&mut answer, 0.5);
    println!("| viewer joins through the host's relay | p50 {s50:.2} ms | p99 {s99:.2} ms | |");
    println!(
        "| through another relay (forwarded over a link) | p50 {c50:.2} ms | p99 {c99:.2} ms | **+{:.2} ms** at p50 |",
        c50 - s50
    );
    println!(
        "| redirect instead (B's answer p50 {a50:.2} ms, then a join at A) | ≈ p50 {:.2} ms | | +{a50:.2} ms at p50 |",
        a50 + s50
    );
}

/// `n` hosts waiting, spread over the relays; each relay's RSS, and the
/// codes table's size.
async fn waiting(pg: &Postgres, c: &Cluster, db: &str, n: usize) {
    let before: Vec<u64> = c
        .relays
        .iter()
        .map(|r| lifeline_tests::rss_kib(r.child.id()).unwrap())
        .collect();
    let t0 = Instant::now();
    let sem = Arc::new(tokio::sync::Semaphore::new(64));
    let mut connectors = Vec::new();
    // At most 250 hosts a client endpoint, and every relay gets some.
    for i in 0..n.div_ceil(250).max(c.relays.len()) {
        let addr = c.relays[i % c.relays.len()].addr.to_string();
        let config = quiet_client(&c.ca);
        connectors.push(Connector::with_config(&addr, config).await.unwrap());
    }
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let conn = connectors[i % connectors.len()].clone();
        let sem = sem.clone();
        tasks.push(tokio::spawn(async move {
            let _p = sem.acquire().await.unwrap();
            // As a host does when told to try again shortly (the cluster
            // nearly full): a few more tries, then it is counted refused.
            let mut last = None;
            for _ in 0..5 {
                match HostLink::register_with(&conn, "bench", "bench").await {
                    Ok((link, _)) => return Ok(link),
                    Err(e) => last = Some(e.to_string()),
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(last.unwrap_or_default())
        }));
    }
    let mut links = Vec::with_capacity(n);
    let mut refused = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(link) => links.push(link),
            Err(why) => refused.push(why),
        }
    }
    let wall = t0.elapsed().as_secs_f64();
    if let Some(why) = refused.first() {
        println!("| {} registrations refused | e.g. {why} | |", refused.len());
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let live = pg.psql(db, "SELECT count(*) FROM codes WHERE state = 'waiting'");
    let size = pg.psql(db, "SELECT pg_size_pretty(pg_total_relation_size('codes'))");
    for (i, r) in c.relays.iter().enumerate() {
        let after = lifeline_tests::rss_kib(r.child.id()).unwrap();
        println!(
            "| relay {i} | RSS {} → **{} MiB** | |",
            before[i] / 1024,
            after / 1024
        );
    }
    println!(
        "| {} hosts registered on {} relays | in {wall:.1} s ({:.0}/s) | **{live} still waiting** 2 s after the last (live codes in the database), table {size} |",
        links.len(),
        c.relays.len(),
        links.len() as f64 / wall
    );
    for l in links {
        l.conn.close(0u32.into(), b"done");
    }
}

/// A host's client configuration with a keep-alive every 4 s instead of
/// every second: on two cores the load generator, sending a keep-alive a
/// second for each of tens of thousands of hosts, gives out long before
/// the relays do. What a waiting host costs a relay in memory is the same.
fn quiet_client(ca: &std::path::Path) -> quinn::ClientConfig {
    let mut config = lifeline_common::tls::client_config(Some(ca)).unwrap();
    let mut t = quinn::TransportConfig::default();
    t.keep_alive_interval(Some(Duration::from_secs(4)));
    t.max_idle_timeout(Some(Duration::from_secs(30).try_into().unwrap()));
    config.transport_config(Arc::new(t));
    config
}

fn arg(name: &str, default: usize) -> usize {
    lifeline_tests::bench_arg(name, default)
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[tokio::main]
async fn main() {
    let n_pairings = arg("--pairings", 2048);
    let n_joins = arg("--joins", 200);
    let transfer_mb = arg("--transfer-mb", 512);
    let n_waiting = arg("--waiting", 100_000);
    let Some(pg) = Postgres::start() else {
        eprintln!("no PostgreSQL: run scripts/install-deps");
        std::process::exit(1);
    };
    let parts: String =
        lifeline_tests::bench_arg("--parts", "pairings,forwarding,latency,waiting".to_owned());
    let part = |p: &str| parts.split(',').any(|x| x == p);
    println!(
        "Machine: {} cores; PostgreSQL, relays and load generator share them.\n",
        cores()
    );
    if part("pairings") {
        println!("| relays | pairings | rate | relay CPU | database CPU |\n|---|---|---|---|---|");
        for n in 1..=3 {
            let c = cluster(&pg, n, &format!("pairings{n}")).await;
            pairings(&pg, &c, n_pairings).await;
        }
    }
    if part("forwarding") || part("latency") {
        let c = cluster(&pg, 2, "tworelays").await;
        if part("forwarding") {
            println!("\n| forwarding | wall | relay CPU | per CPU-second |\n|---|---|---|---|");
            forwarding(&c, 0, 0, transfer_mb).await;
            forwarding(&c, 0, 1, transfer_mb).await;
        }
        if part("latency") {
            println!(
                "\n| join (new connection to Joined) | p50 | p99 | added |\n|---|---|---|---|"
            );
            latency(&c, &pg.url("tworelays"), n_joins).await;
        }
    }
    if part("waiting") {
        println!("\n| waiting hosts | memory | |\n|---|---|---|");
        let c = cluster(&pg, 3, "waiting").await;
        waiting(&pg, &c, "waiting", n_waiting).await;
    }
}
