//! File transfer through the relay: throughput of a put (wall clock, and
//! per second of the relay's own CPU, to set beside the relay bench's
//! forwarding figure), and the typing latency while a large transfer runs
//! (a key typed into a real xterm on the host, to the update that shows
//! it), against the same typing on an idle link. Real relay and host
//! binaries on one Xvfb, the viewer in-process.
//!
//! `cargo bench -p lifeline-tests --bench files [-- --mb 1024 --keys 100]`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lifeline_session::messages::{InputEvent, MouseButton};
use lifeline_tests::peers::HostProcess;
use lifeline_tests::x::Xvfb;
use lifeline_tests::{RelayProcess, bench_arg, cpu_secs, relay_cli};
use lifeline_viewer::session::Viewer;

/// Writes `mb` MiB of pseudo-random bytes to `path`.
fn big_file(path: &std::path::Path, mb: usize) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for i in 0..mb {
        f.write_all(&lifeline_tests::pattern(i as u64 + 1, 1024 * 1024))
            .unwrap();
    }
    f.flush().unwrap();
}

/// Types `n` keys one by one, each timed to the update that follows it.
async fn typing(v: &Viewer, n: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let mut frames = v.frames();
        frames.borrow_and_update();
        let c = char::from(b'a' + (i % 26) as u8);
        let t0 = Instant::now();
        v.input(InputEvent::Text(c.to_string())).await.unwrap();
        tokio::time::timeout(Duration::from_secs(10), frames.changed())
            .await
            .expect("no echo within 10 s")
            .unwrap();
        out.push(t0.elapsed().as_secs_f64() * 1e3);
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    out
}

fn p50_p99(v: &mut [f64]) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.99))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mb: usize = bench_arg("--mb", 1024);
    let keys: usize = bench_arg("--keys", 100);
    let x = Xvfb::start(1280, 720);
    let work = tempfile::tempdir_in("/var/tmp").unwrap();
    let typed = work.path().join("typed.txt");
    let _xterm = x.xterm_cat("80x24+0+0", &typed);
    let data = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap().to_owned();
    let relay = RelayProcess::start(data.path(), &[]);
    let (_, token, _) = relay_cli(&["technician", "add", "bench", "--data-dir", &d]);
    let ca = data.path().join("ca.pem");
    let downloads = work.path().join("Downloads");
    let dl = downloads.display().to_string();
    let host = HostProcess::spawn(
        &relay.addr.to_string(),
        &ca,
        &x.display,
        &["--allow", "control", "--download-dir", &dl],
    );
    let code = host.code();
    let v = Arc::new(
        Viewer::connect(
            &relay.addr.to_string(),
            Some(&ca),
            token.trim(),
            &code,
            |_| {},
        )
        .await
        .unwrap(),
    );
    v.settle(Duration::from_millis(300), Duration::from_secs(20))
        .await
        .unwrap();
    // Focus the terminal: no window manager, so the pointer decides.
    v.input(InputEvent::Move { x: 100, y: 100 }).await.unwrap();
    for down in [true, false] {
        let button = MouseButton::Left;
        v.input(InputEvent::Button { button, down }).await.unwrap();
    }
    v.settle(Duration::from_millis(300), Duration::from_secs(20))
        .await
        .unwrap();
    let src = work.path().join("big.bin");
    eprintln!("files: writing {mb} MiB…");
    big_file(&src, mb);

    // Throughput of one put.
    let cpu0 = cpu_secs(relay.child.id());
    let t0 = Instant::now();
    let moved = v.put_file(&src, "big.bin").await.unwrap();
    let secs = t0.elapsed().as_secs_f64();
    let relay_cpu = cpu_secs(relay.child.id()) - cpu0;
    assert_eq!(moved.bytes as usize, mb * 1024 * 1024);
    let mbs = mb as f64 / secs;
    let per_cpu = mb as f64 * 1.048_576 / relay_cpu.max(1e-6);
    std::fs::remove_file(&moved.path).unwrap();

    // Typing, idle and then during another put of the same size.
    let mut idle = typing(&v, keys).await;
    let (v2, src2) = (v.clone(), src.clone());
    let transfer = tokio::spawn(async move { v2.put_file(&src2, "again.bin").await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut busy = typing(&v, keys).await;
    let during = !transfer.is_finished();
    transfer.await.unwrap().unwrap();
    let (ip50, ip99) = p50_p99(&mut idle);
    let (bp50, bp99) = p50_p99(&mut busy);
    v.disconnect("bench over").await;

    println!("File transfer, {mb} MiB put through the relay on loopback\n");
    println!("| figure | value |\n|---|---:|");
    println!("| put: wall clock | {secs:.1} s ({mbs:.0} MiB/s) |");
    println!("| put: relay CPU | {relay_cpu:.2} s ({per_cpu:.0} MB per relay CPU-second) |");
    println!("| typing, idle: p50 / p99 | {ip50:.1} / {ip99:.1} ms |");
    println!(
        "| typing during a {mb} MiB put: p50 / p99 | {bp50:.1} / {bp99:.1} ms{} |",
        if during {
            ""
        } else {
            " (the put ended before the typing did)"
        }
    );
}
