//! What signing technicians in with the identity provider costs the relay
//! as credentials pile up in `technicians.json` (each sign-in adds one;
//! expired ones leave after 7 days): with N credentials in the store, the
//! time to keep a new one (read, add, write the file, as `serve_login`
//! does), the first join's token lookup after it (the relay re-reads the
//! changed file), and a join's lookup when nothing changed. Real files in
//! a temporary directory, the relay's own store and cache.
//!
//! `cargo bench -p lifeline-tests --bench credentials [-- --credentials N --runs N]`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant, SystemTime};

use lifeline_proto::login::Identity;
use lifeline_relay_core::tokens::{Lookup, Technician, TechnicianStore, TokenCache, token_hash};
use lifeline_tests::bench_arg;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let n: usize = bench_arg("--credentials", 10_000);
    let runs: usize = bench_arg("--runs", 21);
    let dir = tempfile::tempdir().unwrap();
    let store = TechnicianStore::in_dir(dir.path());
    let until = SystemTime::now() + Duration::from_secs(12 * 3600);
    let who = |i: usize| Identity {
        issuer: "https://login.example.com/realms/corp".into(),
        subject: format!("f3b1c2d4-{i:08x}-4e5f-9a8b-7c6d5e4f3a2b"),
    };
    // The store as N sign-ins leave it (written at once: filling it one
    // sign-in at a time would itself be quadratic), then one real one.
    let t0 = Instant::now();
    let expires = humantime::format_rfc3339_seconds(until).to_string();
    let all: Vec<Technician> = (0..n)
        .map(|i| Technician {
            name: format!("tech{:03}@example.com", i % 500),
            token_sha256: token_hash(&format!("llc_{i:032x}")),
            created: "2026-12-07T08:00:00Z".into(),
            revoked: None,
            expires: Some(expires.clone()),
            identity: Some(who(i)),
        })
        .collect();
    std::fs::write(
        dir.path().join("technicians.json"),
        serde_json::to_vec_pretty(&all).unwrap(),
    )
    .unwrap();
    let last = store
        .add_credential("tech000@example.com", who(n), until)
        .unwrap();
    let filled = t0.elapsed();
    let size = std::fs::metadata(dir.path().join("technicians.json"))
        .unwrap()
        .len();
    let mut cache = TokenCache::new(store.clone()).unwrap();

    let (mut keep, mut first, mut steady) = (Vec::new(), Vec::new(), Vec::new());
    for r in 0..runs {
        let t = Instant::now();
        let token = store
            .add_credential("bench@example.com", who(n + r), until)
            .unwrap();
        keep.push(t.elapsed());
        let t = Instant::now();
        assert_eq!(
            cache.lookup(&token).0,
            Lookup::Valid("bench@example.com".into())
        );
        first.push(t.elapsed());
        let t = Instant::now();
        assert!(matches!(cache.lookup(&last).0, Lookup::Valid(_)));
        steady.push(t.elapsed());
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "credentials in the store: {n} ({:.1} MB file; filling took {:.1} s)",
        size as f64 / 1e6,
        filled.as_secs_f64()
    );
    println!(
        "keeping a new credential (a sign-in): p50 {:.2} ms",
        ms(median(keep))
    );
    println!(
        "first join's lookup after it (file re-read): p50 {:.2} ms",
        ms(median(first))
    );
    println!(
        "a join's lookup, store unchanged: p50 {:.1} µs",
        median(steady).as_secs_f64() * 1e6
    );
}
