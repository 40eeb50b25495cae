//! The integration-test harness: real relays on loopback (in-process or as
//! the real binary), and helpers to drive them. Tests live in `tests/it/`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_debug_implementations
)]

pub mod browser;
pub mod chaos;
pub mod load;
pub mod netem;
pub mod oidc;
pub mod pair;
pub mod peers;
pub mod portal;
pub mod postgres;
pub mod ssim;
pub mod sway;
pub mod video;
pub mod vnc;
pub mod wine;
pub mod wlproxy;
pub mod x;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use lifeline_proto::audit::{AuditEvent, Record};
use lifeline_relay_core::tokens::TechnicianStore;
use lifeline_relay_core::{Relay, RelayConfig, RelayError};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A relay served in this process on 127.0.0.1, with its own data dir.
pub struct TestRelay {
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    pub ca: PathBuf,
    pub relay: Arc<Relay>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), RelayError>>>,
}

impl TestRelay {
    /// A relay with production defaults.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// A relay whose configuration `tune` adjusts first.
    pub async fn start_with(tune: impl FnOnce(&mut RelayConfig)) -> Self {
        Self::start_named(&[], tune).await
    }

    /// A relay whose certificate also names `names` (an address a test's
    /// forwarder gives it), configured by `tune`.
    pub async fn start_named(names: &[&str], tune: impl FnOnce(&mut RelayConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut all: Vec<String> = vec!["localhost".into(), "127.0.0.1".into()];
        all.extend(names.iter().map(|n| (*n).to_owned()));
        lifeline_certs::ensure_relay_certs(dir.path(), &all).unwrap();
        let files = lifeline_certs::RelayFiles::in_dir(dir.path());
        let mut config = RelayConfig::new(dir.path().to_owned());
        tune(&mut config);
        let relay = Relay::open(config).unwrap();
        let server = lifeline_common::tls::server_config(
            lifeline_certs::load_certs(&files.cert).unwrap(),
            lifeline_certs::load_key(&files.key).unwrap(),
            Duration::from_secs(10),
        )
        .unwrap();
        let endpoint =
            lifeline_common::tls::endpoint("127.0.0.1:0".parse().unwrap(), Some(server)).unwrap();
        let addr = endpoint.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(lifeline_relay_core::run(
            endpoint,
            relay.clone(),
            async move {
                let _ = stopped.await;
            },
        ));
        Self {
            addr,
            ca: files.ca_cert,
            dir,
            relay,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// `127.0.0.1:PORT`, as `--relay` takes it.
    pub fn relay_arg(&self) -> String {
        self.addr.to_string()
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Adds a technician and returns the token.
    pub fn add_technician(&self, name: &str) -> String {
        TechnicianStore::in_dir(self.dir.path()).add(name).unwrap()
    }

    pub fn revoke(&self, name: &str) {
        TechnicianStore::in_dir(self.dir.path())
            .revoke(name)
            .unwrap();
    }

    /// Every record so far, verified.
    pub fn records(&self) -> Vec<Record> {
        audit_records(self.dir.path())
    }

    /// Waits until a record matches `pred` (records are written before the
    /// relay acts, but a session's end is written after it closes both sides).
    pub async fn wait_record(&self, what: &str, pred: impl Fn(&AuditEvent) -> bool) -> Record {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(r) = self.records().into_iter().find(|r| pred(&r.event)) {
                return r;
            }
            assert!(
                Instant::now() < deadline,
                "no audit record {what} within 10 s: {:#?}",
                self.records()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Shuts down as SIGTERM would and waits for it; the data dir stays.
    pub async fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap().unwrap();
        }
    }
}

/// The audit records every completed session has, in order.
pub const SESSION_RECORDS: [&str; 5] = [
    "code_issued",
    "join_attempt",
    "session_started",
    "peer_report",
    "session_ended",
];

/// The verified records of the log in `dir`.
pub fn audit_records(dir: &Path) -> Vec<Record> {
    lifeline_relay_core::audit::read_verified(dir)
        .unwrap()
        .into_iter()
        .map(|v| v.record)
        .collect()
}

/// Path of one of the workspace's binaries: in `$LIFELINE_BIN_DIR` when
/// set (scripts/test and scripts/bench build the binaries first and set
/// it), else beside this test's own target directory. Tests never run
/// cargo themselves: a nested build would fight the outer one for the
/// target directory's lock.
pub fn bin(name: &str) -> PathBuf {
    let dir = match std::env::var_os("LIFELINE_BIN_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            let exe = std::env::current_exe().unwrap();
            // target/<profile>/deps/<test> -> target/<profile>
            exe.parent().unwrap().parent().unwrap().to_owned()
        }
    };
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the binaries first (`cargo build --workspace --bins`, \
         or run ./scripts/test, which does), or point LIFELINE_BIN_DIR at them",
        path.display()
    );
    path
}

/// The relay binary, running as a child process.
pub struct RelayProcess {
    pub child: Child,
    pub addr: SocketAddr,
    pub dir: PathBuf,
    /// The web console's URL, when started with `--console`.
    pub console: Option<String>,
    /// The browser viewer's URL, when started with `--web`.
    pub web: Option<String>,
    /// With `--database`: its id in the cluster and where relays reach it.
    pub node: Option<(String, SocketAddr)>,
    /// What it printed (stdout) after its banner, line by line.
    pub said: Arc<std::sync::Mutex<Vec<String>>>,
}

impl RelayProcess {
    /// Starts `lifeline-relay serve` on 127.0.0.1 with `dir` as data dir.
    pub fn start(dir: &Path, extra: &[&str]) -> Self {
        Self::start_on("127.0.0.1:0", dir, extra)
    }

    /// [`RelayProcess::start`] on a given address (a restart on the port
    /// the clients know).
    pub fn start_on(listen: &str, dir: &Path, extra: &[&str]) -> Self {
        Self::start_logged(listen, dir, extra, Stdio::inherit())
    }

    /// [`RelayProcess::start_on`] with its log (stderr) going to `log`.
    pub fn start_logged(listen: &str, dir: &Path, extra: &[&str], log: Stdio) -> Self {
        Self::start_env(listen, dir, extra, log, &[])
    }

    /// [`RelayProcess::start_logged`] with environment variables `env`.
    pub fn start_env(
        listen: &str,
        dir: &Path,
        extra: &[&str],
        log: Stdio,
        env: &[(&str, &str)],
    ) -> Self {
        let mut child = Command::new(bin("lifeline-relay"))
            .envs(env.iter().copied())
            .args(["serve", "--listen", listen, "--data-dir"])
            .arg(dir)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().expect("relay printed nothing").unwrap();
        let addr = first
            .strip_prefix("Lifeline relay listening on ")
            .and_then(|r| r.split(' ').next())
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .parse()
            .unwrap();
        // The banner ends with the audit log's path.
        let mut console = None;
        let mut web = None;
        let mut node = None;
        for line in lines.by_ref() {
            let line = line.unwrap();
            if let Some(rest) = line.strip_prefix("Cluster: relay ") {
                let id = rest.split(',').next().unwrap_or_default().to_owned();
                let link = rest
                    .split(" on ")
                    .nth(1)
                    .and_then(|r| r.split(' ').next())
                    .and_then(|a| a.parse().ok());
                node = link.map(|l| (id, l));
            }
            if let Some(rest) = line.strip_prefix("Console: ") {
                console = rest
                    .split(' ')
                    .next()
                    .map(|u| u.trim_end_matches('/').to_owned());
            }
            if let Some(rest) = line.strip_prefix("Browser viewer: ") {
                web = Some(rest.trim().trim_end_matches('/').to_owned());
            }
            if line.starts_with("Audit log: ") {
                break;
            }
        }
        // Keep draining stdout so the relay never blocks on a full pipe.
        let said = Arc::new(std::sync::Mutex::new(Vec::new()));
        let keep = said.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                keep.lock().unwrap().push(line);
            }
        });
        Self {
            child,
            addr,
            dir: dir.to_owned(),
            console,
            web,
            node,
            said,
        }
    }

    /// How many lines it has printed after its banner.
    pub fn said_count(&self) -> usize {
        self.said.lock().unwrap().len()
    }

    /// Waits (up to 20 s) for a line printed after the first `after`
    /// lines that starts with `prefix`; returns it.
    pub async fn wait_said(&self, after: usize, prefix: &str) -> String {
        let said = self.said.clone();
        let what = format!("the relay to say {prefix:?}");
        poll_within(&what, Duration::from_secs(20), move || {
            let lines = said.lock().unwrap();
            lines
                .iter()
                .skip(after)
                .find(|l| l.starts_with(prefix))
                .cloned()
        })
        .await
    }

    /// Sends a signal (`"KILL"`, `"TERM"`, …) to the relay.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} failed");
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A log file to hand a child process as its stderr (appended to).
pub fn log_to(path: &Path) -> Stdio {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map(Stdio::from)
        .unwrap_or_else(|e| panic!("cannot open the log {}: {e}", path.display()))
}

/// A process's resident memory in KiB (`VmRSS`), if it still runs.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Runs `lifeline-relay ARGS…` and returns (exit code, stdout, stderr).
pub fn relay_cli(args: &[&str]) -> (i32, String, String) {
    run_cli("lifeline-relay", args)
}

/// Runs our binary `name` with `args`: exit code, stdout, stderr.
pub fn run_cli(name: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin(name)).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `lifeline-relay ARGS…` every 50 ms until it succeeds with `want`
/// in its stdout (records are written as things happen, so a test polls
/// rather than sleeps); returns that stdout, failing after 10 s.
pub fn relay_cli_until(args: &[&str], want: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (rc, out, err) = relay_cli(args);
        if rc == 0 && out.contains(want) {
            return out;
        }
        assert!(
            Instant::now() < deadline,
            "`lifeline-relay {}` never showed {want:?}: exit {rc}\n{out}\n{err}",
            args.join(" ")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Polls `f` every 50 ms until it yields, failing the test after 10 s.
pub async fn poll<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    poll_within(what, Duration::from_secs(10), f).await
}

/// [`poll`] with a deadline of `within`.
pub async fn poll_within<T>(what: &str, within: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// [`poll`] for tests without a runtime: polls `f` every 50 ms until it
/// yields, failing the test after 10 s.
pub fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The session tickets the relay with data directory `dir` keeps for
/// resumes: one appears once a host's ticket is filed (only then can a
/// lost host come back).
pub fn resume_tickets(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("resume")).map_or(0, |d| {
        d.flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .count()
    })
}

/// Deterministic pseudo-random bytes (xorshift), to stream and compare.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A benchmark's option `NAME VALUE` from the command line, else `default`.
pub fn bench_arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// User + system CPU seconds a process has used so far, from /proc.
pub fn cpu_secs(pid: u32) -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    let ticks = *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    });
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    (fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap()) / ticks
}

/// A relay for a benchmark: the release binary serving `--data-dir DIR`
/// on a free loopback port with `args` besides, its log discarded, killed
/// when dropped.
#[derive(Debug)]
pub struct BenchRelay {
    pub child: Child,
    pub addr: String,
}

impl Drop for BenchRelay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl BenchRelay {
    pub fn start(dir: &Path, args: &[&str]) -> Self {
        use std::io::{BufRead, BufReader};
        let mut child = Command::new(bin("lifeline-relay"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .arg("--data-dir")
            .arg(dir)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        let addr = first.split(' ').nth(4).unwrap().to_owned();
        std::thread::spawn(move || for _ in lines {});
        Self { child, addr }
    }
}
