//! `lifeline-relay serve`: the relay's certificate, its settings from
//! the command line, joining a cluster (`--database`), the console beside
//! it (`--console`), and stopping on SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use lifeline_common::tls;
use lifeline_relay_core::audit;
use lifeline_relay_core::recording::{AuditorStore, RecordingMode};
use lifeline_relay_core::{Relay, RelayConfig};

use crate::DataDir;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum RecordingArg {
    Required,
    Optional,
    Off,
}

/// `--log-format`: see [`lifeline_common::logging::LogFormat`].
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum LogFormatArg {
    /// The journal under systemd, else text.
    Auto,
    Text,
    /// One JSON object per line.
    Json,
    /// The journal, with its fields.
    Journal,
}

#[derive(Args, Debug)]
pub(crate) struct Serve {
    /// UDP address to listen on.
    #[arg(long, default_value = "0.0.0.0:4433")]
    listen: SocketAddr,
    /// How the log (stderr) is written: the journal's fields under
    /// systemd, else text (auto), or one JSON object per line.
    #[arg(long, value_enum, env = "LIFELINE_LOG_FORMAT", default_value = "auto")]
    log_format: LogFormatArg,
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
    /// How long a device session that needs a second person's approval
    /// waits for an approver in the console (e.g. 5m, 90s).
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    approval_within: Duration,
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
    /// Most connections one address (an IPv4 address, an IPv6 /64) may
    /// hold at once that are not in a session yet; more are refused,
    /// counted in the audit log (0: no cap). Sessions do not count: an
    /// office behind one NAT address is limited only while connecting.
    #[arg(long, default_value_t = 500)]
    max_connections_per_ip: usize,
    /// Most hosts at one address that may wait for a technician at once;
    /// new codes for an address are paced too (20 at once, then one every
    /// 3 s). 0: neither.
    #[arg(long, default_value_t = 200)]
    max_waiting_per_ip: usize,
    /// Most bytes of recording the relay stores for one session (4 GiB).
    /// Past it the recording stops, with one audit record, and the
    /// session ends if recording is required (else it goes on).
    #[arg(long, default_value_t = 4 << 30, value_parser = at_least_one)]
    max_recording_bytes_per_session: u64,
    /// Most recording chunks the relay stores for one session (262144:
    /// three days at the host's one a second); past it, as for
    /// --max-recording-bytes-per-session.
    #[arg(long, default_value_t = 1 << 18, value_parser = at_least_one)]
    max_recording_chunks_per_session: u64,
    /// Most reports (mode grants, refusals, transfers, each an audit
    /// record at most) host and viewer together may send in one session;
    /// the side that sends more ends the session.
    #[arg(long, default_value_t = 10_000, value_parser = at_least_one)]
    max_reports_per_session: u64,
    /// Record sessions for the auditors (`auditor add`): required (a
    /// session whose recording cannot be written ends), optional, or off.
    /// Default: required when an auditor exists, else off.
    #[arg(long, value_enum)]
    recording: Option<RecordingArg>,
    /// Recordings include keystrokes and typed text (the user is told).
    #[arg(long)]
    record_keys: bool,
    /// Refuse joins that give no reason (`lifeline-viewer --reason`, the
    /// Reason field of the window and the page): a ticket number or a
    /// few words, shown to the user and kept in the audit log. Device
    /// sessions follow their group's policy instead.
    #[arg(long)]
    require_reason: bool,
    /// Ship every audit record as it is written: syslog://HOST:PORT (RFC
    /// 5424 over TCP), syslog+udp://HOST:PORT, or stdout-json; each once,
    /// in order, going on after a restart where it stopped.
    #[arg(long)]
    audit_export: Option<lifeline_relay_core::export::ExportTarget>,
    /// Take enrolled devices' online links on this UDP address (e.g.
    /// 0.0.0.0:4435; a cluster's link takes --listen's port + 1), served
    /// by one thread that reads them in batches:
    /// cheaper for a relay holding thousands of idle devices. Devices
    /// coming online at --listen are sent here, to this port at the
    /// address they reached --listen at. Off by default: they stay online
    /// at --listen.
    #[arg(long)]
    devices_listen: Option<SocketAddr>,
    /// Serve the relay's metrics (Prometheus text format, /metrics) and
    /// health (/healthz, /readyz) on this TCP address over plain HTTP
    /// (e.g. 127.0.0.1:9433): bind it to an address only your monitoring
    /// reaches. Off by default.
    #[arg(long)]
    metrics: Option<SocketAddr>,
    /// Serve the web console for security staff on this TCP address
    /// (e.g. 127.0.0.1:8443), over HTTPS with the relay's certificate;
    /// accounts come from `console-user add`. Off by default.
    #[arg(long)]
    console: Option<SocketAddr>,
    /// Serve the browser viewer's page on this TCP address (e.g.
    /// 0.0.0.0:8444), over HTTPS with the relay's certificate; browsers
    /// then reach the relay with WebTransport on its UDP port (--listen).
    /// Off by default.
    #[arg(long)]
    web: Option<SocketAddr>,
    /// The page's files (default: beside the binary, as `scripts/web
    /// build` leaves them, or LIFELINE_WEB_FILES).
    #[arg(long, requires = "web")]
    web_files: Option<PathBuf>,
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
    #[command(flatten)]
    oidc: crate::oidc_args::OidcArgs,
}

/// A session cap: a whole number, at least 1 (a cap of 0 would end every
/// session at its first report or chunk).
fn at_least_one(v: &str) -> Result<u64, String> {
    match v.parse::<u64>() {
        Ok(0) => Err("a session cap is at least 1".to_owned()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!(
            "a session cap is a whole number from 1 to {}",
            u64::MAX
        )),
    }
}

impl Serve {
    /// Where the relay keeps its state.
    pub(crate) fn data_dir(&self) -> &std::path::Path {
        &self.dir.data_dir
    }

    /// The cluster's database, with `--database`.
    pub(crate) fn database(&self) -> Option<&str> {
        self.database.as_deref()
    }
}

pub(crate) fn serve(s: Serve) -> anyhow::Result<ExitCode> {
    let dir = &s.dir.data_dir;
    lifeline_relay_core::private::private_dir(dir)
        .with_context(|| format!("cannot create data directory {}", dir.display()))?;
    let source = cert_source(&s);
    let loaded = crate::relay_cert::load(&source)?;
    let live = loaded.live.clone();
    let mut config = config_of(&s)?;
    let devices = s
        .devices_listen
        .map(|a| crate::devices_port::Port::bind(a, live.clone()))
        .transpose()?;
    config.devices_port = devices.as_ref().map(|d| d.port()).transpose()?;
    lifeline_common::logging::init_as("warn", log_format(s.log_format));

    let web_cert = match s.web {
        Some(_) => Some(crate::web::cert(
            s.cert.as_ref().map(|_| &live),
            cert_names(&s),
        )?),
        None => None,
    };
    // The console and the page share one HTTPS configuration: the same
    // certificate, HTTP/1.1.
    let https = match s.web.or(s.console) {
        Some(_) => Some(lifeline_console::tls_config(live.resolver())?),
        None => None,
    };
    let web_tls = s.web.and(https.clone());
    let console_tls = s.console.and(https);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let devices_thread = rt.block_on(async move {
        let server = match &web_cert {
            Some(web) => {
                config.web_gate = Some(lifeline_gateway::Gate::start()?);
                tls::server_config_web(&live, web.clone(), Duration::from_secs(10))?
            }
            None => tls::server_config_live(&live, Duration::from_secs(10))?,
        };
        let reset_key = lifeline_relay_core::private::reset_key(&config.data_dir)
            .context("cannot keep the relay's reset key in its data directory")?;
        let endpoint = tls::endpoint_with_reset_key(s.listen, Some(server), &reset_key)
            .with_context(|| format!("cannot listen on UDP {}", s.listen))?;
        let local = endpoint.local_addr()?;
        let page = match &web_cert {
            Some(web) => Some(lifeline_gateway::Page::load(
                &crate::web::files_dir(s.web_files.as_deref()),
                local.port(),
                web.clone(),
            )?),
            None => None,
        };
        let provider = crate::oidc_args::provider(&s.oidc, s.database.is_some())?;
        if let Some(p) = &provider {
            config.sign_in = p.technicians.clone().map(|t| t as _);
        }
        let relay = match &s.database {
            None => Relay::open(config)?,
            Some(url) => join_cluster(&s, url, local, config).await?,
        };
        println!("Lifeline relay listening on {local} (UDP, QUIC)");
        let devices_thread = devices
            .map(|d| d.start(&reset_key, relay.clone()))
            .transpose()?;
        say_started(&relay, &loaded)?;
        let counted = relay.clone();
        crate::relay_cert::watch(source, &loaded, move |t| {
            counted.metrics().set_certificate_not_after(t);
        })?;
        let stop_console = tokio_util::sync::CancellationToken::new();
        if let (Some(addr), Some(tls)) = (s.console, console_tls) {
            let oidc = provider.as_ref().map(|p| p.oidc.clone());
            start_console(addr, tls, (&relay, oidc), stop_console.clone()).await?;
        }
        if let Some(addr) = s.metrics {
            start_metrics(addr, &relay).await?;
        }
        if let (Some(addr), Some(tls), Some(page)) = (s.web, web_tls, page) {
            crate::web::start(addr, page, tls, stop_console.clone()).await?;
        }
        print_audit_log(&s);
        // The console stops first: nothing it does follows the relay's stop record.
        let shutdown = async move {
            shutdown_signal().await;
            stop_console.cancel();
        };
        lifeline_relay_core::run(endpoint, relay, shutdown).await?;
        Ok::<_, anyhow::Error>(devices_thread)
    })?;
    crate::devices_port::join(devices_thread);
    eprintln!("lifeline-relay: stopped");
    Ok(ExitCode::SUCCESS)
}

fn log_format(f: LogFormatArg) -> lifeline_common::logging::LogFormat {
    use lifeline_common::logging::LogFormat;
    match f {
        LogFormatArg::Auto => LogFormat::Auto,
        LogFormatArg::Text => LogFormat::Text,
        LogFormatArg::Json => LogFormat::Json,
        LogFormatArg::Journal => LogFormat::Journal,
    }
}

/// `--cert`/`--key` when given, else the relay's own CA and certificate
/// (made on first start) for localhost, this machine and `--name`s.
pub(crate) fn cert_source(s: &Serve) -> crate::relay_cert::Source {
    match (&s.cert, &s.key) {
        (Some(cert), Some(key)) => crate::relay_cert::Source::Files {
            cert: cert.clone(),
            key: key.clone(),
        },
        _ => crate::relay_cert::Source::OwnCa {
            dir: s.dir.data_dir.clone(),
            names: cert_names(s),
        },
    }
}

/// The names the relay's own certificates carry: localhost, this
/// machine's, the listening address and `--name`s.
fn cert_names(s: &Serve) -> Vec<String> {
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
    names
}

/// The relay's settings from the command line; recording needs an auditor.
pub(crate) fn config_of(s: &Serve) -> anyhow::Result<RelayConfig> {
    if s.database.is_some() && (s.console.is_some() || s.audit_export.is_some()) {
        bail!(
            "--console and --audit-export read the data directory's audit log; with --database the log is the cluster's, which they do not read yet: run them without --database, or read the log with `lifeline-relay audit verify --database URL`"
        );
    }
    let dir = &s.dir.data_dir;
    let mut config = RelayConfig::new(dir.clone());
    config.code_ttl = s.code_ttl;
    config.resume_window = s.resume_window;
    config.confirm_every = s.confirm_every;
    config.confirm_answer_within = s.confirm_answer_within;
    config.approval_within = s.approval_within;
    config.throttle_burst = s.throttle_burst;
    config.max_waiting_hosts = s.max_waiting_hosts;
    config.max_connections = s.max_connections;
    config.max_connections_per_ip = s.max_connections_per_ip;
    config.max_waiting_per_ip = s.max_waiting_per_ip;
    config.session_caps = session_caps(s);
    config.record_keys = s.record_keys;
    config.require_reason = s.require_reason;
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
    Ok(config)
}

/// What the relay stores for one session at most, from the command line.
fn session_caps(s: &Serve) -> lifeline_relay_core::rules::bridge::Caps {
    lifeline_relay_core::rules::bridge::Caps {
        recording_bytes: s.max_recording_bytes_per_session,
        recording_chunks: s.max_recording_chunks_per_session,
        reports: s.max_reports_per_session,
    }
}

/// Tells the operator where the audit log is.
fn print_audit_log(s: &Serve) {
    match &s.database {
        Some(url) => println!(
            "Audit log: the cluster's database {}",
            lifeline_relay_core::cluster::db::redact(url)
        ),
        None => println!("Audit log: {}", audit::log_path(&s.dir.data_dir).display()),
    }
}

/// Tells the operator about the cluster and the certificate once the
/// relay listens.
fn say_started(relay: &Relay, loaded: &crate::relay_cert::Loaded) -> anyhow::Result<()> {
    if let Some(c) = relay.cluster() {
        println!(
            "Cluster: relay {}, links from other relays on {} (UDP, mutual TLS)",
            c.node,
            c.link_local_addr()?
        );
    }
    print_ca_note(loaded.ca_note.clone());
    if loaded.reissued {
        println!("Certificate reissued by the relay's CA: it was due or lacked a name");
    }
    Ok(())
}

/// Tells the operator which CA clients need, or that `--cert` is used.
fn print_ca_note(ca_note: Option<(PathBuf, String, bool)>) {
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
}

/// Serves the metrics and health on `addr` for as long as the process
/// runs: through a shutdown, /readyz says the relay is shutting down.
async fn start_metrics(addr: SocketAddr, relay: &std::sync::Arc<Relay>) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on TCP {addr} for the metrics"))?;
    let at = listener.local_addr()?;
    println!("Metrics: http://{at}/metrics (health: /healthz, /readyz)");
    tokio::spawn(lifeline_console::metrics::serve(
        listener,
        relay.clone(),
        std::future::pending(),
    ));
    Ok(())
}

/// Serves the console on `addr` beside the relay, until `stop`.
async fn start_console(
    addr: SocketAddr,
    tls: std::sync::Arc<rustls::ServerConfig>,
    (relay, oidc): (
        &std::sync::Arc<Relay>,
        Option<std::sync::Arc<lifeline_console::oidc::Oidc>>,
    ),
    stop: tokio_util::sync::CancellationToken,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on TCP {addr} for the console"))?;
    let at = listener.local_addr()?;
    println!(
        "Console: https://{at}/ (accounts: lifeline-relay console-user add NAME --role auditor|admin|approver)"
    );
    if let Some(o) = &oidc {
        println!("Console sign-in: {} (and console accounts)", o.issuer());
    }
    let console = lifeline_console::Console::of_relay(relay, oidc);
    tokio::spawn(lifeline_console::serve(
        listener,
        tls,
        console,
        async move { stop.cancelled().await },
    ));
    Ok(())
}

/// Joins the cluster in `url`: this data directory's node id, links on
/// `--link` (default: the relay's port + 1), filed with its address.
async fn join_cluster(
    s: &Serve,
    url: &str,
    local: SocketAddr,
    config: RelayConfig,
) -> anyhow::Result<std::sync::Arc<Relay>> {
    use lifeline_relay_core::cluster::{Cluster, Db, Timing, node_id};
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

/// Resolves on SIGINT or SIGTERM.
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use lifeline_relay_core::rules::bridge::Caps;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: Serve,
    }

    fn caps(args: &[&str]) -> Result<Caps, clap::Error> {
        let cli = Cli::try_parse_from(["serve", "--data-dir", "/nonexistent"].iter().chain(args))?;
        Ok(session_caps(&cli.serve))
    }

    #[test]
    fn the_session_caps_default_to_the_relays_and_take_whole_numbers_from_one() {
        assert_eq!(caps(&[]).unwrap(), Caps::default());
        let set = caps(&[
            "--max-recording-bytes-per-session",
            "65536",
            "--max-recording-chunks-per-session",
            "8",
            "--max-reports-per-session",
            "1",
        ])
        .unwrap();
        let want = Caps {
            recording_bytes: 65536,
            recording_chunks: 8,
            reports: 1,
        };
        assert_eq!(set, want);
        for bad in ["0", "-1", "1.5", "4GiB", "99999999999999999999"] {
            let arg = format!("--max-reports-per-session={bad}");
            let e = caps(&[&arg]).unwrap_err();
            assert_eq!(
                e.kind(),
                clap::error::ErrorKind::ValueValidation,
                "{bad}: {e}"
            );
        }
    }
}
