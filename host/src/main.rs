//! `lifeline-host`: one command for the user who needs help. Parses the
//! options and runs [`lifeline_host::agent::run`].

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use lifeline_host::agent::{self, Desktop, HostConfig};
use lifeline_host::files::FetchPolicy;
use lifeline_host::ui::Ui;
use lifeline_host::{platform, whoami};
use lifeline_proto::control::Mode;
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
    /// When the connection to the relay is lost mid-session, keep trying
    /// to reconnect for this long (e.g. 2m, 30s; 0 ends the session).
    #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
    resume_window: std::time::Duration,
    /// May the technician copy files from this computer: yes, no, or ask
    /// each time.
    #[arg(long, value_enum, default_value_t = AllowFetch::Ask)]
    allow_fetch: AllowFetch,
    /// Where files from the technician are saved (default
    /// ~/Downloads/Lifeline); nothing there is ever overwritten.
    #[arg(long)]
    download_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum AllowFetch {
    Yes,
    No,
    Ask,
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

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = HostConfig {
        relay: cli.relay,
        ca: cli.ca,
        allow: cli.allow.map(|a| match a {
            Allow::View => Mode::View,
            Allow::Control => Mode::Control,
        }),
        host_name: whoami::host_name(),
        os_user: whoami::os_user(),
        resume_window: cli.resume_window,
        download_dir: cli
            .download_dir
            .unwrap_or_else(lifeline_host::files::default_dir),
        allow_fetch: match cli.allow_fetch {
            AllowFetch::Yes => FetchPolicy::Yes,
            AllowFetch::No => FetchPolicy::No,
            AllowFetch::Ask => FetchPolicy::Ask,
        },
    };
    // Fail on a missing display before bothering the relay or the user.
    let mut desktop = Desktop::open(platform::screen(), platform::input(), platform::clipboard())?;
    let mut lines = stdin_lines();
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot watch Ctrl+C");
            std::future::pending::<()>().await;
        }
    };
    let ui = Ui { json: cli.json };
    agent::run(&config, ui, &mut desktop, &mut lines, ctrl_c).await?;
    Ok(())
}
