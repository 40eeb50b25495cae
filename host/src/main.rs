//! `lifeline-host`: one command for the user who needs help.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use lifeline_common::SessionCode;
use lifeline_common::proto::{HostEvent, Mode, SessionReport};
use lifeline_common::session::MAX_SESSION_FRAME;
use lifeline_host::platform;
use lifeline_host::session::{SessionEnd, share};
use lifeline_host::ui::{Answer, Ui, parse_answer};
use lifeline_host::workers::{CaptureWorker, InputWorker};
use lifeline_relay::client::{ClientError, HostLink};
use lifeline_relay::control::{FramedRecv, FramedSend};
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
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LIFELINE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,enigo=error")),
        )
        .with_writer(std::io::stderr)
        .init();
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

fn os_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into())
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

fn new_code(locator: lifeline_common::Locator) -> anyhow::Result<SessionCode> {
    // The secret never leaves this machine except as typed by the technician.
    let secret = rand::rng().random_range(0..1_000_000);
    Ok(SessionCode::new(locator, secret)?)
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let ui = Ui { json: cli.json };
    // Fail on a missing display before bothering the relay or the user.
    let capture = CaptureWorker::start(platform::screen()).context("cannot capture the screen")?;
    let mut input = InputWorker::start(platform::input()).context("cannot apply input")?;
    let (mut link, reg) =
        HostLink::register(&cli.relay, cli.ca.as_deref(), &host_name(), &os_user()).await?;
    let mut code = new_code(reg.locator)?;
    ui.code(&code, reg.expires_in_s);
    let mut stdin = stdin_lines();
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot watch Ctrl+C");
            std::future::pending::<()>().await;
        }
    };
    tokio::pin!(ctrl_c);

    let mut expired = false;
    let technician = loop {
        tokio::select! {
            () = &mut ctrl_c => {
                link.end("cancelled by the user").await;
                ui.ended("cancelled by the user");
                return Ok(());
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
                HostEvent::Paired { technician, .. } => break technician,
            },
            line = stdin.recv(), if expired => match line {
                Some(_) => link.renew().await?,
                None => {
                    link.end("code expired").await;
                    ui.ended("code expired");
                    return Ok(());
                }
            },
        }
    };
    tracing::debug!(?code, "paired");

    let answer = match cli.allow {
        Some(Allow::View) => Answer::Allow(Mode::View),
        Some(Allow::Control) => Answer::Allow(Mode::Control),
        None => {
            ui.ask(&technician);
            loop {
                tokio::select! {
                    () = &mut ctrl_c => break Answer::Refuse,
                    line = stdin.recv() => match line.as_deref().map(parse_answer) {
                        Some(Some(a)) => break a,
                        Some(None) => ui.ask(&technician),
                        None => break Answer::Refuse,
                    },
                    closed = link.conn.closed() => {
                        let why = ClientError::from_connection(&closed).to_string();
                        ui.ended(&why);
                        return Ok(());
                    }
                }
            }
        }
    };
    let mode = match answer {
        Answer::Refuse => {
            link.report(SessionReport::Refused).await?;
            link.end("refused by the user").await;
            ui.ended("refused by the user");
            return Ok(());
        }
        Answer::Allow(mode) => mode,
    };
    link.report(SessionReport::ModeGranted(mode)).await?;
    let (send, recv) = link
        .conn
        .open_bi()
        .await
        .map_err(|e| ClientError::from_connection(&e))?;
    ui.joined(&technician, mode);
    let conn = link.conn.clone();
    let result = share(
        &conn,
        FramedSend::new(send, MAX_SESSION_FRAME),
        FramedRecv::new(recv, MAX_SESSION_FRAME),
        mode,
        &capture,
        &mut input,
        &mut ctrl_c,
    )
    .await;
    match result {
        Ok((SessionEnd::ByUser, stats)) => {
            tracing::info!(?stats, "session over");
            link.end("ended by the user").await;
            ui.ended("ended by the user");
            Ok(())
        }
        Ok((SessionEnd::Closed(reason), stats)) => {
            tracing::info!(?stats, "session over");
            ui.ended(&reason);
            Ok(())
        }
        Err(e) => {
            let reason = format!("the host failed: {e}");
            link.end(&reason).await;
            ui.ended(&reason);
            Err(e.into())
        }
    }
}
