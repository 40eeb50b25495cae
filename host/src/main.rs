//! `lifeline-host`: one command for the user who needs help. Parses the
//! options and runs [`lifeline_host::agent::run`].
// On Windows a windowed program: a double-click opens no console window
// (started from one, it prints there: see `lifeline_common::console`).
#![cfg_attr(windows, windows_subsystem = "windows")]

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use lifeline_host::agent::{self, AgentError, Desktop, HostConfig, Lines};
use lifeline_host::backend::{self, Backend};
use lifeline_host::config::{self, Builtin, Settings};
use lifeline_host::files::FetchPolicy;
use lifeline_host::guard::{OwnWindow, WindowPlace};
use lifeline_host::hidden::Privacy;
use lifeline_host::typed::{self, Fresh};
use lifeline_host::ui::{Notice, Ui};
use lifeline_host::whoami;
use lifeline_host::window;
use lifeline_proto::control::Mode;
use std::sync::Arc;
use tokio::sync::{Notify, mpsc};

#[derive(Parser, Debug)]
#[command(
    name = "lifeline-host",
    version,
    about = "Get help from a technician: shows a one-time code, asks you before anyone sees or controls your screen."
)]
struct Cli {
    /// The relay, HOST:PORT (your IT team tells you). Without it: the one
    /// saved with --save, else the one built into this program.
    #[arg(long)]
    relay: Option<String>,
    /// The relay's CA certificate (ca.pem), if your IT team runs its own.
    #[arg(long)]
    ca: Option<PathBuf>,
    /// Remember --relay and --ca in ~/.config/lifeline/host.toml, so next
    /// time no options are needed.
    #[arg(long)]
    save: bool,
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
    /// Where a receipt of each session you shared is written, for you to
    /// keep (default ~/Documents/Lifeline receipts); `lifeline-relay
    /// audit verify-receipt FILE` checks one against the relay's log.
    #[arg(long, env = "LIFELINE_RECEIPTS", value_name = "DIR")]
    receipts: Option<PathBuf>,
    /// Hide windows whose title contains PATTERN (any case) from the
    /// technician: blank in what they see and in the recording, no clicks
    /// or typing into them. Repeatable; the window also lists every open
    /// window to tick. X11 desktops and Windows (on Wayland this stops with why).
    #[arg(long, value_name = "PATTERN")]
    hide_window: Vec<String>,
    /// Stay in the terminal (the default with no display); otherwise a
    /// window opens.
    #[arg(long)]
    cli: bool,
    /// The desktop to share: x11, wlroots (sway, Hyprland, river) or
    /// portal (GNOME, KDE); by default, with WAYLAND_DISPLAY set, wlroots
    /// where the compositor has wlr-screencopy, else the portal; else X11.
    /// On Windows: dxgi (desktop duplication) or gdi; by default DXGI
    /// where the system offers it, else GDI.
    #[arg(long, value_enum)]
    backend: Option<BackendArg>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum BackendArg {
    X11,
    Portal,
    Wlroots,
    Dxgi,
    Gdi,
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

/// The whole command line, for the man pages and completions: the main
/// options and the subcommands parsed apart from them. Unix only: the
/// packages that carry them are Debian's.
#[cfg(unix)]
fn whole_command() -> clap::Command {
    use clap::CommandFactory as _;
    Cli::command()
        .subcommand(lifeline_host::enroll::EnrollCli::command().name("enroll"))
        .subcommand(lifeline_host::service::ServiceCli::command().name("service"))
        .subcommand(lifeline_host::service::AnswerCli::command().name("answer"))
}

fn main() -> ExitCode {
    lifeline_common::console::attach();
    #[cfg(unix)]
    lifeline_clidocs::write_if_asked(whole_command);
    if std::env::args_os().nth(1).is_some_and(|a| a == "enroll") {
        return enroll();
    }
    if std::env::args_os().nth(1).is_some_and(|a| a == "service") {
        return service();
    }
    if std::env::args_os().nth(1).is_some_and(|a| a == "answer") {
        return answer();
    }
    let cli = Cli::parse();
    backend::prepare();
    lifeline_common::logging::init("warn,enigo=error,zbus=error");
    let Some(rt) = runtime() else {
        return ExitCode::FAILURE;
    };
    let backend = backend_of(&cli);
    // Hiding asked for and impossible here: said before anything starts.
    let hiding = match backend::hiding(backend, cli.hide_window.clone()) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("lifeline-host: {e}");
            return ExitCode::FAILURE;
        }
    };
    let windowed = !cli.cli && backend::has_desktop();
    let result = if windowed {
        let listed = hiding.clone();
        with_window(&rt, listed, move |w| run(cli, backend, hiding, Some(w)))
    } else {
        rt.block_on(run(cli, backend, hiding, None))
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lifeline-host: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The runtime the agent runs on; `None` (said) when it cannot start.
fn runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => Some(rt),
        Err(e) => {
            eprintln!("lifeline-host: cannot start: {e}");
            None
        }
    }
}

/// The command line without its subcommand word (`enroll`, `service`),
/// for that subcommand's own parser.
fn sub_args() -> impl Iterator<Item = std::ffi::OsString> {
    std::env::args_os()
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, a)| a)
}

/// Runs `job` on a fresh runtime.
fn on_runtime<T>(job: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start")?
        .block_on(job)
}

/// `lifeline-host enroll …`: this machine becomes an enrolled device.
fn enroll() -> ExitCode {
    let cli = lifeline_host::enroll::EnrollCli::parse_from(sub_args());
    match on_runtime(lifeline_host::enroll::enroll(&cli, &whoami::host_name())) {
        Ok(said) => {
            println!("{said}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("lifeline-host: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `lifeline-host service …`: keeps an enrolled machine online; exit
/// status 2 when the relay no longer knows it (not worth restarting).
fn service() -> ExitCode {
    let cli = lifeline_host::service::ServiceCli::parse_from(sub_args());
    lifeline_common::logging::init("warn");
    match on_runtime(lifeline_host::service::run(&cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lifeline-host: {e:#}");
            if e.downcast_ref::<lifeline_host::service::ServiceError>()
                .is_some()
            {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// `lifeline-host answer …`: one call of the service, with the user's
/// window where there is a display.
fn answer() -> ExitCode {
    let cli = lifeline_host::service::AnswerCli::parse_from(sub_args());
    backend::prepare();
    lifeline_common::logging::init("warn,enigo=error,zbus=error");
    let Some(rt) = runtime() else {
        return ExitCode::FAILURE;
    };
    let backend = Backend::detect();
    let result = if !cli.cli && backend::has_desktop() {
        with_window(&rt, None, move |w| async move {
            let closer = w.notices.clone();
            let ui = Ui {
                json: cli.json,
                window: Some(w.notices),
                recording: None,
                own_window: window_place(backend, w.place),
            };
            let mut lines = w.lines;
            let stop = w.stop.clone();
            let stopped = async move { stop.notified().await };
            let result =
                lifeline_host::service::answer(&cli, (ui, &mut lines), backend, stopped).await;
            // Nobody may be at an enrolled machine to close the window:
            // it says how the session ended for a moment, then closes.
            if let Err(e) = &result {
                let _ = closer.send(Notice::Failed {
                    reason: format!("{e:#}"),
                });
            }
            tokio::time::sleep(std::time::Duration::from_secs(3)).await;
            let _ = closer.send(Notice::Close);
            result
        })
    } else {
        rt.block_on(async {
            let (tx, rx) = mpsc::unbounded_channel();
            let fresh = Fresh::default();
            typed::read_stdin(tx, fresh.clone());
            let mut lines = Lines::new(rx, fresh);
            let ui = Ui::terminal(cli.json);
            let stop = async {
                if tokio::signal::ctrl_c().await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            lifeline_host::service::answer(&cli, (ui, &mut lines), backend, stop).await
        })
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lifeline-host: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `job` (the agent, given the window's side of its I/O) on the
/// runtime and the window on this (the main) thread; closing the window
/// stops the agent, which then tells the relay.
fn with_window<F, Fut>(
    rt: &tokio::runtime::Runtime,
    hiding: Option<Privacy>,
    job: F,
) -> anyhow::Result<()>
where
    F: FnOnce(Window) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let (notice_tx, notices) = mpsc::unbounded_channel();
    let (said, rx) = mpsc::unbounded_channel();
    let stop = Arc::new(Notify::new());
    // Typed lines count too (a terminal the user started it from, a test).
    let fresh = Fresh::default();
    typed::read_stdin(said.clone(), fresh.clone());
    let place = Arc::new(WindowPlace::default());
    let window = Window {
        notices: notice_tx.clone(),
        lines: Lines::new(rx, fresh),
        stop: stop.clone(),
        place: place.clone(),
    };
    let agent = rt.spawn(async move {
        let result = job(window).await;
        if let Err(e) = &result {
            // The window says it too, for a user who never sees stderr
            // (the wrong codes it has said already).
            let said_already = e
                .downcast_ref::<AgentError>()
                .is_some_and(|e| matches!(e, AgentError::WrongCodes(_)));
            if !said_already {
                let _ = notice_tx.send(Notice::Failed {
                    reason: format!("{e:#}"),
                });
            }
        }
        result
    });
    let links = window::app::Links {
        notices,
        said,
        stop: stop.clone(),
        place,
        hiding,
    };
    let shown = window::app::run(links);
    stop.notify_one();
    let ended =
        rt.block_on(async { tokio::time::timeout(std::time::Duration::from_secs(3), agent).await });
    shown.map_err(anyhow::Error::msg)?;
    match ended {
        Ok(Ok(result)) => result,
        Ok(Err(e)) => Err(anyhow::anyhow!("the agent stopped: {e}")),
        Err(_) => Ok(()),
    }
}

/// The window's side of the agent's I/O.
struct Window {
    notices: mpsc::UnboundedSender<Notice>,
    lines: Lines,
    stop: Arc<Notify>,
    place: Arc<WindowPlace>,
}

/// The window's place for the guard, where it is in the coordinates
/// input is applied in: on X11. On Wayland the window (drawn through
/// XWayland) cannot tell where the compositor shows it, so the guard
/// treats its place as unknown and, while a question is open, drops every
/// remote click.
fn window_place(backend: Backend, place: Arc<WindowPlace>) -> Option<Arc<dyn OwnWindow>> {
    match backend {
        Backend::X11 => Some(place),
        // Windows: the window's place is in logical points of a screen
        // whose origin may be left of the primary monitor; rather than
        // trust that, it is treated as unknown, as on Wayland.
        Backend::Portal | Backend::Wlroots | Backend::Windows | Backend::Dxgi | Backend::Gdi => {
            None
        }
    }
}

/// The relay and trust to use, saving them first with `--save`.
fn settings(cli: &Cli) -> anyhow::Result<Settings> {
    let path = config::saved_path();
    if cli.save {
        let relay = cli
            .relay
            .as_deref()
            .context("--save remembers --relay (and --ca): give them with it")?;
        let path = path.as_deref().ok_or(config::ConfigError::NoHome)?;
        config::save(path, relay, cli.ca.as_deref())?;
        eprintln!(
            "Saved to {}: next time, just run lifeline-host.",
            path.display()
        );
    }
    let saved = match &path {
        Some(p) => config::load(p)?,
        None => None,
    };
    Ok(config::resolve(
        cli.relay.clone(),
        cli.ca.clone(),
        saved,
        Builtin::this(),
    )?)
}

/// The desktop to share: `--backend`, or the one detected.
fn backend_of(cli: &Cli) -> Backend {
    match cli.backend {
        Some(BackendArg::X11) => Backend::X11,
        Some(BackendArg::Portal) => Backend::Portal,
        Some(BackendArg::Wlroots) => Backend::Wlroots,
        Some(BackendArg::Dxgi) => Backend::Dxgi,
        Some(BackendArg::Gdi) => Backend::Gdi,
        None => Backend::detect(),
    }
}

async fn run(
    cli: Cli,
    backend: Backend,
    hiding: Option<Privacy>,
    window: Option<Window>,
) -> anyhow::Result<()> {
    let Settings { relay, trust } = settings(&cli)?;
    let config = HostConfig {
        relay,
        trust,
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
        receipts_dir: cli
            .receipts
            .unwrap_or_else(lifeline_host::receipt::default_dir),
    };
    // Fail on a missing display before bothering the relay or the user.
    let mut desktop = Desktop::for_backend(backend, hiding)?;
    let (ui, mut lines, stopped) = match window {
        Some(w) => {
            let ui = Ui {
                json: cli.json,
                window: Some(w.notices),
                recording: None,
                own_window: window_place(backend, w.place),
            };
            (ui, w.lines, Some(w.stop))
        }
        None => {
            let (tx, rx) = mpsc::unbounded_channel();
            let fresh = Fresh::default();
            typed::read_stdin(tx, fresh.clone());
            (Ui::terminal(cli.json), Lines::new(rx, fresh), None)
        }
    };
    let stop = async {
        let window_stop = async {
            match &stopped {
                Some(n) => n.notified().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = tokio::signal::ctrl_c() => {
                if let Err(e) = r {
                    tracing::error!(error = %e, "cannot watch Ctrl+C");
                    std::future::pending::<()>().await;
                }
            }
            () = window_stop => {}
        }
    };
    agent::run(&config, ui, &mut desktop, &mut lines, stop).await?;
    Ok(())
}
