//! Time from a technician's request to the first screen (issue #32): a
//! session with an enrolled unattended device (the viewer asks the relay
//! for the device by name, the relay calls the device's service, the
//! device answers on a new connection, the Noise handshake, the first
//! whole frame; the service opens its user's window for the call, as it
//! does by default where there is a display) against a code's session
//! with a host that allowed
//! control in advance (join, SPAKE2, the first frame), side by side in
//! one run on one Xvfb, with the real relay, host and service binaries
//! and the viewer in-process. Timed from the viewer's first call to its
//! first decoded frame.
//!
//! `LIFELINE_BIN_DIR=target/release cargo bench -p lifeline-tests --bench first_screen [-- --runs N]`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lifeline_tests::peers::HostProcess;
use lifeline_tests::x::{Xvfb, pattern_image};
use lifeline_tests::{RelayProcess, bench_arg, relay_cli, run_cli};
use lifeline_viewer::session::{Target, Viewer};

fn p50_max(v: &mut [f64]) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[v.len() - 1])
}

fn ok(name: &str, args: &[&str]) -> String {
    let (rc, out, err) = run_cli(name, args);
    assert_eq!(rc, 0, "{name} {args:?}: {err}");
    out.trim().to_owned()
}

/// Until the first frame arrives: how long since `t0`.
async fn first_frame(v: &Viewer, t0: Instant) -> f64 {
    let mut frames = v.frames();
    while *frames.borrow_and_update() == 0 {
        tokio::time::timeout(Duration::from_secs(20), frames.changed())
            .await
            .expect("a first frame within 20 s")
            .unwrap();
    }
    t0.elapsed().as_secs_f64() * 1e3
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let runs: usize = bench_arg("--runs", 10);
    let x = Xvfb::start(1280, 720);
    let _shown = x.show(100, 100, &pattern_image(800, 500, 3));
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("relay");
    std::fs::create_dir_all(&data).unwrap();
    let d = data.to_str().unwrap();
    let (_, token, _) = relay_cli(&["technician", "add", "bench", "--data-dir", d]);
    let token = token.trim().to_owned();
    let relay = RelayProcess::start(&data, &[]);
    let addr = relay.addr.to_string();
    let ca = data.join("ca.pem");
    let ca_s = ca.to_str().unwrap();

    // The organisation, a technician it vouches for, an enrolled device.
    let org = work.path().join("org");
    let me = work.path().join("me");
    let (org_s, me_s) = (org.to_str().unwrap(), me.to_str().unwrap());
    let anchor = ok("lifeline-viewer", &["org", "init", "--dir", org_s]);
    let key = ok("lifeline-viewer", &["unattended", "key", "--dir", me_s]);
    let cert = ok(
        "lifeline-viewer",
        &["org", "vouch", "bench", "--key", &key, "--dir", org_s],
    );
    ok(
        "lifeline-viewer",
        &["unattended", "cert", &cert, "--dir", me_s],
    );
    let (rc, ticket, err) = relay_cli(&[
        "device",
        "ticket",
        "--group",
        "bench",
        "--policy",
        "unattended",
        "--anchor",
        &anchor,
        "--data-dir",
        d,
    ]);
    assert_eq!(rc, 0, "{err}");
    let dev = work.path().join("device");
    ok(
        "lifeline-host",
        &[
            "enroll",
            "--relay",
            &addr,
            "--ca",
            ca_s,
            "--ticket",
            ticket.trim(),
            "--name",
            "bench-1",
            "--dir",
            dev.to_str().unwrap(),
        ],
    );
    let mut service = Command::new(lifeline_tests::bin("lifeline-host"))
        .args(["service", "--dir", dev.to_str().unwrap()])
        .env("DISPLAY", &x.display)
        .env_remove("WAYLAND_DISPLAY")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let target = Target::Device(Box::new(
        lifeline_viewer::org::device_target(&Some(me.clone()), &addr, "bench-1", "bench").unwrap(),
    ));
    // Until the device is online.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let (mut device, mut code) = (Vec::new(), Vec::new());
    for i in 0..runs + 1 {
        let t0 = Instant::now();
        let v = Viewer::connect_to(&addr, Some(&ca), &token, &target, Duration::ZERO, |_| {})
            .await
            .unwrap();
        let took = first_frame(&v, t0).await;
        v.disconnect("bench").await;
        // The first run warms the device up (its desktop opened once).
        if i > 0 {
            device.push(took);
        }
        eprintln!("first_screen: device {took:.0} ms");
        // The device's window tells its user how the session ended for 3
        // s before the service takes the next call.
        tokio::time::sleep(Duration::from_millis(3500)).await;

        let host = HostProcess::spawn(&addr, &ca, &x.display, &["--allow", "control"]);
        let c = host.code();
        let t0 = Instant::now();
        let v = Viewer::connect_with(&addr, Some(&ca), &token, &c, Duration::ZERO, |_| {})
            .await
            .unwrap();
        let took = first_frame(&v, t0).await;
        v.disconnect("bench").await;
        if i > 0 {
            code.push(took);
        }
        eprintln!("first_screen: code {took:.0} ms");
        drop(host);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let _ = service.kill();
    let _ = service.wait();
    drop(relay);
    let (dp, dm) = p50_max(&mut device);
    let (cp, cm) = p50_max(&mut code);
    println!(
        "\nTime from the technician's request to the first screen, 1280×720, {runs} runs each (p50 / max, ms)\n"
    );
    println!("| session | p50 | max |");
    println!("|---|---|---|");
    println!(
        "| enrolled unattended device (`--device`): call, answer, Noise XX, first frame | {dp:.0} | {dm:.0} |"
    );
    println!(
        "| code, host allowed control in advance: join, SPAKE2, first frame | {cp:.0} | {cm:.0} |"
    );
    println!(
        "\nmachine: {} cores; command: LIFELINE_BIN_DIR=target/release cargo bench -p lifeline-tests --bench first_screen -- --runs {runs}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
}
