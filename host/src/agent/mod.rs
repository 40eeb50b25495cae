//! The host agent's whole life, as a library: register with the relay,
//! show the code, wait for a technician, prove the code end to end, then
//! drive a [`HostSession`] with the real streams, the capture thread and
//! the input thread. The binary only parses options and calls [`run`].
//!
//! - `lobby`: registration, the code shown, waiting for a technician
//!   (new codes, a code moved off a draining relay);
//! - `driver`: the thin async driver that runs a [`HostSession`] over the
//!   real streams and workers, reconnecting when the link is lost; every
//!   decision (consent, view-only, flow control, whole frames) is the
//!   session's, and what a typed line means is [`crate::prompt`]'s;
//! - `recording`: the session's recording on its way to the relay;
//! - `context`: what they all work with (the configuration, the desktop,
//!   the user's lines, the user interface, errors).

use std::future::Future;
use std::time::{Duration, Instant};

use lifeline_net::client::{ClientError, HostLink};
use lifeline_net::secure::{SecureError, Secured, handshake};
use lifeline_proto::SessionCode;
use lifeline_proto::control::SessionReport;
use lifeline_session::e2e::{E2eError, Side};

use crate::guesses::{AfterWrong, WrongCodes};
use crate::prompt::Said;
use crate::receipt;
use crate::session::HostSession;
use crate::ui::Ui;
use crate::words;

mod context;
mod device;
mod driver;
mod lobby;
mod recording;

pub use context::{AgentError, Desktop, HostConfig, Lines};
use context::{HANDSHAKE_TIMEOUT, Io};
pub use device::{DeviceCall, serve_call};
use driver::{Driven, Extras, Ticket, drive};
use lobby::{Paired, wait_for_technician};
use recording::Recording;

/// Runs the agent until a session ends, the user cancels (`stop`), or the
/// relay cannot be used. After a wrong code the user is asked whether to
/// get a new one (not sooner than a backoff, [`crate::guesses`]); the
/// last wrong code a run takes stops it ([`AgentError::WrongCodes`]), so a
/// hostile relay gets at most three guesses from one run.
pub async fn run(
    config: &HostConfig,
    ui: Ui,
    desktop: &mut Desktop,
    lines: &mut Lines,
    stop: impl Future<Output = ()>,
) -> Result<(), AgentError> {
    tokio::pin!(stop);
    let mut io = Io {
        ui,
        desktop,
        lines,
        stop,
    };
    let mut wrong = WrongCodes::default();
    loop {
        match serve_one(config, &mut io).await? {
            Outcome::Done => return Ok(()),
            Outcome::WrongCode => match wrong.wrong(Instant::now()) {
                AfterWrong::Stop => {
                    io.ui.ended(&words::too_many_wrong_codes(wrong.count()));
                    return Err(AgentError::WrongCodes(wrong.count()));
                }
                AfterWrong::Ask { left } => {
                    if !new_code_asked(&mut io, left, wrong.next_code_at()).await {
                        return Ok(());
                    }
                }
            },
        }
    }
}

/// After a wrong code: no code is offered until the user asks for a new
/// one, and then not before `not_before`; `false` when the user gave up.
async fn new_code_asked<S: Future<Output = ()>>(
    io: &mut Io<'_, S>,
    left: u32,
    not_before: Option<Instant>,
) -> bool {
    io.lines.fresh();
    io.ui.wrong_code(left);
    loop {
        tokio::select! {
            () = io.stop.as_mut() => {
                io.ui.ended(words::CANCELLED_BY_USER);
                return false;
            }
            said = io.lines.recv() => match said {
                Some(Said::NewCode | Said::Line(_)) => break,
                Some(_) => {}
                None => {
                    io.ui.ended(words::WRONG_CODE_ENDED);
                    return false;
                }
            },
        }
    }
    let Some(at) = not_before.filter(|&at| at > Instant::now()) else {
        return true;
    };
    let wait = at.saturating_duration_since(Instant::now());
    io.ui
        .new_code_in(wait.as_secs() + u64::from(wait.subsec_nanos() > 0));
    tokio::select! {
        () = io.stop.as_mut() => {
            io.ui.ended(words::CANCELLED_BY_USER);
            false
        }
        () = tokio::time::sleep_until(tokio::time::Instant::from_std(at)) => true,
    }
}

/// How one code's life ended.
enum Outcome {
    /// The program is done (session over, refused, cancelled).
    Done,
    /// The technician typed a wrong code: start again with a fresh one.
    WrongCode,
}

/// One code, from registration to the end of its session.
async fn serve_one<S: Future<Output = ()>>(
    config: &HostConfig,
    io: &mut Io<'_, S>,
) -> Result<Outcome, AgentError> {
    let Some(paired) = wait_for_technician(config, io).await? else {
        return Ok(Outcome::Done);
    };
    let Paired {
        link,
        code,
        session,
        technician,
        policy,
    } = paired;
    let (link, secured) = match prove(link, &code, &session, io).await? {
        Ok(proved) => proved,
        Err(outcome) => return Ok(outcome),
    };
    let paired = Proved {
        session,
        logged: (technician.clone(), link.join_reason()),
        technician,
        policy,
        allow: config.allow,
        answer_within: None,
    };
    serve_paired(config, io, link, secured, paired).await?;
    Ok(Outcome::Done)
}

/// A session both sides proved, by a code or a device's handshake.
struct Proved {
    session: String,
    /// As the user is told.
    technician: String,
    /// The technician and reason as the relay logged them (its `Paired`
    /// and `JoinReason`, or a device's handshake for the reason), for
    /// the receipt that is checked against that log.
    logged: (String, Option<String>),
    policy: Option<lifeline_proto::control::SessionPolicy>,
    /// The consent question answered in advance.
    allow: Option<lifeline_proto::control::Mode>,
    /// How long the question waits, when not the usual time.
    answer_within: Option<Duration>,
}

/// Runs a proved session to its end: the recording, the resume ticket,
/// the [`HostSession`] driven over the streams.
async fn serve_paired<S: Future<Output = ()>>(
    config: &HostConfig,
    io: &mut Io<'_, S>,
    mut link: HostLink,
    secured: Secured,
    proved: Proved,
) -> Result<(), AgentError> {
    let Secured {
        send,
        recv,
        resume,
        files,
    } = secured;
    let Proved {
        session,
        technician,
        logged,
        policy,
        allow,
        answer_within,
    } = proved;
    let recording = match policy.as_ref().and_then(|p| p.recording.as_ref()) {
        Some(rp) => Some(Recording::start(&session, rp, io)?),
        None => None,
    };
    let about = receipt::About {
        session: session.clone(),
        technician: logged.0,
        reason: logged.1,
        relay: config.relay.clone(),
        recorded_for: policy
            .as_ref()
            .and_then(|p| p.recording.as_ref())
            .map(|r| r.auditors.iter().map(|a| a.name.clone()).collect())
            .unwrap_or_default(),
        keys_recorded: policy
            .as_ref()
            .and_then(|p| p.recording.as_ref())
            .is_some_and(|r| r.keys),
    };
    let ticket = (!config.resume_window.is_zero()).then_some(Ticket {
        session,
        secret: resume,
        window: config.resume_window,
    });
    if let Some(t) = &ticket {
        let hash = t.secret.hash();
        link.report(SessionReport::ResumeTicket { hash }).await?;
    }
    let rtt = link.conn.rtt();
    let now = Instant::now();
    let mut session = HostSession::with_path_rtt(&technician, allow, now, rtt);
    if let Some(within) = answer_within {
        session = session.answer_within(within);
    }
    if let Some(p) = &policy {
        let every = Duration::from_secs(u64::from(p.confirm_every_s));
        let within = Duration::from_secs(u64::from(p.answer_within_s));
        session = session.confirm_every(every, within, now);
    }
    let streams = (send, recv);
    let extras = Extras {
        ticket: ticket.as_ref(),
        files,
        config,
        recording,
    };
    let Driven {
        ending,
        mut stats,
        recording,
        receipt: mut log,
    } = drive(session, &mut link, streams, extras, io).await?;
    let video = io.desktop.capture.take_video_stats();
    stats.video_frames = video.frames;
    stats.video_encode_ms = video.encode_ms.round() as u64;
    tracing::info!(?ending, ?stats, "session over");
    if let Some(r) = recording {
        r.finish(ending.reason(), &mut link, io).await;
    }
    log.audited(link.take_audited());
    if ending.tell_relay() {
        link.end(ending.reason()).await;
    }
    io.ui.session_ended(ending.reason(), &stats);
    keep_receipt(config, log, about, ending.reason(), &io.ui);
    Ok(())
}

/// Writes the user's receipt of a session they shared (a question
/// refused or unanswered leaves none) and says where; a receipt that
/// cannot be written is said, and the run goes on.
fn keep_receipt(
    config: &HostConfig,
    log: receipt::Log,
    about: receipt::About,
    ending: &str,
    ui: &Ui,
) {
    if !log.shared() {
        return;
    }
    let r = log.finish(about, ending, std::time::SystemTime::now());
    match receipt::write(&config.receipts_dir, &r) {
        Ok(path) => ui.receipt(&path),
        Err(e) => ui.receipt_failed(&config.receipts_dir, &e),
    }
}

/// Proves both sides hold the same code before the user is even asked:
/// the sealed channel, or how this code's life ends (a wrong code, a
/// handshake that failed or took too long).
async fn prove<S>(
    mut link: HostLink,
    code: &SessionCode,
    session: &str,
    io: &mut Io<'_, S>,
) -> Result<Result<(HostLink, Secured), Outcome>, AgentError> {
    let (send, recv) = link
        .conn
        .open_bi()
        .await
        .map_err(|e| ClientError::from_connection(&e))?;
    let secured = tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        handshake(Side::Host, send, recv, code, session),
    )
    .await;
    let reason = match secured {
        Ok(Ok(secured)) => return Ok(Ok((link, secured))),
        Ok(Err(SecureError::E2e(E2eError::WrongCode))) => {
            // A wrong code whatever the relay makes of the report (the
            // viewer may have left already): it counts as a guess.
            if let Err(e) = link.report(SessionReport::SecretMismatch).await {
                tracing::info!(error = %e, "the wrong code was not reported");
            }
            link.end("wrong code").await;
            return Ok(Err(Outcome::WrongCode));
        }
        Ok(Err(e)) => format!("the secure connection failed: {}", explain(&link, e)),
        Err(_) => {
            "the technician's viewer did not complete the secure connection in time".to_owned()
        }
    };
    link.end(&reason).await;
    io.ui.ended(&reason);
    Ok(Err(Outcome::Done))
}

fn explain(link: &HostLink, e: SecureError) -> String {
    match e {
        SecureError::Stream(s) => ClientError::from_control(&link.conn, s).to_string(),
        other => other.to_string(),
    }
}
