//! A real OpenID provider for the identity tests: node's `oidc-provider`
//! (tests/oidc/provider.mjs, installed by scripts/install-deps with
//! `npm ci`) on 127.0.0.1, with one confidential client and the accounts
//! [`ALICE`] (sec-admins), [`BOB`] (sec-auditors, helpdesk) and [`EVE`]
//! (sales), by their opaque subjects. The
//! test changes an account's groups, or makes the token answers hostile
//! ([`Mode`]), through the provider's own `/test/…` paths.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The client the provider knows the relay as.
pub const CLIENT_ID: &str = "lifeline-relay";
pub const CLIENT_SECRET: &str = "a client secret the tests share with the provider";

/// The provider's accounts, by subject (what its login page takes):
/// alice (sec-admins), bob (sec-auditors, helpdesk), eve (sales).
pub const ALICE: &str = "u-0a1c9e";
pub const BOB: &str = "u-5b7d2f";
pub const EVE: &str = "u-9e4a61";

/// How the provider changes its token answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Honest,
    /// The ID token's claims edited, its signature as it was.
    Tamper,
    /// The ID token signed again by the provider's key, for another audience.
    Audience,
    /// An earlier answer's ID token (an earlier nonce) instead.
    Replay,
    /// The ID token signed again, its `at_hash` naming another access token.
    AtHash,
}

/// The provider's node process, stopped when dropped.
#[derive(Debug)]
pub struct IdProvider {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub issuer: String,
}

/// Where the provider's script and its node_modules are.
pub fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("oidc")
}

/// Whether the provider can run here; with LIFELINE_REQUIRE_X set
/// (scripts/test installs node and its modules) it must.
pub fn skip_without_provider() -> bool {
    let ready = fixture_dir().join("node_modules/oidc-provider").is_dir()
        && Command::new("node").arg("--version").output().is_ok();
    if ready {
        return false;
    }
    assert!(
        std::env::var_os("LIFELINE_REQUIRE_X").is_none(),
        "the test OpenID provider is not installed; run scripts/install-deps"
    );
    eprintln!("SKIPPED: no node or no tests/oidc/node_modules");
    true
}

impl IdProvider {
    /// Starts the provider with the relay's client, accepting sign-ins
    /// back at `redirect_uris`.
    pub fn start(redirect_uris: &[String]) -> Self {
        let mut child = Command::new("node")
            .arg(fixture_dir().join("provider.mjs"))
            .env("CLIENT_ID", CLIENT_ID)
            .env("CLIENT_SECRET", CLIENT_SECRET)
            .env("REDIRECT_URIS", redirect_uris.join(","))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot run node");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let issuer = loop {
            let line = lines
                .next()
                .expect("the provider stopped before listening")
                .unwrap();
            if let Some(url) = line.strip_prefix("listening ") {
                break url.trim().to_owned();
            }
        };
        std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
        Self { child, issuer }
    }

    /// Writes the client secret where `--oidc-client-secret-file` reads it.
    pub fn secret_file(dir: &Path) -> PathBuf {
        let path = dir.join("oidc-secret");
        std::fs::write(&path, format!("{CLIENT_SECRET}\n")).unwrap();
        path
    }

    /// `account`'s groups from now on.
    pub fn set_groups(&self, account: &str, groups: &[&str]) {
        self.control(&format!("/test/groups/{account}?set={}", groups.join(",")));
    }

    /// How the next token answers are made.
    pub fn set_mode(&self, mode: Mode) {
        let word = match mode {
            Mode::Honest => "honest",
            Mode::Tamper => "tamper",
            Mode::Audience => "audience",
            Mode::Replay => "replay",
            Mode::AtHash => "athash",
        };
        self.control(&format!("/test/mode/{word}"));
    }

    /// A GET of the provider's own test path; panics unless it says ok.
    fn control(&self, path: &str) {
        let body = self.get(path);
        assert!(body.ends_with("ok\n"), "{path}: {body}");
    }

    /// The body of a plain HTTP GET of `path` at the provider.
    pub fn get(&self, path: &str) -> String {
        let host = self.issuer.trim_start_matches("http://");
        let mut s = TcpStream::connect(host).unwrap();
        write!(s, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").unwrap();
        let mut all = String::new();
        s.read_to_string(&mut all).unwrap();
        all.split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default()
    }
}

impl Drop for IdProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP port free on 127.0.0.1 now (for a console whose URL the provider
/// must know before the relay starts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Signs `account` in at the provider's pages in `b` (already at the
/// provider's login page): the development login form (any password),
/// then the consent page when it asks.
pub fn provider_login(b: &mut crate::browser::Browser, account: &str) {
    b.fill("input[name=login]", account);
    b.fill("input[name=password]", "any password");
    b.submit("form");
    if b.count("input[name=prompt][value=consent]") > 0 {
        b.submit("form");
    }
}
