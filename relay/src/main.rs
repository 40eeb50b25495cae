//! `lifeline-relay`: serve, manage technicians, read the audit log.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use lifeline_common::tls;
use lifeline_proto::audit::AuditEvent;
use lifeline_proto::audit::Record;
use lifeline_relay::audit::{self, read_verified};
use lifeline_relay::recording::{self, AuditorStore, RecordingMode};
use lifeline_relay::report::{describe, summarize};
use lifeline_relay::tokens::TechnicianStore;
use lifeline_relay::{Relay, RelayConfig};

mod cli_cluster;

#[derive(Parser, Debug)]
#[command(
    name = "lifeline-relay",
    version,
    about = "Lifeline's relay: pairs hosts with technicians by one-time code, forwards what it cannot read, audits every session."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Debug, Clone)]
struct DataDir {
    /// Where the relay keeps its CA, certificate, technicians and audit log.
    #[arg(long, env = "LIFELINE_DATA_DIR", default_value_os_t = default_data_dir())]
    data_dir: PathBuf,
}

#[derive(Args, Debug, Clone)]
struct Database {
    /// A cluster's PostgreSQL (postgres://USER:PASSWORD@HOST/DB): its
    /// technicians and audit log instead of the data directory's.
    #[arg(long, env = "LIFELINE_DATABASE")]
    database: Option<String>,
}

fn default_data_dir() -> PathBuf {
    match std::env::var_os("HOME") {
        Some(home) => Path::new(&home).join(".local/share/lifeline-relay"),
        None => PathBuf::from("lifeline-relay-data"),
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the relay.
    Serve(Box<Serve>),
    /// Manage technicians (who may join a code).
    #[command(subcommand)]
    Technician(Technician),
    /// Read and check the audit log.
    #[command(subcommand)]
    Audit(Audit),
    /// Manage the auditors whose keys open session recordings.
    #[command(subcommand)]
    Auditor(AuditorCmd),
    /// Session recordings.
    #[command(subcommand)]
    Recording(RecordingCmd),
    /// Manage the web console's accounts (`serve --console`).
    #[command(subcommand, name = "console-user")]
    ConsoleUser(ConsoleUserCmd),
    /// Restart a relay of a cluster without cutting anyone off: it takes
    /// no new hosts, its waiting hosts move to other relays keeping their
    /// codes, and it exits when its last session ends.
    Drain {
        /// The relay to drain (its DIR/node-id); default: the one whose
        /// data directory this is.
        #[arg(long)]
        node: Option<String>,
        #[command(flatten)]
        dir: DataDir,
        /// The cluster's PostgreSQL (postgres://USER:PASSWORD@HOST/DB).
        #[arg(long, env = "LIFELINE_DATABASE", required = true)]
        database: String,
    },
}

#[derive(Subcommand, Debug)]
enum ConsoleUserCmd {
    /// Add an account; prints a one-time password (the only line on
    /// stdout) that must be changed at the first login.
    Add {
        name: String,
        /// auditor: reads everything, downloads recordings; admin: also
        /// adds and revokes technicians.
        #[arg(long, value_enum)]
        role: lifeline_relay::console::users::Role,
        /// Also ask for a code from an authenticator app at every login
        /// (prints the otpauth:// URI to add to the app).
        #[arg(long)]
        totp: bool,
        #[command(flatten)]
        dir: DataDir,
    },
    /// List accounts (never their passwords).
    List {
        #[command(flatten)]
        dir: DataDir,
    },
    /// Remove an account; its open console sessions end at once.
    Remove {
        name: String,
        #[command(flatten)]
        dir: DataDir,
    },
    /// A new one-time password for an account (a forgotten password).
    Reset {
        name: String,
        #[command(flatten)]
        dir: DataDir,
    },
}

#[derive(Subcommand, Debug)]
enum RecordingCmd {
    /// Copy a session's recording to FILE; the copy is audited (who, where)
    /// before it is made.
    Fetch {
        session: String,
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        dir: DataDir,
    },
}

#[derive(Subcommand, Debug)]
enum AuditorCmd {
    /// Make an auditor's key pair: writes the secret key to FILE (mode
    /// 600; keep it away from the relay) and prints the public key.
    Keygen {
        #[arg(long)]
        out: PathBuf,
    },
    /// Add an auditor: every later session is recorded for them too.
    Add {
        name: String,
        /// The file with the public key `auditor keygen` printed.
        #[arg(long)]
        public_key: PathBuf,
        #[command(flatten)]
        dir: DataDir,
    },
    /// List auditors and their keys' fingerprints.
    List {
        #[command(flatten)]
        dir: DataDir,
        /// One JSON object a line.
        #[arg(long)]
        json: bool,
    },
    /// Remove an auditor: later sessions are not sealed to them.
    Remove {
        name: String,
        #[command(flatten)]
        dir: DataDir,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum RecordingArg {
    Required,
    Optional,
    Off,
}

#[derive(Args, Debug)]
struct Serve {
    /// UDP address to listen on.
    #[arg(long, default_value = "0.0.0.0:4433")]
    listen: SocketAddr,
    #[command(flatten)]
    dir: DataDir,
    /// Your own certificate chain (PEM) instead of the relay's CA; needs --key.
    #[arg(long, requires = "key")]
    cert: Option<PathBuf>,
    /// The private key (PEM) for --cert.
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
    /// How long an unused code lives (e.g. 10m, 90s).
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    code_ttl: Duration,
    /// How long a session whose link was lost, or whose relay restarted,
    /// waits for host and viewer to reconnect (e.g. 2m, 30s; 0 turns
    /// resuming off).
    #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
    resume_window: Duration,
    /// After this long in control, the user's side asks whether to go on
    /// and ends the session if nobody answers within 60 s (e.g. 30m,
    /// 15m; 0 never asks).
    #[arg(long, default_value = "30m", value_parser = humantime::parse_duration)]
    confirm_every: Duration,
    /// Test-only: failed joins allowed at once per address and token (5).
    #[arg(long, default_value_t = 5, hide = true)]
    throttle_burst: u32,
    /// Test-only: how long the user has to answer that question (60 s).
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration, hide = true)]
    confirm_answer_within: Duration,
    /// Extra DNS names or IPs for the generated certificate (repeatable);
    /// localhost, 127.0.0.1, ::1 and this machine's host name are always in.
    #[arg(long = "name")]
    names: Vec<String>,
    /// Most hosts that may wait with a live code at once.
    #[arg(long, default_value_t = 20_000)]
    max_waiting_hosts: usize,
    /// Most QUIC connections at once.
    #[arg(long, default_value_t = 50_000)]
    max_connections: usize,
    /// Record sessions for the auditors (`auditor add`): required (a
    /// session whose recording cannot be written ends), optional, or off.
    /// Default: required when an auditor exists, else off.
    #[arg(long, value_enum)]
    recording: Option<RecordingArg>,
    /// Recordings include keystrokes and typed text (the user is told).
    #[arg(long)]
    record_keys: bool,
    /// Ship every audit record as it is written: syslog://HOST:PORT (RFC
    /// 5424 over TCP), syslog+udp://HOST:PORT, or stdout-json; each once,
    /// in order, going on after a restart where it stopped.
    #[arg(long)]
    audit_export: Option<lifeline_relay::export::ExportTarget>,
    /// Serve the web console for security staff on this TCP address
    /// (e.g. 127.0.0.1:8443), over HTTPS with the relay's certificate;
    /// accounts come from `console-user add`. Off by default.
    #[arg(long)]
    console: Option<SocketAddr>,
    /// Delete recordings older than this (e.g. 90d, 12h; 0 keeps them).
    #[arg(long, default_value = "90d", value_parser = humantime::parse_duration)]
    recording_retention: Duration,
    /// Join a cluster of relays sharing this PostgreSQL
    /// (postgres://USER:PASSWORD@HOST/DB): technicians, live codes and
    /// one audit chain live there. Default: this data directory alone.
    #[arg(long, env = "LIFELINE_DATABASE")]
    database: Option<String>,
    /// With --database: UDP address other relays reach this one on
    /// (mutual TLS with the cluster's CA). Default: --listen's port + 1.
    #[arg(long, requires = "database")]
    link: Option<SocketAddr>,
    /// With --database: the address to file for other relays when --link
    /// binds all interfaces (HOST:PORT).
    #[arg(long, requires = "database")]
    link_advertise: Option<String>,
    /// With --database: where hosts reach this relay (HOST:PORT, a name
    /// its certificate carries), for those a draining relay sends here.
    /// Default: --listen, when it names one address.
    #[arg(long, requires = "database")]
    advertise: Option<String>,
    /// With --database: a relay silent this long is taken for dead and
    /// its waiting codes are released.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    node_timeout: Duration,
}

#[derive(Subcommand, Debug)]
enum Technician {
    /// Add a technician; prints the token (the only line on stdout).
    Add {
        name: String,
        #[command(flatten)]
        dir: DataDir,
        #[command(flatten)]
        db: Database,
    },
    /// List technicians (never their tokens).
    List {
        #[command(flatten)]
        dir: DataDir,
        #[command(flatten)]
        db: Database,
        /// One JSON object a line.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a technician's token; applies to the next join at once.
    Revoke {
        name: String,
        #[command(flatten)]
        dir: DataDir,
        #[command(flatten)]
        db: Database,
    },
}

#[derive(Subcommand, Debug)]
enum Audit {
    /// One line a session: when, who, mode, how it ended.
    List {
        #[command(flatten)]
        dir: DataDir,
        /// One JSON object a line.
        #[arg(long)]
        json: bool,
        /// Instead of sessions: technicians whose tokens failed on several
        /// different codes (someone guessing codes), and suspensions.
        #[arg(long)]
        suspicious: bool,
    },
    /// Every record of one session.
    Show {
        session: String,
        #[command(flatten)]
        dir: DataDir,
        /// The raw JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Check the hash chain; exit 0 only if the log is intact.
    Verify {
        #[command(flatten)]
        dir: DataDir,
        #[command(flatten)]
        db: Database,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("lifeline-relay: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(s) => serve(*s),
        Command::Technician(Technician::Add { name, dir, db }) => {
            let log = LogAt::of(&dir, &db);
            let token = admin(&log, "technician add", &name, || match &db.database {
                Some(url) => cli_cluster::technician_add(url, &name),
                None => Ok(TechnicianStore::in_dir(&dir.data_dir).add(&name)?),
            })?;
            println!("{token}");
            eprintln!(
                "Technician {name:?} added. Give them this token privately; it is shown only once."
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Technician(Technician::List { dir, db, json }) => {
            let all = match &db.database {
                Some(url) => cli_cluster::technician_list(url)?,
                None => TechnicianStore::in_dir(&dir.data_dir).list()?,
            };
            for t in all {
                if json {
                    let v = serde_json::json!({"name": t.name, "created": t.created, "revoked": t.revoked});
                    println!("{v}");
                } else {
                    let state = t
                        .revoked
                        .map_or("active".to_owned(), |r| format!("revoked {r}"));
                    println!("{:<24} added {}  {state}", t.name, t.created);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Technician(Technician::Revoke { name, dir, db }) => {
            let log = LogAt::of(&dir, &db);
            admin(&log, "technician revoke", &name, || match &db.database {
                Some(url) => cli_cluster::technician_revoke(url, &name),
                None => Ok(TechnicianStore::in_dir(&dir.data_dir).revoke(&name)?),
            })?;
            eprintln!("Technician {name:?} revoked; their next join is refused.");
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit(a) => audit_cmd(a),
        Command::Auditor(a) => auditor_cmd(a),
        Command::Recording(RecordingCmd::Fetch { session, out, dir }) => {
            fetch(&session, &out, &dir.data_dir)
        }
        Command::ConsoleUser(c) => console_user_cmd(c),
        Command::Drain {
            node,
            dir,
            database,
        } => {
            let node = match node {
                Some(n) => n,
                None => lifeline_relay::cluster::node_id_of(&dir.data_dir)?,
            };
            cli_cluster::drain(&database, &node)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn auditor_cmd(a: AuditorCmd) -> anyhow::Result<ExitCode> {
    match a {
        AuditorCmd::Keygen { out } => {
            let secret = lifeline_record::AuditorSecret::generate();
            write_secret(&out, &secret.to_text())
                .with_context(|| format!("cannot write the secret key to {}", out.display()))?;
            println!("{}", secret.public().to_text());
            eprintln!(
                "Secret key written to {} (only you can read it): it opens every recording made for this key, so keep it offline. The line above is the public key: save it to a file and give it to `lifeline-relay auditor add NAME --public-key FILE`.",
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        AuditorCmd::Add {
            name,
            public_key,
            dir,
        } => {
            let text = std::fs::read_to_string(&public_key)
                .with_context(|| format!("cannot read {}", public_key.display()))?;
            let e = admin(&LogAt::Dir(&dir.data_dir), "auditor add", &name, || {
                Ok(AuditorStore::in_dir(&dir.data_dir).add(&name, &text)?)
            })?;
            eprintln!(
                "Auditor {name:?} added (key {}): every session from now on is recorded for them.",
                e.fingerprint()
            );
            Ok(ExitCode::SUCCESS)
        }
        AuditorCmd::List { dir, json } => {
            for e in AuditorStore::in_dir(&dir.data_dir).list()? {
                if json {
                    let v = serde_json::json!({"name": e.name, "fingerprint": e.fingerprint(), "added": e.added, "public_key": e.public_key});
                    println!("{v}");
                } else {
                    println!("{:<24} key {}  added {}", e.name, e.fingerprint(), e.added);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditorCmd::Remove { name, dir } => {
            admin(&LogAt::Dir(&dir.data_dir), "auditor remove", &name, || {
                Ok(AuditorStore::in_dir(&dir.data_dir).remove(&name)?)
            })?;
            eprintln!(
                "Auditor {name:?} removed: later sessions are not recorded for them; their key still opens earlier recordings."
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn console_user_cmd(c: ConsoleUserCmd) -> anyhow::Result<ExitCode> {
    use lifeline_relay::console::users::UserStore;
    match c {
        ConsoleUserCmd::Add {
            name,
            role,
            totp,
            dir,
        } => {
            let what = format!("{name} as {}", role.as_str());
            let e = admin(
                &LogAt::Dir(&dir.data_dir),
                "console-user add",
                &what,
                || Ok(UserStore::in_dir(&dir.data_dir).add(&name, role, totp)?),
            )?;
            println!("{}", e.password);
            eprintln!(
                "Console user {name:?} added as {}. Give them the password above privately: it works once, and the first login chooses a new one.",
                role.as_str()
            );
            if let Some(uri) = e.totp_uri {
                eprintln!(
                    "Second factor: add this to their authenticator app (or show it as a QR code):\n{uri}"
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        ConsoleUserCmd::List { dir } => {
            for u in UserStore::in_dir(&dir.data_dir).list()? {
                let totp = if u.totp.is_some() { "  with TOTP" } else { "" };
                let fresh = if u.must_change {
                    "  (one-time password not yet changed)"
                } else {
                    ""
                };
                println!(
                    "{:<24} {:<8} added {}{totp}{fresh}",
                    u.name,
                    u.role.as_str(),
                    u.created
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        ConsoleUserCmd::Remove { name, dir } => {
            admin(
                &LogAt::Dir(&dir.data_dir),
                "console-user remove",
                &name,
                || Ok(UserStore::in_dir(&dir.data_dir).remove(&name)?),
            )?;
            eprintln!(
                "Console user {name:?} removed; their console sessions end at their next click."
            );
            Ok(ExitCode::SUCCESS)
        }
        ConsoleUserCmd::Reset { name, dir } => {
            let p = admin(
                &LogAt::Dir(&dir.data_dir),
                "console-user reset",
                &name,
                || Ok(UserStore::in_dir(&dir.data_dir).reset(&name)?),
            )?;
            println!("{p}");
            eprintln!(
                "New one-time password for {name:?} above; their next login chooses a new one."
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Copies a recording, audited first: by the running relay when there is
/// one (it holds the audit log), else straight into the log.
fn fetch(session: &str, out: &Path, dir: &Path) -> anyhow::Result<ExitCode> {
    let src = dir.join(recording::file_name(session));
    if !src.is_file() {
        bail!(
            "no recording for session {session:?} in {}; `lifeline-relay audit list` shows each session's recording",
            dir.display()
        );
    }
    if out.exists() {
        bail!("{} exists; pick a new file for the copy", out.display());
    }
    let to = std::path::absolute(out).unwrap_or_else(|_| out.to_owned());
    let event = AuditEvent::RecordingFetched {
        session: session.to_owned(),
        by: lifeline_common::whoami::os_user(),
        to: to.display().to_string(),
    };
    audit_cli(dir, event).context("nothing was copied")?;
    std::fs::copy(&src, out).with_context(|| format!("cannot copy to {}", out.display()))?;
    eprintln!(
        "Copied the recording of session {session} to {} (the fetch is in the audit log). Open it with `lifeline-viewer play FILE --identity KEY`.",
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes `event` to the audit log in `dir`: straight into it when no relay
/// runs, else through the running relay (which holds the log), waiting up
/// to 10 s for the record to be durable.
fn audit_cli(dir: &Path, event: AuditEvent) -> anyhow::Result<()> {
    match audit::AuditLog::open(dir) {
        Ok(log) => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(log.append(event))?;
        }
        Err(audit::AuditError::Busy(_)) => {
            let name = lifeline_relay::spool::submit(dir, &event)
                .with_context(|| format!("cannot leave a request in {}", dir.display()))?;
            let ok = name.with_extension("ok");
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while !ok.exists() {
                if std::time::Instant::now() > deadline {
                    let _ = std::fs::remove_file(&name);
                    bail!("the running relay did not write the audit record within 10 s");
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            std::fs::remove_file(&ok)?;
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// Where a command's records go: the data directory's log (or the running
/// relay's, through its spool), or a cluster's database.
enum LogAt<'a> {
    Dir(&'a Path),
    Db(&'a str),
}

impl<'a> LogAt<'a> {
    fn of(dir: &'a DataDir, db: &'a Database) -> Self {
        match &db.database {
            Some(url) => LogAt::Db(url),
            None => LogAt::Dir(&dir.data_dir),
        }
    }

    fn append(&self, event: AuditEvent) -> anyhow::Result<()> {
        match self {
            LogAt::Dir(dir) => audit_cli(dir, event),
            LogAt::Db(url) => cli_cluster::append(url, event),
        }
    }
}

/// Runs a command that changes who may do what, audited before it takes
/// effect (`admin_action`, by whoever runs it); a change that then fails
/// is audited as `ACTION failed` with the reason.
fn admin<T>(
    log: &LogAt<'_>,
    action: &str,
    target: &str,
    change: impl FnOnce() -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let record = |action: String, target: String| AuditEvent::AdminAction {
        by: lifeline_common::whoami::os_user(),
        action,
        target,
    };
    log.append(record(action.into(), target.into()))
        .context("nothing was changed: the audit log could not be written")?;
    change().map_err(|e| {
        let failed = record(format!("{action} failed"), format!("{target}: {e:#}"));
        if let Err(a) = log.append(failed) {
            eprintln!("lifeline-relay: the failure could not be audited either: {a:#}");
        }
        e
    })
}

/// Writes a new file only its owner can read; never overwrites one.
fn write_secret(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut opts = std::fs::File::options();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

fn serve(s: Serve) -> anyhow::Result<ExitCode> {
    let dir = &s.dir.data_dir;
    lifeline_relay::private::private_dir(dir)
        .with_context(|| format!("cannot create data directory {}", dir.display()))?;
    let (chain, key, ca_note) = match (&s.cert, &s.key) {
        (Some(cert), Some(key)) => (
            lifeline_certs::load_certs(cert)?,
            lifeline_certs::load_key(key)?,
            None,
        ),
        _ => {
            let mut names = vec![
                "localhost".to_owned(),
                "127.0.0.1".to_owned(),
                "::1".to_owned(),
            ];
            if let Ok(h) = std::fs::read_to_string("/etc/hostname") {
                let h = h.trim();
                if !h.is_empty() {
                    names.push(h.to_owned());
                }
            }
            if !s.listen.ip().is_unspecified() {
                names.push(s.listen.ip().to_string());
            }
            names.extend(s.names.iter().cloned());
            names.dedup();
            let ensured = lifeline_certs::ensure_relay_certs(dir, &names)?;
            let files = lifeline_certs::RelayFiles::in_dir(dir);
            let note = (
                files.ca_cert.clone(),
                ensured.ca_fingerprint,
                ensured.ca_created,
            );
            (
                lifeline_certs::load_certs(&files.cert)?,
                lifeline_certs::load_key(&files.key)?,
                Some(note),
            )
        }
    };
    let mut config = RelayConfig::new(dir.clone());
    config.code_ttl = s.code_ttl;
    config.resume_window = s.resume_window;
    config.confirm_every = s.confirm_every;
    config.confirm_answer_within = s.confirm_answer_within;
    config.throttle_burst = s.throttle_burst;
    config.max_waiting_hosts = s.max_waiting_hosts;
    config.max_connections = s.max_connections;
    config.record_keys = s.record_keys;
    config.audit_export = s.audit_export.clone();
    config.recording_retention =
        (!s.recording_retention.is_zero()).then_some(s.recording_retention);
    config.recording = s.recording.map(|r| match r {
        RecordingArg::Required => RecordingMode::Required,
        RecordingArg::Optional => RecordingMode::Optional,
        RecordingArg::Off => RecordingMode::Off,
    });
    let auditors = AuditorStore::in_dir(dir).list()?;
    if config.recording.is_some_and(|m| m != RecordingMode::Off) && auditors.is_empty() {
        bail!(
            "--recording needs an auditor to record for: make a key with `lifeline-relay auditor keygen --out FILE` and add it with `lifeline-relay auditor add NAME --public-key FILE`"
        );
    }

    if s.database.is_some() && (s.console.is_some() || s.audit_export.is_some()) {
        bail!(
            "--console and --audit-export read the data directory's audit log; with --database the log is the cluster's, which they do not read yet: run them without --database, or read the log with `lifeline-relay audit verify --database URL`"
        );
    }
    lifeline_common::logging::init("warn");

    let console_tls = match s.console {
        Some(_) => Some(lifeline_relay::console::tls_config(
            chain.clone(),
            key.clone_key(),
        )?),
        None => None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let server = tls::server_config(chain, key, Duration::from_secs(10))?;
        let endpoint = tls::endpoint(s.listen, Some(server))
            .with_context(|| format!("cannot listen on UDP {}", s.listen))?;
        let local = endpoint.local_addr()?;
        let relay = match &s.database {
            None => Relay::open(config)?,
            Some(url) => join_cluster(&s, url, local, config).await?,
        };
        println!("Lifeline relay listening on {local} (UDP, QUIC)");
        if let Some(c) = relay.cluster() {
            println!(
                "Cluster: relay {}, links from other relays on {} (UDP, mutual TLS)",
                c.node,
                c.link_local_addr()?
            );
        }
        match ca_note {
            Some((ca, fp, created)) => {
                let what = if created { "created" } else { "existing" };
                println!("CA certificate ({what}): {}", ca.display());
                println!("CA SHA-256 fingerprint: {fp}");
                println!(
                    "Give hosts and viewers that file (--ca) and check its fingerprint when you do."
                );
            }
            None => println!(
                "Using the certificate from --cert; clients need no --ca if a public CA issued it."
            ),
        }
        let stop_console = tokio_util::sync::CancellationToken::new();
        if let (Some(addr), Some(tls)) = (s.console, console_tls) {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on TCP {addr} for the console"))?;
            let at = listener.local_addr()?;
            println!("Console: https://{at}/ (accounts: lifeline-relay console-user add NAME --role auditor|admin)");
            let console = lifeline_relay::console::Console::new(relay.clone());
            let stop = stop_console.clone();
            tokio::spawn(lifeline_relay::console::serve(
                listener,
                tls,
                console,
                async move { stop.cancelled().await },
            ));
        }
        match &s.database {
            Some(url) => println!(
                "Audit log: the cluster's database {}",
                lifeline_relay::cluster::db::redact(url)
            ),
            None => println!("Audit log: {}", audit::log_path(&s.dir.data_dir).display()),
        }
        // The console stops first: nothing it does follows the relay's stop record.
        let shutdown = async move {
            shutdown_signal().await;
            stop_console.cancel();
        };
        lifeline_relay::run(endpoint, relay, shutdown).await?;
        eprintln!("lifeline-relay: stopped");
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGINT or SIGTERM.
/// Joins the cluster in `url`: this data directory's node id, links on
/// `--link` (default: the relay's port + 1), filed with its address.
async fn join_cluster(
    s: &Serve,
    url: &str,
    local: SocketAddr,
    config: RelayConfig,
) -> anyhow::Result<std::sync::Arc<Relay>> {
    use lifeline_relay::cluster::{Cluster, Db, Timing, node_id};
    let link = s.link.unwrap_or_else(|| {
        let port = if local.port() == 0 {
            0
        } else {
            local.port().wrapping_add(1)
        };
        SocketAddr::new(local.ip(), port)
    });
    let timing = Timing {
        node_timeout: s.node_timeout,
        ..Timing::default()
    };
    let addr = match &s.advertise {
        Some(a) => a.clone(),
        None if local.ip().is_unspecified() => bail!(
            "with --database and --listen on every interface, pass --advertise HOST:PORT: where hosts reach this relay (a name its certificate carries)"
        ),
        None => local.to_string(),
    };
    if link.ip().is_unspecified() && s.link_advertise.is_none() {
        bail!(
            "the link listens on every interface ({link}): pass --link-advertise HOST:PORT, where the other relays reach this one"
        );
    }
    let db = Db::open(url).await?;
    let node = node_id(&s.dir.data_dir)?;
    let cluster = Cluster::join(
        db,
        node.clone(),
        addr,
        link,
        s.link_advertise.clone(),
        timing,
    )
    .await?;
    Ok(Relay::open_in_cluster(config, cluster).await?)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    r = tokio::signal::ctrl_c() => if let Err(e) = r { eprintln!("lifeline-relay: cannot watch Ctrl+C: {e}") },
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                eprintln!("lifeline-relay: cannot watch SIGTERM: {e}");
                if let Err(e) = tokio::signal::ctrl_c().await {
                    eprintln!("lifeline-relay: cannot watch Ctrl+C: {e}");
                }
            }
        }
    }
    #[cfg(not(unix))]
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("lifeline-relay: cannot watch Ctrl+C: {e}");
    }
}

fn audit_cmd(a: Audit) -> anyhow::Result<ExitCode> {
    match a {
        Audit::Verify {
            db: Database {
                database: Some(url),
            },
            ..
        } => cli_cluster::verify(&url),
        Audit::Verify { dir, .. } => {
            let found = lifeline_relay::integrity::check(&dir.data_dir);
            if let Some(why) = &found.chain {
                println!("audit log FAILED verification: {why}");
                return Ok(ExitCode::FAILURE);
            }
            println!(
                "audit log intact: {} records ({})",
                found.records,
                audit::log_path(&dir.data_dir).display()
            );
            for why in &found.bad_recordings {
                println!("recording FAILED verification: {why}");
            }
            if !found.bad_recordings.is_empty() {
                return Ok(ExitCode::FAILURE);
            }
            if found.recordings > 0 {
                println!("recordings intact: {}", found.recordings);
            }
            Ok(ExitCode::SUCCESS)
        }
        Audit::List {
            dir,
            json,
            suspicious: true,
        } => {
            let recs = records(&dir.data_dir)?;
            let found = lifeline_relay::report::suspicious(&recs);
            if found.is_empty() && !json {
                println!("no technician failed on more than one code");
            }
            for s in found {
                if json {
                    println!("{}", serde_json::to_string(&s)?);
                } else {
                    println!(
                        "{:<24} {} failed joins on {} different codes, suspended {} times, last {}",
                        s.technician, s.failed_joins, s.codes, s.suspensions, s.last
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Audit::List { dir, json, .. } => {
            let recs = records(&dir.data_dir)?;
            for s in summarize(&recs) {
                if json {
                    println!("{}", serde_json::to_string(&s)?);
                } else {
                    let dur = s
                        .duration_ms
                        .map_or("-".to_owned(), |d| format!("{}s", d / 1000));
                    let open = if s.interruptions > s.resumes {
                        "(interrupted: waiting for its sides to resume)"
                    } else {
                        "(open)"
                    };
                    let resumed = if s.resumes > 0 {
                        format!("  resumed {}x", s.resumes)
                    } else {
                        String::new()
                    };
                    println!(
                        "{}  {}  host={} user={} ({})  technician={}  mode={}  {}  {}{}",
                        s.session,
                        s.code_issued,
                        s.host_name,
                        s.os_user,
                        s.host_ip,
                        s.technician.as_deref().unwrap_or("-"),
                        s.mode.as_deref().unwrap_or("-"),
                        dur,
                        s.end_reason.as_deref().unwrap_or(open),
                        resumed,
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Audit::Show { session, dir, json } => {
            let path = audit::log_path(&dir.data_dir);
            let recs = records(&dir.data_dir)?;
            let text = if json {
                std::fs::read_to_string(&path)?
            } else {
                String::new()
            };
            let mut lines = text.lines();
            let mut found = 0;
            for r in &recs {
                let raw = lines.next();
                if r.event.session() == Some(session.as_str()) {
                    found += 1;
                    match (json, raw) {
                        (true, Some(raw)) => println!("{raw}"),
                        _ => println!("{}", describe(r)),
                    }
                }
            }
            if found == 0 {
                bail!(
                    "no records for session {session:?}; `lifeline-relay audit list` shows the sessions"
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The log's records; a log that fails verification is refused with the
/// reason, so nobody reads a forged history without knowing.
fn records(dir: &Path) -> anyhow::Result<Vec<Record>> {
    let recs = read_verified(dir)
        .context("the audit log failed verification; see `lifeline-relay audit verify`")?;
    Ok(recs.into_iter().map(|v| v.record).collect())
}
