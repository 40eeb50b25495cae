//! A throwaway PostgreSQL for the cluster's tests and benchmarks: `initdb`
//! in a temporary directory, `pg_ctl start` on a free loopback port, and
//! an immediate stop when dropped. Debian's `postgresql` package provides
//! the programs (scripts/install-deps installs it).
//!
//! PostgreSQL refuses to run as root, so as root the server runs as the
//! `postgres` user the package creates, in a directory handed to it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A running throwaway PostgreSQL.
pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
    as_user: Option<&'static str>,
}

/// Where `initdb`, `pg_ctl`, `postgres` and `psql` are: Debian's
/// versioned directory (the newest), else the first PATH entry with all.
fn bin_dir() -> Option<PathBuf> {
    let complete = |d: &Path| {
        ["initdb", "pg_ctl", "postgres", "psql"]
            .iter()
            .all(|p| d.join(p).exists())
    };
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|d| complete(d))
        .collect();
    versions.sort();
    if let Some(d) = versions.pop() {
        return Some(d);
    }
    let path = std::env::var("PATH").ok()?;
    std::env::split_paths(&path).find(|d| complete(d))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(55432)
}

impl Postgres {
    /// Starts one, or says why it cannot. Where the scripts installed
    /// PostgreSQL (`LIFELINE_REQUIRE_PG` is set), failing to start panics
    /// instead: a test must run, never skip, there.
    pub fn start() -> Option<Self> {
        match Self::try_start() {
            Ok(pg) => Some(pg),
            Err(why) => {
                assert!(
                    std::env::var_os("LIFELINE_REQUIRE_PG").is_none(),
                    "PostgreSQL could not start but LIFELINE_REQUIRE_PG is set: {why}"
                );
                eprintln!("SKIPPED: no PostgreSQL for this test ({why}); run scripts/install-deps");
                None
            }
        }
    }

    fn try_start() -> Result<Self, String> {
        let bin = bin_dir().ok_or("initdb and pg_ctl not found (Debian package postgresql)")?;
        let dir = tempfile::Builder::new()
            .prefix("lifeline-pg")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let as_user = is_root().then_some("postgres");
        if let Some(user) = as_user {
            let owned = Command::new("chown")
                .arg(user)
                .arg(dir.path())
                .status()
                .map_err(|e| e.to_string())?;
            if !owned.success() {
                return Err(format!(
                    "cannot hand {} to user {user}",
                    dir.path().display()
                ));
            }
        }
        let port = free_port();
        let pg = Self {
            dir,
            bin,
            port,
            as_user,
        };
        let data = pg.data();
        pg.run(
            "initdb",
            &[
                "-D",
                &data,
                "-A",
                "trust",
                "-U",
                "lifeline",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        )?;
        let opts = format!(
            "-h 127.0.0.1 -p {port} -k {} -c max_connections=300",
            pg.dir.path().display()
        );
        let log = pg.dir.path().join("server.log");
        pg.run(
            "pg_ctl",
            &[
                "-D",
                &data,
                "-o",
                &opts,
                "-l",
                &log.to_string_lossy(),
                "-w",
                "start",
            ],
        )?;
        Ok(pg)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        match self.as_user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(path);
                c
            }
            None => Command::new(path),
        }
    }

    fn run(&self, program: &str, args: &[&str]) -> Result<Output, String> {
        let out = self
            .command(program)
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .map_err(|e| format!("{program}: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "{program} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(out)
    }

    /// A URL for database `db` as the superuser `lifeline`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://lifeline@127.0.0.1:{}/{db}", self.port)
    }

    /// Makes a new empty database; its URL.
    pub fn create_db(&self, name: &str) -> String {
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
        self.url(name)
    }

    /// Runs `sql` in `db` with psql; its output (unaligned, tuples only).
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = self
            .run(
                "psql",
                &[
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &self.port.to_string(),
                    "-U",
                    "lifeline",
                    "-d",
                    db,
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-A",
                    "-t",
                    "-c",
                    sql,
                ],
            )
            .unwrap_or_else(|e| panic!("psql {sql:?}: {e}"));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// The server's own log, for a failing test's message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// CPU seconds the server has used: its postmaster and every backend
    /// alive now (the relays hold their connections open).
    pub fn cpu_secs(&self) -> f64 {
        let pidfile = self.dir.path().join("data/postmaster.pid");
        let Some(main) = std::fs::read_to_string(pidfile)
            .ok()
            .and_then(|t| t.lines().next().and_then(|l| l.trim().parse::<u32>().ok()))
        else {
            return 0.0;
        };
        let children = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .ok()
                    .and_then(|st| {
                        let after = st.rsplit_once(')')?.1;
                        after.split_whitespace().nth(1)?.parse::<u32>().ok()
                    })
                    == Some(main)
            });
        std::iter::once(main)
            .chain(children)
            .map(crate::cpu_secs)
            .sum()
    }

    /// The directory the server runs in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.data();
        if let Err(e) = self.run("pg_ctl", &["-D", &data, "-m", "immediate", "stop"]) {
            eprintln!("stopping the test PostgreSQL: {e}");
        }
    }
}
