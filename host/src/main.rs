//! `lifeline-host`: one command for the user who needs help.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use lifeline_host::platform;
use lifeline_host::session::{SessionEnd, share};
use lifeline_host::ui::{Answer, Ui, parse_answer};
use lifeline_host::workers::{CaptureWorker, InputWorker};
use lifeline_net::client::{ClientError, HostLink};
use lifeline_net::secure::{SecureError, handshake};
use lifeline_proto::SessionCode;
use lifeline_proto::control::{HostEvent, Mode, SessionReport};
use lifeline_session::e2e::{E2eError, Side};
use rand::Rng;
use tokio::sync::mpsc;

#[derive(Parser, Debug)]
#[command(
    name = "lifeline-host",
    version,
    about = "Get help from a technician: shows a one-time code, asks you before anyone sees or controls your screen."
)]
struct Cli {
    /// The relay, HOST:PORT (your IT team tells you).
    #[arg(long)]
    relay: String,
    /// The relay's CA certificate (ca.pem), if your IT team runs its own.
    #[arg(long)]
    ca: Option<PathBuf>,
    /// Answer the question in advance: view (see only) or control.
    #[arg(long, value_enum)]
    allow: Option<Allow>,
    /// Print one JSON object a line instead of sentences.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Allow {
    View,
    Control,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    lifeline_common::logging::init("warn,enigo=error");
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("lifeline-host: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lifeline-host: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

/// The OS account running the host, for the audit log: `$USER`, else the
/// password-file entry of our uid.
fn os_user() -> String {
    if let Ok(u) = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")) {
        return u;
    }
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|v| v.split_whitespace().next().map(str::to_owned))
        });
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    uid.and_then(|uid| {
        passwd.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.get(2) == Some(&uid.as_str())).then(|| f[0].to_owned())
        })
    })
    .unwrap_or_else(|| "unknown".into())
}

/// Lines typed at the terminal; closed at end of input.
fn stdin_lines() -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn new_code(locator: lifeline_proto::Locator) -> anyhow::Result<SessionCode> {
    // The secret never leaves this machine except as typed by the technician.
    let secret = rand::rng().random_range(0..1_000_000);
    Ok(SessionCode::new(locator, secret)?)
}

/// How one code's life ended.
enum Outcome {
    /// The program is done (session over, refused, cancelled).
    Done,
    /// The technician typed a wrong code: start again with a fresh one.
    WrongCode,
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let ui = Ui { json: cli.json };
    // Fail on a missing display before bothering the relay or the user.
    let capture = CaptureWorker::start(platform::screen()).context("cannot capture the screen")?;
    let mut input = InputWorker::start(platform::input()).context("cannot apply input")?;
    let mut stdin = stdin_lines();
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot watch Ctrl+C");
            std::future::pending::<()>().await;
        }
    };
    tokio::pin!(ctrl_c);
    let mut io = HostIo {
        ui,
        capture,
        input: &mut input,
        stdin: &mut stdin,
    };
    loop {
        match serve_one(&cli, &mut io, &mut ctrl_c).await? {
            Outcome::Done => return Ok(()),
            Outcome::WrongCode => ui.wrong_code(),
        }
    }
}

struct HostIo<'a> {
    ui: Ui,
    capture: CaptureWorker,
    input: &'a mut InputWorker,
    stdin: &'a mut mpsc::UnboundedReceiver<String>,
}

/// One code, from registration to the end of its session.
async fn serve_one(
    cli: &Cli,
    io: &mut HostIo<'_>,
    ctrl_c: &mut std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
) -> anyhow::Result<Outcome> {
    let ui = io.ui;
    let (mut link, reg) =
        HostLink::register(&cli.relay, cli.ca.as_deref(), &host_name(), &os_user()).await?;
    let mut code = new_code(reg.locator)?;
    ui.code(&code, reg.expires_in_s);

    let mut expired = false;
    let (session, technician) = loop {
        tokio::select! {
            () = ctrl_c.as_mut() => {
                link.end("cancelled by the user").await;
                ui.ended("cancelled by the user");
                return Ok(Outcome::Done);
            }
            ev = link.next_event() => match ev? {
                HostEvent::Registered { locator, expires_in_s, .. } => {
                    code = new_code(locator)?;
                    expired = false;
                    ui.code(&code, expires_in_s);
                }
                HostEvent::Expired => {
                    expired = true;
                    ui.expired();
                }
                HostEvent::Paired { session, technician } => break (session, technician),
            },
            line = io.stdin.recv(), if expired => match line {
                Some(_) => link.renew().await?,
                None => {
                    link.end("code expired").await;
                    ui.ended("code expired");
                    return Ok(Outcome::Done);
                }
            },
        }
    };

    // Prove both sides hold the same code before the user is even asked.
    let (send, recv) = link
        .conn
        .open_bi()
        .await
        .map_err(|e| ClientError::from_connection(&e))?;
    let handshake = handshake(Side::Host, send, recv, &code, &session);
    let (mut secure_send, secure_recv) = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake)
        .await
    {
        Ok(Ok(pair)) => pair,
        Ok(Err(SecureError::E2e(E2eError::WrongCode))) => {
            link.report(SessionReport::SecretMismatch).await?;
            link.end("wrong code").await;
            return Ok(Outcome::WrongCode);
        }
        Ok(Err(e)) => {
            let reason = format!("the secure connection failed: {}", explain(&link, e));
            link.end(&reason).await;
            ui.ended(&reason);
            return Ok(Outcome::Done);
        }
        Err(_) => {
            let reason = "the technician's viewer did not complete the secure connection in time";
            link.end(reason).await;
            ui.ended(reason);
            return Ok(Outcome::Done);
        }
    };

    let answer = match cli.allow {
        Some(Allow::View) => Answer::Allow(Mode::View),
        Some(Allow::Control) => Answer::Allow(Mode::Control),
        None => {
            ui.ask(&technician);
            loop {
                tokio::select! {
                    () = ctrl_c.as_mut() => break Answer::Refuse,
                    line = io.stdin.recv() => match line.as_deref().map(parse_answer) {
                        Some(Some(a)) => break a,
                        Some(None) => ui.ask(&technician),
                        None => break Answer::Refuse,
                    },
                    closed = link.conn.closed() => {
                        let why = ClientError::from_connection(&closed).to_string();
                        ui.ended(&why);
                        return Ok(Outcome::Done);
                    }
                }
            }
        }
    };
    let mode = match answer {
        Answer::Refuse => {
            link.report(SessionReport::Refused).await?;
            secure_send.finish();
            link.end("refused by the user").await;
            ui.ended("refused by the user");
            return Ok(Outcome::Done);
        }
        Answer::Allow(mode) => mode,
    };
    link.report(SessionReport::ModeGranted(mode)).await?;
    ui.joined(&technician, mode);
    let conn = link.conn.clone();
    let result = share(
        &conn,
        secure_send,
        secure_recv,
        mode,
        &io.capture,
        io.input,
        ctrl_c.as_mut(),
    )
    .await;
    match result {
        Ok((SessionEnd::ByUser, stats)) => {
            tracing::info!(?stats, "session over");
            link.end("ended by the user").await;
            ui.ended("ended by the user");
        }
        Ok((SessionEnd::Closed(reason), stats)) => {
            tracing::info!(?stats, "session over");
            ui.ended(&reason);
        }
        Err(e) => {
            let reason = format!("the host ended the session: {e}");
            link.end(&reason).await;
            ui.ended(&reason);
        }
    }
    Ok(Outcome::Done)
}

/// How long the viewer has to complete the key exchange.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

fn explain(link: &HostLink, e: SecureError) -> String {
    match e {
        SecureError::Stream(s) => ClientError::from_control(&link.conn, s).to_string(),
        other => other.to_string(),
    }
}
