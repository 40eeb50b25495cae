//! How fast a session comes back: from a relay restart to the resumed
//! session (and its next screen update), and from a client's change of
//! address to the next update. Real relay and host binaries on one Xvfb,
//! the viewer in-process (to see the moment it resumes and rebind its
//! socket).
//!
//! `cargo bench -p lifeline-tests --bench resume [-- --runs N --moves N]`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use lifeline_tests::peers::HostProcess;
use lifeline_tests::x::{Shown, Xvfb, pattern_image};
use lifeline_tests::{RelayProcess, bench_arg, relay_cli};
use lifeline_viewer::session::Viewer;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// p50 and max of `v`, in ms.
fn p50_max(v: &mut [f64]) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[v.len() - 1])
}

/// Draws something new on the host's screen and times its arrival.
struct Painter {
    shown: Option<Shown>,
    seed: u32,
}

impl Painter {
    /// Time from drawing to the update that carries it.
    async fn next_update(&mut self, x: &Xvfb, v: &Viewer) -> Duration {
        let mut frames = v.frames();
        frames.borrow_and_update();
        // Odd seeds: `pattern_image` draws the same for 2k and 2k+1.
        self.seed += 2;
        let t0 = Instant::now();
        self.shown = Some(x.show(200, 150, &pattern_image(160, 120, self.seed)));
        if tokio::time::timeout(Duration::from_secs(20), frames.changed())
            .await
            .is_err()
        {
            panic!(
                "no update within 20 s; {} updates so far, reconnecting: {:?}",
                v.figures().frames,
                v.reconnecting().borrow()
            );
        }
        t0.elapsed()
    }
}

/// Waits until the viewer is reconnecting (`lost`) or live again.
async fn wait_reconnecting(v: &Viewer, lost: bool, limit: Duration, what: &str) {
    let mut r = v.reconnecting();
    while r.borrow_and_update().is_some() != lost {
        tokio::time::timeout(limit, r.changed())
            .await
            .unwrap_or_else(|_| panic!("{what}"))
            .unwrap();
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let runs: usize = bench_arg("--runs", 5);
    let moves: usize = bench_arg("--moves", 20);
    let x = Xvfb::start(1280, 720);
    let data = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap().to_owned();
    let mut relay = RelayProcess::start(data.path(), &[]);
    let listen = relay.addr.to_string();
    let (_, token, _) = relay_cli(&["technician", "add", "bench", "--data-dir", &d]);
    let ca = data.path().join("ca.pem");
    let host = HostProcess::spawn(&listen, &ca, &x.display, &["--allow", "control"]);
    let code = host.code();
    let v = Viewer::connect(&listen, Some(&ca), token.trim(), &code, |_| {})
        .await
        .unwrap();
    v.settle(Duration::from_millis(300), Duration::from_secs(20))
        .await
        .unwrap();
    let mut painter = Painter {
        shown: None,
        seed: 1,
    };

    // Relay restarts: kill -9 and graceful, each `runs` times.
    let mut rows = Vec::new();
    for signal in ["KILL", "TERM"] {
        let (mut resumed, mut update) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            relay.signal(signal);
            let _ = relay.child.wait();
            // Both sides noticed (a kill is noticed at each side's idle
            // timeout, up to a keep-alive apart): measure from there.
            let limit = Duration::from_secs(30);
            let what = "the viewer never noticed the relay was gone";
            wait_reconnecting(&v, true, limit, what).await;
            host.wait_event("reconnecting");
            relay = RelayProcess::start_on(&listen, data.path(), &[]);
            // The relay printed its address: it is up.
            let up = Instant::now();
            wait_reconnecting(
                &v,
                false,
                Duration::from_secs(60),
                "not resumed within 60 s",
            )
            .await;
            resumed.push(ms(up.elapsed()));
            eprintln!(
                "resume: {signal}: resumed {:.0} ms after the relay was up",
                resumed[resumed.len() - 1]
            );
            // The first update after resuming is a whole frame, asked for
            // by the viewer; then something new is drawn.
            v.settle(Duration::from_millis(200), Duration::from_secs(20))
                .await
                .unwrap();
            update.push(ms(painter.next_update(&x, &v).await));
        }
        let (rp, rm) = p50_max(&mut resumed);
        let (up, um) = p50_max(&mut update);
        rows.push(format!(
            "| relay restart ({}) → session resumed | {rp:.0} | {rm:.0} |\n| then: drawing → update on the viewer | {up:.0} | {um:.0} |",
            if signal == "KILL" { "kill -9" } else { "SIGTERM" }
        ));
    }

    // Address changes: the viewer moves to a new local socket right before
    // the host draws; against the same drawing with no move.
    eprintln!("resume: address changes");
    let (mut still, mut moved) = (Vec::new(), Vec::new());
    for i in 0..moves * 2 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        if i % 2 == 1 {
            let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            v.rebind(socket).await.unwrap();
            moved.push(ms(painter.next_update(&x, &v).await));
        } else {
            still.push(ms(painter.next_update(&x, &v).await));
        }
    }
    let (sp, sm) = p50_max(&mut still);
    let (mp, mm) = p50_max(&mut moved);
    assert!(v.ended().is_none(), "the session ended: {:?}", v.ended());
    v.disconnect("bench over").await;
    println!("Resume and migration, {runs} restarts each, {moves} address changes, on loopback\n");
    println!("| step | p50 ms | max ms |\n|---|---:|---:|");
    for r in rows {
        println!("{r}");
    }
    println!("| drawing → update, address unchanged | {sp:.1} | {sm:.1} |");
    println!("| address change + drawing → update | {mp:.1} | {mm:.1} |");
}
