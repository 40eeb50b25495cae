//! A cluster of real relay binaries sharing a real PostgreSQL (a
//! throwaway one, `lifeline_tests::postgres`): a whole session with the
//! host on one relay and the viewer on another, one-time codes across
//! relays (also when two joins race), a killed relay's codes released
//! with the chain intact, and a tampered row found by `audit verify`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lifeline_net::client::{ClientError, HostLink, Registration, ViewerLink};
use lifeline_proto::control::{HostEvent, JoinRefusal};
use lifeline_tests::peers::HostProcess;
use lifeline_tests::postgres::Postgres;
use lifeline_tests::x::{Xvfb, load_png, pattern_image};
use lifeline_tests::{RelayProcess, bin, relay_cli};

/// Two or three relays in one cluster, sharing one CA for their clients
/// (copied from the first relay's data directory, as docs/deploy.md says).
pub(super) struct Cluster {
    // Fields drop in this order: the relays stop before their database.
    relays: Vec<RelayProcess>,
    pg: Postgres,
    pub(super) url: String,
    dirs: tempfile::TempDir,
}

impl Cluster {
    pub(super) fn start(n: usize, extra: &[&str]) -> Option<Self> {
        let pg = Postgres::start()?;
        let url = pg.create_db("lifeline");
        let dirs = tempfile::tempdir().unwrap();
        let mut c = Self {
            pg,
            url,
            dirs,
            relays: Vec::new(),
        };
        for i in 0..n {
            let relay = c.start_relay(i, extra);
            c.relays.push(relay);
        }
        Some(c)
    }

    pub(super) fn dir(&self, i: usize) -> PathBuf {
        self.dirs.path().join(format!("relay{i}"))
    }

    /// Starts relay `i` (again, on its old port when it ran before).
    fn start_relay(&self, i: usize, extra: &[&str]) -> RelayProcess {
        let dir = self.dir(i);
        if i > 0 && !dir.join("ca.pem").exists() {
            std::fs::create_dir_all(&dir).unwrap();
            for f in ["ca.pem", "ca-key.pem"] {
                std::fs::copy(self.dir(0).join(f), dir.join(f)).unwrap();
            }
        }
        let mut args = vec!["--database", &self.url, "--node-timeout", "2s"];
        args.extend_from_slice(extra);
        RelayProcess::start_on("127.0.0.1:0", &dir, &args)
    }

    pub(super) fn ca(&self) -> PathBuf {
        self.dir(0).join("ca.pem")
    }

    pub(super) fn addr(&self, i: usize) -> String {
        self.relays[i].addr.to_string()
    }

    pub(super) fn add_technician(&self, name: &str) -> String {
        let (rc, out, err) = relay_cli(&["technician", "add", name, "--database", &self.url]);
        assert_eq!(rc, 0, "{err}");
        out.trim().to_owned()
    }

    /// `audit verify --database`: (intact, what it printed).
    fn verify(&self) -> (bool, String) {
        let (rc, out, err) = relay_cli(&["audit", "verify", "--database", &self.url]);
        (rc == 0, format!("{out}{err}"))
    }

    /// Every audit line in the database, in order.
    fn lines(&self) -> Vec<String> {
        self.pg
            .psql("lifeline", "SELECT line FROM audit ORDER BY seq")
            .lines()
            .map(str::to_owned)
            .collect()
    }

    pub(super) async fn host(&self, i: usize) -> (HostLink, Registration) {
        HostLink::register(&self.addr(i), Some(&self.ca()), "pc", "ann")
            .await
            .unwrap()
    }

    /// A host on relay `h` and a viewer joined through relay `v`, paired.
    pub(super) async fn paired(
        &self,
        h: usize,
        v: usize,
        token: &str,
    ) -> (HostLink, ViewerLink, Registration) {
        let (mut host, reg) = self.host(h).await;
        let viewer = self.join(v, token, &reg).await.unwrap();
        assert!(matches!(
            host.next_event().await.unwrap(),
            HostEvent::Paired { .. }
        ));
        (host, viewer, reg)
    }

    pub(super) async fn join(
        &self,
        i: usize,
        token: &str,
        reg: &Registration,
    ) -> Result<ViewerLink, ClientError> {
        ViewerLink::join(&self.addr(i), Some(&self.ca()), token, reg.locator).await
    }
}

fn refusal(r: Result<ViewerLink, ClientError>) -> JoinRefusal {
    match r {
        Err(ClientError::Refused(x)) => x,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// The headless viewer binary with `script`, run to its end.
fn viewer_thread(
    relay: String,
    ca: &Path,
    token: &str,
    code: &str,
    script: &Path,
) -> std::thread::JoinHandle<std::process::Output> {
    let mut cmd = std::process::Command::new(bin("lifeline-viewer"));
    cmd.args(["--relay", &relay, "--ca"])
        .arg(ca)
        .args([
            "--token",
            token,
            "--code",
            code,
            "--headless",
            "--json",
            "--reason",
            "across relays",
            "--script",
        ])
        .arg(script);
    std::thread::spawn(move || cmd.output().unwrap())
}

#[test]
fn a_whole_session_with_the_host_on_one_relay_and_the_viewer_on_another() {
    let Some(c) = Cluster::start(2, &[]) else {
        return;
    };
    let token = c.add_technician("alice");
    let x = Xvfb::start(800, 600);
    let _pattern = x.show(420, 300, &pattern_image(180, 120, 5));
    let typed = c.dirs.path().join("typed.txt");
    let _xterm = x.xterm_cat("50x6+0+0", &typed);
    let receipts = c.dirs.path().join("receipts");
    let host = HostProcess::spawn_env(
        &c.addr(0),
        &c.ca(),
        &x.display,
        &["--allow", "control"],
        std::process::Stdio::inherit(),
        &[("LIFELINE_RECEIPTS", receipts.to_str().unwrap())],
    );
    let code = host.code().to_string();
    let screen = x.screenshot();
    let shot = c.dirs.path().join("shot.png");
    let script = c.dirs.path().join("script.txt");
    std::fs::write(
        &script,
        format!(
            "wait-frame\nscreenshot {}\nmove 40 30\ntype Across two relays!\nkey Return\nsleep 30000\n",
            shot.display()
        ),
    )
    .unwrap();
    let viewer = viewer_thread(c.addr(1), &c.ca(), &token, &code, &script);
    let joined = host.wait_event("joined");
    assert_eq!(joined["technician"], "alice");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !shot.exists() || !std::fs::read_to_string(&typed).unwrap().ends_with('\n') {
        assert!(
            Instant::now() < deadline,
            "viewer did not screenshot and type in time"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    host.signal("-INT");
    assert_eq!(host.wait_event("ended")["reason"], "ended by the user");
    let receipt = host.wait_event("receipt");
    let out = viewer.join().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ended by the user"), "{stderr}");
    assert_eq!(load_png(&shot), screen, "the viewer saw the host's screen");
    assert_eq!(
        std::fs::read_to_string(&typed).unwrap(),
        "Across two relays!\n"
    );

    // One chain in the database holds the session's whole story, written
    // by both relays, and verifies.
    let session = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|e| e["event"] == "joined")
        .and_then(|e| e["session"].as_str().map(str::to_owned))
        .expect("the viewer printed its session");
    let deadline = Instant::now() + Duration::from_secs(10);
    let story = loop {
        let lines: Vec<String> = c
            .lines()
            .into_iter()
            .filter(|l| l.contains(&session))
            .collect();
        if lines.iter().any(|l| l.contains("\"session_ended\"")) {
            break lines;
        }
        assert!(Instant::now() < deadline, "no session_ended: {lines:#?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    for kind in [
        "code_issued",
        "join_attempt",
        "session_started",
        "session_ended",
    ] {
        assert!(
            story
                .iter()
                .any(|l| l.contains(&format!("\"event\":\"{kind}\""))),
            "{kind} missing: {story:#?}"
        );
    }
    assert!(
        !story.iter().any(|l| l.contains("Across two relays")),
        "nothing typed is logged"
    );
    // The reason given at relay 1 reached the host's relay with the join.
    assert!(
        story.iter().any(
            |l| l.contains("\"session_started\"") && l.contains("\"reason\":\"across relays\"")
        ),
        "{story:#?}"
    );
    let (ok, said) = c.verify();
    assert!(ok, "{said}");
    // The user's receipt checks against the cluster's chain.
    let (rc, out, err) = relay_cli(&[
        "audit",
        "verify-receipt",
        receipt["path"].as_str().unwrap(),
        "--database",
        &c.url,
    ]);
    assert_eq!(rc, 0, "{out}{err}");
    assert!(out.contains("receipt verified"), "{out}");
    // Each relay filed its start in the same chain.
    let starts = c
        .lines()
        .iter()
        .filter(|l| l.contains("\"relay_started\""))
        .count();
    assert_eq!(starts, 2);
}

#[tokio::test]
async fn a_code_is_used_once_in_the_cluster_even_when_two_relays_race_for_it() {
    // Every loser is a failed join from 127.0.0.1: let the address fail
    // more often than a person would, so no round is throttled instead.
    let Some(c) = Cluster::start(2, &["--throttle-burst", "100"]) else {
        return;
    };
    let token = c.add_technician("bob");
    // Joined once through relay 1: a second join through relay 0 (where
    // the host waits) is refused as used, and again through relay 1.
    let (_h, v, reg) = c.paired(0, 1, &token).await;
    assert_eq!(
        refusal(c.join(0, &token, &reg).await),
        JoinRefusal::UsedCode
    );
    assert_eq!(
        refusal(c.join(1, &token, &reg).await),
        JoinRefusal::UsedCode
    );
    v.end("done").await;

    // Two technicians join the same code at the same instant through
    // different relays: exactly one wins, every time. (Fresh technicians
    // each round: a token refused on several codes would be suspended.)
    for round in 0..10 {
        let first = c.add_technician(&format!("first{round}"));
        let second = c.add_technician(&format!("second{round}"));
        let (_h, reg) = c.host(round % 2).await;
        let (a, b) = tokio::join!(c.join(0, &first, &reg), c.join(1, &second, &reg));
        let wins = [&a, &b].iter().filter(|r| r.is_ok()).count();
        assert_eq!(wins, 1, "round {round}: {a:?} / {b:?}");
        let lost = if a.is_ok() { b } else { a };
        assert_eq!(refusal(lost), JoinRefusal::UsedCode, "round {round}");
    }
    let (ok, said) = c.verify();
    assert!(ok, "{said}");
}

#[tokio::test]
async fn a_killed_relay_frees_its_waiting_codes_and_the_chain_stays_valid() {
    let Some(mut c) = Cluster::start(2, &[]) else {
        return;
    };
    let token = c.add_technician("dan");
    let (_h, reg) = c.host(0).await;
    // And a session running on relay 0 (its viewer came through relay 1).
    let (_busy, _v, busy_reg) = c.paired(0, 1, &token).await;
    let locator = u32::from(reg.locator);
    let state = |c: &Cluster| {
        c.pg.psql(
            "lifeline",
            &format!("SELECT state FROM codes WHERE locator = {locator}"),
        )
    };
    assert_eq!(state(&c), "waiting");
    c.relays[0].signal("KILL");
    let _ = c.relays[0].child.wait();
    // Relay 1 notices the silence (node timeout 2 s) and releases the code.
    let deadline = Instant::now() + Duration::from_secs(15);
    while state(&c) != "withdrawn" {
        assert!(
            Instant::now() < deadline,
            "the dead relay's code was not released"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        c.pg.psql("lifeline", "SELECT count(*) FROM nodes"),
        "1",
        "the dead relay is off the list"
    );
    assert_eq!(
        refusal(c.join(1, &token, &reg).await),
        JoinRefusal::UnknownCode
    );
    let released = c
        .lines()
        .into_iter()
        .find(|l| l.contains(&reg.session) && l.contains("\"code_closed\""))
        .expect("the release is audited");
    assert!(released.contains("stopped answering"), "{released}");
    // The session it held is ended in the log by the relay that remains.
    let ended = c
        .lines()
        .into_iter()
        .find(|l| l.contains(&busy_reg.session) && l.contains("\"session_ended\""))
        .expect("the dead relay's session is ended in the log");
    assert!(ended.contains("stopped answering"), "{ended}");
    let (ok, said) = c.verify();
    assert!(ok, "{said}");

    // Restarted, it files itself again and serves.
    let again = c.start_relay(0, &[]);
    c.relays[0] = again;
    let (_h, v, _reg) = c.paired(0, 1, &token).await;
    v.end("done").await;
    let (ok, said) = c.verify();
    assert!(ok, "{said}");
}

#[tokio::test]
async fn audit_verify_finds_a_tampered_row_in_the_database() {
    let Some(c) = Cluster::start(1, &[]) else {
        return;
    };
    let token = c.add_technician("erin");
    let (_h, reg) = c.host(0).await;
    let v = c.join(0, &token, &reg).await.unwrap();
    v.end("done").await;
    let (ok, said) = c.verify();
    assert!(ok, "{said}");
    // The technician's name in the join record is changed in place.
    let seq = c.pg.psql(
        "lifeline",
        "SELECT min(seq) FROM audit WHERE line LIKE '%\"join_attempt\"%'",
    );
    c.pg.psql(
        "lifeline",
        &format!("UPDATE audit SET line = replace(line, '\"erin\"', '\"eve\"') WHERE seq = {seq}"),
    );
    let (ok, said) = c.verify();
    assert!(!ok, "{said}");
    assert!(
        said.contains(&format!("record {seq} was altered")),
        "{said}"
    );
    // Restored, then the last record removed: found too.
    c.pg.psql(
        "lifeline",
        &format!("UPDATE audit SET line = replace(line, '\"eve\"', '\"erin\"') WHERE seq = {seq}"),
    );
    assert!(c.verify().0);
    c.pg.psql(
        "lifeline",
        "DELETE FROM audit WHERE seq = (SELECT max(seq) FROM audit)",
    );
    let (ok, said) = c.verify();
    assert!(!ok && said.contains("FAILED"), "{said}");
}

#[tokio::test]
async fn draining_a_relay_moves_its_waiting_host_with_its_code_then_it_exits() {
    let Some(mut c) = Cluster::start(2, &[]) else {
        return;
    };
    let token = c.add_technician("fay");
    let x = Xvfb::start(640, 480);
    let host = HostProcess::spawn(&c.addr(0), &c.ca(), &x.display, &["--allow", "view"]);
    let code = host.code();
    let dir0 = c.dir(0);
    let url = c.url.clone();
    let drain = tokio::task::spawn_blocking(move || {
        relay_cli(&[
            "drain",
            "--data-dir",
            dir0.to_str().unwrap(),
            "--database",
            &url,
        ])
    });
    // The host hears where to go, moves, and shows the same code again.
    let again = tokio::task::spawn_blocking(move || (host.code(), host))
        .await
        .unwrap();
    let host = again.1;
    assert_eq!(again.0.digits(), code.digits(), "the code did not change");
    let (rc, _, said) = drain.await.unwrap();
    assert_eq!(rc, 0, "{said}");
    assert!(said.contains("has left the cluster"), "{said}");
    let status = c.relays[0].child.wait().unwrap();
    assert!(
        status.success(),
        "the drained relay exits cleanly: {status}"
    );

    // The technician joins the same code through the relay that remains.
    let v =
        lifeline_viewer::session::Viewer::connect(&c.addr(1), Some(&c.ca()), &token, &code, |_| {})
            .await
            .unwrap();
    v.settle(Duration::from_millis(200), Duration::from_secs(20))
        .await
        .unwrap();
    let joined = tokio::task::spawn_blocking(move || (host.wait_event("joined"), host))
        .await
        .unwrap();
    assert_eq!(joined.0["technician"], "fay");
    v.disconnect("done").await;
    let lines = c.lines();
    assert!(
        lines.iter().any(|l| l.contains("\"code_moved\"")),
        "the move is audited"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\"relay_stopped\"") && l.contains("drained")),
        "{lines:#?}"
    );
    let (ok, said) = c.verify();
    assert!(ok, "{said}");
    drop(joined.1);
}

#[tokio::test]
async fn when_locators_run_short_the_oldest_tombstone_gives_way_then_the_last_free_one() {
    let Some(c) = Cluster::start(1, &[]) else {
        return;
    };
    // Every locator was used a minute ago, but 4242 half an hour ago.
    c.pg.psql(
        "lifeline",
        "INSERT INTO codes (locator, session, node, state, expires, changed) \
         SELECT n, 'old' || n, 'gone', 'used', now(), \
                now() - CASE WHEN n = 4242 THEN interval '30 min' ELSE interval '1 min' END \
         FROM generate_series(0, 99999) n",
    );
    let (_h, reg) = c.host(0).await;
    assert_eq!(
        u32::from(reg.locator),
        4242,
        "the oldest tombstone was recycled"
    );
    // Every locator live but one never used: the database finds it.
    c.pg.psql(
        "lifeline",
        "UPDATE codes SET state = 'waiting', expires = now() + interval '1 hour'",
    );
    c.pg.psql("lifeline", "DELETE FROM codes WHERE locator = 777");
    let (_h2, reg) = c.host(0).await;
    assert_eq!(
        u32::from(reg.locator),
        777,
        "the last free locator was found"
    );
    // Every locator live: a clear refusal, not a hang.
    let err = HostLink::register(&c.addr(0), Some(&c.ca()), "pc", "ann")
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("every code of the cluster is in use"),
        "{err}"
    );
}

#[test]
fn a_relay_that_cannot_join_says_why_and_never_shows_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    // Nothing listens on this port: the database is unreachable.
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://lifeline:s3cret@127.0.0.1:{port}/lifeline");
    // `serve` with these options fails: what it said.
    let refused = |extra: &[&str]| {
        let mut args = vec!["serve", "--data-dir", data, "--database", &url];
        args.extend_from_slice(extra);
        let (rc, _, err) = relay_cli(&args);
        assert_ne!(rc, 0, "{err}");
        err
    };
    let err = refused(&["--listen", "127.0.0.1:0"]);
    assert!(err.contains("cannot reach the database"), "{err}");
    assert!(err.contains("lifeline:***@127.0.0.1"), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
    // Every interface, and no address to file for hosts: told what to pass.
    let err = refused(&["--listen", "0.0.0.0:0"]);
    assert!(err.contains("--advertise HOST:PORT"), "{err}");
    // The console reads the data directory's log: refused with the reason.
    let err = refused(&["--listen", "127.0.0.1:0", "--console", "127.0.0.1:0"]);
    assert!(err.contains("--console and --audit-export"), "{err}");
}

#[tokio::test]
async fn a_session_across_relays_resumes_with_both_sides_coming_back_through_another_relay() {
    use lifeline_net::client::Connector;
    use lifeline_proto::control::SessionReport;
    use sha2::{Digest, Sha256};
    let Some(c) = Cluster::start(2, &[]) else {
        return;
    };
    let token = c.add_technician("hal");
    // Host on relay 0, viewer through relay 1, a resume ticket filed.
    let (mut h, v, _reg) = c.paired(0, 1, &token).await;
    let hash = Sha256::digest([5u8; 32]).into();
    h.report(SessionReport::ResumeTicket { hash })
        .await
        .unwrap();
    let tickets = c.dir(0).join("resume");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_dir(&tickets).map_or(0, |d| d.count()) != 1 {
        assert!(Instant::now() < deadline, "no resume ticket filed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The host comes back through relay 1 (as DNS round robin may send
    // it): carried to relay 0, which asks the viewer to reconnect too.
    let old_v = v.conn.clone();
    let through_1 = Connector::new(&c.addr(1), Some(&c.ca())).await.unwrap();
    let session = v.session.clone();
    let host_back =
        tokio::spawn(async move { HostLink::resume(&through_1, &session, [5; 32]).await });
    let why = ClientError::from_connection(&old_v.closed().await);
    assert!(why.resumable(), "the viewer is asked to reconnect: {why}");
    let v2 = v.resumer().resume([5; 32]).await.unwrap();
    let h2 = host_back.await.unwrap().unwrap();
    let (mut s, _r) = v2.conn.open_bi().await.unwrap();
    s.write_all(b"after").await.unwrap();
    s.finish().unwrap();
    let (_hs, mut hr) = h2.conn.accept_bi().await.unwrap();
    assert_eq!(hr.read_to_end(100).await.unwrap(), b"after");
    h2.end("ended by the user").await;
    let lines = c.lines();
    let resumed = lines
        .iter()
        .find(|l| l.contains("\"session_resumed\""))
        .expect("the resume is audited");
    assert!(resumed.contains("\"host_ip\":\"127.0.0.1\""), "{resumed}");
    let (ok, said) = c.verify();
    assert!(ok, "{said}");
}
