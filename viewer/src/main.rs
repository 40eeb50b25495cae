//! `lifeline-viewer`: the technician's side.
// On Windows a windowed program: a double-click opens no console window
// (started from one, it prints there: see `lifeline_common::console`).
#![cfg_attr(windows, windows_subsystem = "windows")]

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Parser;
use lifeline_proto::SessionCode;
use lifeline_session::messages::{Quality, Showing, Withheld};
use lifeline_viewer::script::{self, Done};
use lifeline_viewer::session::{Status, Target, Viewer};
use lifeline_viewer::shown::{shown, shown_json, shown_lines};
use lifeline_viewer::words;
use serde_json::json;

#[derive(Parser, Debug)]
#[command(
    name = "lifeline-viewer",
    version,
    about = "See and control a Lifeline host, by the code its user reads to you."
)]
struct Cli {
    /// The relay, HOST:PORT. The window asks for it when it is not given
    /// (so the desktop's menu entry opens a form); --headless needs it.
    #[arg(long, default_value = "", hide_default_value = true)]
    relay: String,
    /// The relay's CA certificate (ca.pem), if it runs its own.
    #[arg(long)]
    ca: Option<PathBuf>,
    /// Your technician token (from `lifeline-relay technician add`); else
    /// $LIFELINE_TOKEN, else the file ~/.config/lifeline/token. Other users
    /// of this machine can see a token given here (in `ps`): prefer
    /// --token-file.
    #[arg(long, env = "LIFELINE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Read your technician token from this file (its only line); the file
    /// must be yours alone (chmod 600), else it is refused. Takes
    /// precedence over --token and $LIFELINE_TOKEN.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// The 12-digit code the user reads out (dashes and spaces allowed).
    #[arg(long, conflicts_with = "device")]
    code: Option<String>,
    /// An enrolled device to connect to, by its name in `lifeline-viewer
    /// devices` (your unattended key and certificate are used).
    #[arg(long)]
    device: Option<String>,
    /// Why you connect (a ticket number or a few words, one line, at
    /// most 256 characters): shown to the user in their question and
    /// written to the audit log. Relays started with --require-reason
    /// and unattended devices' groups require it.
    #[arg(long, default_value = "")]
    reason: String,
    /// Your unattended folder (default ~/.config/lifeline/unattended).
    #[arg(long, requires = "device")]
    unattended_dir: Option<PathBuf>,
    /// Run without a window, following --script.
    #[arg(long, requires = "script")]
    headless: bool,
    /// Commands to run, one a line: wait-frame, wait-resumed (until a lost
    /// link is back), screenshot PATH.png, move X Y,
    /// click [left|right|middle], type TEXT, key NAME, sleep MS,
    /// clipboard-set TEXT, clipboard-get PATH, chat TEXT, put PATH,
    /// get REMOTE LOCAL, quit.
    #[arg(long)]
    script: Option<PathBuf>,
    /// Print one JSON object a line.
    #[arg(long)]
    json: bool,
    /// When the link is short: auto (follow it), speed (fluid first),
    /// balanced (sharp once still), exact (never approximate).
    #[arg(long, value_enum, default_value_t = QualityArg::Auto)]
    quality: QualityArg,
    /// When the connection to the relay is lost mid-session, keep trying
    /// to reconnect for this long (e.g. 2m, 30s; 0 ends the session).
    #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
    resume_window: std::time::Duration,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum QualityArg {
    Auto,
    Speed,
    Balanced,
    Exact,
}

impl From<QualityArg> for Quality {
    fn from(q: QualityArg) -> Self {
        match q {
            QualityArg::Auto => Quality::Auto,
            QualityArg::Speed => Quality::Speed,
            QualityArg::Balanced => Quality::Balanced,
            QualityArg::Exact => Quality::Exact,
        }
    }
}

/// `lifeline-viewer play`: a session recording, with an auditor's key.
#[derive(Parser, Debug)]
#[command(
    name = "lifeline-viewer play",
    about = "Play a session recording back (an auditor's secret key opens it)."
)]
struct PlayCli {
    /// The recording (from the relay's recordings folder).
    recording: PathBuf,
    /// The auditor's secret key file (from `lifeline-relay auditor keygen`).
    #[arg(long)]
    identity: PathBuf,
    /// The moment to show, in seconds from the start.
    #[arg(long, requires = "screenshot")]
    at: Option<f64>,
    /// Write the screen at --at to this PNG file.
    #[arg(long, requires = "at")]
    screenshot: Option<PathBuf>,
    /// Write the whole recording as PNG frames into this folder
    /// (frame-000001.png, …).
    #[arg(long, conflicts_with = "at")]
    export_frames: Option<PathBuf>,
    /// Frames a second for --export-frames.
    #[arg(long, default_value_t = 2.0)]
    fps: f64,
    /// Print the timeline instead of opening the player window.
    #[arg(long)]
    timeline: bool,
    /// Print one JSON object a line (the timeline, as --timeline).
    #[arg(long)]
    json: bool,
}

fn play(cli: &PlayCli) -> anyhow::Result<ExitCode> {
    let p = lifeline_viewer::play::Playback::open(&cli.recording, &cli.identity)?;
    if let Some(d) = &p.damage {
        eprintln!("lifeline-viewer: the recording is damaged: {d}");
    }
    let secs = |ms: u64| ms as f64 / 1000.0;
    if let Some(dir) = &cli.export_frames {
        if !(cli.fps > 0.0 && cli.fps <= 60.0) {
            bail!("--fps takes 0 to 60 frames a second, e.g. --fps 2");
        }
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let mut n = 0u64;
        let written = p.frames(cli.fps, |_, img| {
            n += 1;
            let path = dir.join(format!("frame-{n:06}.png"));
            lifeline_viewer::session::save_png(img, &path)
        })?;
        if cli.json {
            println!(
                "{}",
                json!({"event": "frames", "count": written, "dir": dir})
            );
        } else {
            println!("Wrote {written} frames to {}", dir.display());
        }
        return Ok(if p.damage.is_some() {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        });
    }
    let display = std::env::var_os("DISPLAY").is_some_and(|d| !d.is_empty())
        || std::env::var_os("WAYLAND_DISPLAY").is_some_and(|d| !d.is_empty());
    if cli.at.is_none() && !cli.timeline && !cli.json && display {
        let damaged = p.damage.is_some();
        lifeline_viewer::player::run(p).map_err(anyhow::Error::msg)?;
        return Ok(if damaged {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        });
    }
    match (cli.at, &cli.screenshot) {
        (Some(at), Some(out)) => {
            if !at.is_finite() || at < 0.0 {
                bail!("--at takes seconds from the start, e.g. --at 12.5");
            }
            let img = p.screen_at((at * 1000.0) as u64)?;
            lifeline_viewer::session::save_png(&img, out)?;
            if cli.json {
                println!("{}", json!({"event": "screenshot", "at": at, "path": out}));
            } else {
                println!("Saved the screen at {at:.1} s to {}", out.display());
            }
        }
        _ => {
            // The header's fields are the host's recorder's words.
            let h = &p.header;
            let session = shown(&h.session);
            let names: Vec<String> = h.stanzas.iter().map(|s| shown(&s.name).into()).collect();
            if cli.json {
                let recording = json!({"event": "recording", "session": session, "auditors": names, "duration_s": secs(p.duration_ms()), "damage": p.damage});
                println!("{}", shown_json(recording));
                for (at, note) in p.timeline() {
                    let note = shown(&note);
                    println!("{}", json!({"event": "note", "at": secs(at), "note": note}));
                }
            } else {
                println!(
                    "Session {} recorded for {}: {:.1} s",
                    session,
                    names.join(", "),
                    secs(p.duration_ms())
                );
                for (at, note) in p.timeline() {
                    println!("{:>9.1} s  {}", secs(at), shown(&note));
                }
                println!("(--at SECONDS --screenshot OUT.png saves the screen at a moment)");
            }
        }
    }
    Ok(if p.damage.is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The whole command line, for the man pages and completions: the main
/// options and the subcommands parsed apart from them. Unix only: the
/// packages that carry them are Debian's.
#[cfg(unix)]
fn whole_command() -> clap::Command {
    use clap::CommandFactory as _;
    Cli::command()
        .subcommand(PlayCli::command().name("play"))
        .subcommand(lifeline_viewer::verify_web::VerifyCli::command().name("verify-web"))
        .subcommand(lifeline_viewer::devices::DevicesCli::command().name("devices"))
        .subcommand(lifeline_viewer::login::LoginCli::command().name("login"))
        .subcommand(lifeline_viewer::org::OrgCli::command().name("org"))
        .subcommand(lifeline_viewer::org::UnattendedCli::command().name("unattended"))
}

fn main() -> ExitCode {
    lifeline_common::console::attach();
    #[cfg(unix)]
    lifeline_clidocs::write_if_asked(whole_command);
    if std::env::args_os().nth(1).is_some_and(|a| a == "play") {
        let args = std::env::args_os()
            .enumerate()
            .filter(|(i, _)| *i != 1)
            .map(|(_, a)| a);
        let cli = PlayCli::parse_from(args);
        return match play(&cli) {
            Ok(code) => code,
            Err(e) => {
                said_error(cli.json, &e);
                ExitCode::FAILURE
            }
        };
    }
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == "verify-web")
    {
        let args = std::env::args_os()
            .enumerate()
            .filter(|(i, _)| *i != 1)
            .map(|(_, a)| a);
        let cli = lifeline_viewer::verify_web::VerifyCli::parse_from(args);
        return match lifeline_viewer::verify_web::verify(&cli) {
            Ok(code) => code,
            Err(e) => {
                said_error(false, &e);
                ExitCode::FAILURE
            }
        };
    }
    if let Some(code) = subcommand() {
        return code;
    }
    let cli = Cli::parse();
    lifeline_common::logging::init("warn,winit=error");
    let json = cli.json;
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start")
        .and_then(|rt| {
            if cli.headless {
                rt.block_on(run(cli))
            } else {
                window(&rt, cli)
            }
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            said_error(json, &e);
            ExitCode::FAILURE
        }
    }
}

/// `org` and `unattended`: the organisation's key and the technician's
/// own, for unattended access (see `lifeline_viewer::org`).
fn subcommand() -> Option<ExitCode> {
    let first = std::env::args_os().nth(1)?;
    let args = || {
        std::env::args_os()
            .enumerate()
            .filter(|(i, _)| *i != 1)
            .map(|(_, a)| a)
    };
    if first == "devices" || first == "login" {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("cannot start");
        let result = if first == "devices" {
            let cli = lifeline_viewer::devices::DevicesCli::parse_from(args());
            rt.and_then(|rt| rt.block_on(lifeline_viewer::devices::run(&cli)))
        } else {
            let cli = lifeline_viewer::login::LoginCli::parse_from(args());
            rt.and_then(|rt| rt.block_on(lifeline_viewer::login::run(&cli)))
        };
        return Some(result.unwrap_or_else(|e| {
            said_error(false, &e);
            ExitCode::FAILURE
        }));
    }
    let result = if first == "org" {
        lifeline_viewer::org::org(&lifeline_viewer::org::OrgCli::parse_from(args()))
    } else if first == "unattended" {
        lifeline_viewer::org::unattended(&lifeline_viewer::org::UnattendedCli::parse_from(args()))
    } else {
        return None;
    };
    Some(match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            said_error(false, &e);
            ExitCode::FAILURE
        }
    })
}

/// Says why the viewer stopped. The reason may carry a peer's words (the
/// host's refusal, the relay's close), so each sentence of the chain is
/// [`shown`] (one line each: a peer's line break cannot start a line that
/// reads as the viewer's own).
fn said_error(json: bool, e: &anyhow::Error) {
    let reason = e
        .chain()
        .map(|c| shown(&c.to_string()).into_owned())
        .collect::<Vec<_>>()
        .join(": ");
    if json {
        println!("{}", json!({"event": "error", "reason": reason}));
    }
    eprintln!("lifeline-viewer: {reason}");
}

/// The token from --token-file, --token, $LIFELINE_TOKEN or the default
/// token file.
fn token(cli: &Cli) -> anyhow::Result<Option<String>> {
    Ok(lifeline_viewer::token::find(
        cli.token_file.as_deref(),
        cli.token.as_deref(),
    )?)
}

const NO_TOKEN: &str = "no technician token: pass --token-file FILE (chmod 600) or --token, set LIFELINE_TOKEN, or put it in ~/.config/lifeline/token";

/// The window, on this (main) thread; the session runs on `rt`.
fn window(rt: &tokio::runtime::Runtime, cli: Cli) -> anyhow::Result<()> {
    // Windows always has its desktop; Linux needs X11 or Wayland.
    if !cfg!(windows)
        && std::env::var_os("DISPLAY").is_none()
        && std::env::var_os("WAYLAND_DISPLAY").is_none()
    {
        bail!(
            "no display for the window ($DISPLAY is not set); use --headless --script FILE to run without one"
        );
    }
    if let Some(code) = &cli.code {
        code.parse::<SessionCode>()
            .context("that code is not right")?;
    }
    // The window can take the token in its form, so none is needed here.
    let token = token(&cli)?.unwrap_or_default();
    lifeline_viewer::window::run(
        rt.handle().clone(),
        cli.relay,
        cli.ca,
        token,
        lifeline_viewer::window::Start {
            code: cli.code,
            reason: cli.reason.clone(),
            device: cli.device.map(|d| (d, cli.reason)),
            unattended_dir: cli.unattended_dir,
        },
        cli.quality.into(),
    )
    .map_err(anyhow::Error::msg)
}

/// Tells how far each transfer is, as it goes.
/// The user changed what the technician may do (took control back).
async fn say_modes(
    mut modes: tokio::sync::watch::Receiver<lifeline_proto::control::Mode>,
    say: impl Fn(serde_json::Value, String),
) {
    modes.borrow_and_update();
    while modes.changed().await.is_ok() {
        let m = *modes.borrow_and_update();
        let human = match m {
            lifeline_proto::control::Mode::View => {
                "The user switched to view only: input is no longer sent."
            }
            lifeline_proto::control::Mode::Control => "The user gave you control.",
        };
        say(json!({"event": "mode", "mode": m.as_str()}), human.into());
    }
}

/// The host's monitors, as `monitors` lists them or `monitor` switched.
fn say_screens(
    screens: &lifeline_viewer::monitors::Screens,
    switched: bool,
    say: impl Fn(serde_json::Value, String),
) {
    let list: Vec<_> = screens
        .monitors
        .iter()
        .enumerate()
        .map(|(i, m)| {
            json!({"number": i + 1, "name": m.name, "x": m.x, "y": m.y, "width": m.width, "height": m.height, "primary": m.primary, "shown": screens.is_shown(i)})
        })
        .collect();
    let one = match screens.showing {
        Showing::All => None,
        Showing::Monitor(i) => Some(usize::from(i)),
        Showing::Primary => screens.primary(),
    };
    let human = if switched {
        match one {
            None => "Showing all monitors".to_owned(),
            Some(i) => format!(
                "Showing monitor {}",
                screens.label(i).trim_end_matches(" (shown)")
            ),
        }
    } else {
        screens.lines().join("\n")
    };
    let event = if switched { "monitor" } else { "monitors" };
    let shown = one.map_or(json!("all"), |i| json!(i + 1));
    say(
        json!({"event": event, "monitors": list, "shown": shown}),
        human,
    );
}

async fn say_progress(
    mut progress: tokio::sync::watch::Receiver<Option<lifeline_session::files::Progress>>,
    say: impl Fn(serde_json::Value, String),
) {
    while progress.changed().await.is_ok() {
        let Some(p) = progress.borrow_and_update().clone() else {
            continue;
        };
        let pct = (p.bytes * 100).checked_div(p.of).unwrap_or(100);
        let direction = if p.to_host { "to_host" } else { "to_viewer" };
        say(
            json!({"event": "progress", "direction": direction, "name": p.name, "bytes": p.bytes, "of": p.of}),
            format!("{}: {pct}% ({} of {} bytes)", shown(&p.name), p.bytes, p.of),
        );
    }
}

/// Shows each message from the user as it comes.
async fn say_chats(
    mut chats: tokio::sync::broadcast::Receiver<String>,
    say: impl Fn(serde_json::Value, String),
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        match chats.recv().await {
            Ok(text) => say(
                json!({"event": "chat", "from": "user", "text": text}),
                format!("Message from the user: {}", shown(&text)),
            ),
            Err(RecvError::Lagged(n)) => say(
                json!({"event": "chat_lost", "count": n}),
                format!("({n} messages from the user were missed)"),
            ),
            Err(RecvError::Closed) => return,
        }
    }
}

/// Tells when the host's screen cannot be shown (a Windows security
/// prompt), and when it can again.
async fn say_withheld(
    mut withheld: tokio::sync::watch::Receiver<Option<Withheld>>,
    say: impl Fn(serde_json::Value, String),
) {
    while withheld.changed().await.is_ok() {
        let now = *withheld.borrow_and_update();
        let human = now.map_or(words::SHOWN_AGAIN, words::withheld);
        say(
            json!({"event": "withheld", "reason": now.map(Withheld::as_str)}),
            human.into(),
        );
    }
}

/// Tells how many parts of the screen the user hides, as it changes
/// (never what they hold: the host does not know to say).
async fn say_hidden(
    mut hidden: tokio::sync::watch::Receiver<Vec<lifeline_session::messages::HiddenBox>>,
    say: impl Fn(serde_json::Value, String),
) {
    let mut told = 0;
    while hidden.changed().await.is_ok() {
        let boxes = hidden.borrow_and_update().len();
        if boxes != told {
            told = boxes;
            say(
                json!({"event": "hidden", "boxes": boxes}),
                words::hidden(boxes),
            );
        }
    }
}

/// Tells of each lost link and each resume, as they happen.
async fn say_reconnects(
    mut reconnecting: tokio::sync::watch::Receiver<Option<String>>,
    say: impl Fn(serde_json::Value, String),
) {
    let mut since = None;
    while reconnecting.changed().await.is_ok() {
        let now = reconnecting.borrow_and_update().clone();
        match now {
            Some(reason) => {
                since = Some(std::time::Instant::now());
                say(
                    json!({"event": "reconnecting", "reason": reason}),
                    format!("Connection lost ({}); reconnecting…", shown(&reason)),
                );
            }
            None => {
                let ms = since.take().map_or(0, |t| t.elapsed().as_millis());
                say(
                    json!({"event": "resumed", "after_ms": ms}),
                    "Reconnected: the session goes on.".into(),
                );
            }
        }
    }
}

/// Says what a script command did (a screenshot saved, files or the
/// clipboard moved, monitors listed or switched).
fn say_done(done: Done, say: impl Fn(serde_json::Value, String) + Copy) {
    match done {
        Done::Saved(path) => say(
            json!({"event": "screenshot", "path": path}),
            format!("Saved {}", path.display()),
        ),
        Done::Put(files) => {
            for f in files {
                say(
                    json!({"event": "put", "path": f.path, "bytes": f.bytes, "sha256": hex::encode(f.sha256)}),
                    format!(
                        "Sent {} bytes; the user's computer saved it as {}",
                        f.bytes,
                        shown(&f.path)
                    ),
                );
            }
        }
        Done::Screens { screens, switched } => say_screens(&screens, switched, say),
        Done::Got(f) => say(
            json!({"event": "get", "path": f.path, "bytes": f.bytes, "sha256": hex::encode(f.sha256)}),
            format!("Fetched {} bytes into {}", f.bytes, f.path),
        ),
        Done::Clipboard {
            to_host,
            bytes,
            path,
        } => say(
            json!({"event": "clipboard", "direction": if to_host { "to_host" } else { "to_viewer" }, "bytes": bytes, "path": path}),
            match &path {
                Some(p) => format!(
                    "Saved the host's clipboard ({bytes} bytes) to {}",
                    p.display()
                ),
                None => format!("Put {bytes} bytes of text on the host's clipboard"),
            },
        ),
        Done::Nothing | Done::Quit => {}
    }
}

/// What `--headless` connects to: `--code`, or `--device` with the
/// technician's unattended key and certificate.
fn target(cli: &Cli) -> anyhow::Result<Target> {
    Ok(match (&cli.code, &cli.device) {
        (Some(code), _) => Target::Code {
            code: code.parse().context("that code is not right")?,
            reason: cli.reason.clone(),
        },
        (None, Some(name)) => Target::Device(Box::new(lifeline_viewer::org::device_target(
            &cli.unattended_dir,
            &cli.relay,
            name,
            &cli.reason,
        )?)),
        (None, None) => bail!(
            "--headless needs --code CODE (the 12 digits the user reads out) or --device NAME"
        ),
    })
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let Some(script_path) = &cli.script else {
        bail!("--headless needs --script FILE")
    };
    let text = std::fs::read_to_string(script_path)
        .with_context(|| format!("cannot read the script {}", script_path.display()))?;
    let commands = script::parse(&text)?;
    if cli.relay.is_empty() {
        bail!("--headless needs --relay HOST:PORT");
    }
    let target = target(&cli)?;
    let json = cli.json;
    // Everything printed goes through here: nothing a peer wrote reaches
    // the terminal with a control character in it.
    let say = move |value: serde_json::Value, human: String| {
        if json {
            println!("{}", shown_json(value));
        } else {
            eprintln!("{}", shown_lines(&human));
        }
    };
    let Some(token) = token(&cli)? else {
        bail!(NO_TOKEN)
    };
    let window = cli.resume_window;
    let (relay, ca) = (&cli.relay, cli.ca.as_deref());
    let viewer = Viewer::connect_to(relay, ca, &token, &target, window, |s| match s {
        Status::Connecting => say(json!({"event": "connecting"}), "Connecting…".into()),
        Status::WaitingForUser => say(
            json!({"event": "waiting"}),
            "Code accepted; waiting for the user to allow…".into(),
        ),
        Status::AwaitingApproval(within_s) => say(
            json!({"event": "awaiting_approval", "within_s": within_s}),
            format!("Waiting for an approver (at most {within_s} s)…"),
        ),
        Status::Sharing(_) | Status::Ended(_) => {}
    })
    .await?;
    if let Some(k) = &viewer.device_key {
        let human = if k.first_use {
            format!(
                "The device's key is {} (pinned now, on first use: compare it with your admin's list).",
                k.fingerprint
            )
        } else {
            format!("The device proved its pinned key {}.", k.fingerprint)
        };
        say(
            json!({"event": "device_key", "key": k.fingerprint, "first_use": k.first_use}),
            human,
        );
    }
    tokio::spawn(say_reconnects(viewer.reconnecting(), say));
    tokio::spawn(say_modes(viewer.modes(), say));
    tokio::spawn(say_chats(viewer.chats(), say));
    tokio::spawn(say_withheld(viewer.withheld(), say));
    tokio::spawn(say_hidden(viewer.hidden(), say));
    tokio::spawn(say_progress(viewer.progress(), say));
    viewer.set_quality(cli.quality.into()).await?;
    say(
        json!({"event": "joined", "session": viewer.link_session, "host": viewer.host_name, "user": viewer.os_user, "mode": viewer.mode().as_str()}),
        format!(
            "Connected to {} ({}): {}",
            shown(&viewer.host_name),
            shown(&viewer.os_user),
            match viewer.mode() {
                lifeline_proto::control::Mode::View => "view only",
                lifeline_proto::control::Mode::Control => "control",
            }
        ),
    );
    for (line, cmd) in &commands {
        match script::run(&viewer, cmd).await {
            Ok(Done::Nothing) => {}
            Ok(Done::Quit) => break,
            Ok(done) => say_done(done, say),
            Err(e) => {
                let reason = viewer.ended();
                if let Some(r) = &reason {
                    say(
                        json!({"event": "ended", "reason": r}),
                        format!("Session ended: {}", shown(r)),
                    );
                }
                viewer.disconnect("the technician's script failed").await;
                return Err(anyhow::anyhow!("line {line}: {e}"));
            }
        }
    }
    viewer.disconnect("disconnected by the technician").await;
    say(
        json!({"event": "ended", "reason": "disconnected by the technician"}),
        "Disconnected.".into(),
    );
    Ok(())
}
