//! `lifeline-relay audit …`: list sessions (or suspicious technicians),
//! show one session's records, verify the chain and the recordings.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use lifeline_proto::audit::Record;
use lifeline_relay_core::audit::{self, read_verified};
use lifeline_relay_core::report::{describe, summarize};

use crate::cli_cluster;
use crate::{DataDir, Database};

#[derive(Subcommand, Debug)]
pub(crate) enum Audit {
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
    /// Check a user's receipt of a session (written by lifeline-host when
    /// it ended) against the log: every record it names must be in the
    /// log, unchanged and of its session; exit 0 only then.
    VerifyReceipt {
        /// The receipt (`Lifeline receipt ….txt`).
        file: std::path::PathBuf,
        #[command(flatten)]
        dir: DataDir,
        #[command(flatten)]
        db: Database,
    },
}

pub(crate) fn run(a: Audit) -> anyhow::Result<ExitCode> {
    match a {
        Audit::Verify {
            db: Database {
                database: Some(url),
            },
            ..
        } => cli_cluster::verify(&url),
        Audit::Verify { dir, .. } => verify(&dir.data_dir),
        Audit::List {
            dir,
            json,
            suspicious: true,
        } => list_suspicious(&dir.data_dir, json),
        Audit::List { dir, json, .. } => list(&dir.data_dir, json),
        Audit::Show { session, dir, json } => show(&session, &dir.data_dir, json),
        Audit::VerifyReceipt { file, dir, db } => {
            crate::receipt::verify(&file, &dir.data_dir, db.database.as_deref())
        }
    }
}

/// `audit verify`: the chain, then every recording against it.
fn verify(dir: &Path) -> anyhow::Result<ExitCode> {
    let found = lifeline_relay_core::integrity::check(dir);
    if let Some(why) = &found.chain {
        println!("audit log FAILED verification: {why}");
        return Ok(ExitCode::FAILURE);
    }
    println!(
        "audit log intact: {} records ({})",
        found.records,
        audit::log_path(dir).display()
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

/// `audit list --suspicious`: technicians whose tokens failed on several codes.
fn list_suspicious(dir: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let recs = records(dir)?;
    let found = lifeline_relay_core::report::suspicious(&recs);
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

/// `audit list`: one line (or JSON object) a session.
fn list(dir: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let recs = records(dir)?;
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
                "{}  {}  host={} user={} ({})  technician={}{}  mode={}  {}  {}{}",
                s.session,
                s.code_issued,
                s.host_name,
                s.os_user,
                s.host_ip,
                s.technician.as_deref().unwrap_or("-"),
                s.viewer_kind
                    .map_or(String::new(), |k| format!(" ({})", k.as_str())),
                s.mode.as_deref().unwrap_or("-"),
                dur,
                s.end_reason.as_deref().unwrap_or(open),
                resumed,
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `audit show`: every record of one session, described or raw.
fn show(session: &str, dir: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let path = audit::log_path(dir);
    let recs = records(dir)?;
    let text = if json {
        std::fs::read_to_string(&path)?
    } else {
        String::new()
    };
    let mut lines = text.lines();
    let mut found = 0;
    for r in &recs {
        let raw = lines.next();
        if r.event.session() == Some(session) {
            found += 1;
            match (json, raw) {
                (true, Some(raw)) => println!("{raw}"),
                _ => println!("{}", describe(r)),
            }
        }
    }
    if found == 0 {
        bail!("no records for session {session:?}; `lifeline-relay audit list` shows the sessions");
    }
    Ok(ExitCode::SUCCESS)
}

/// The log's records; a log that fails verification is refused with the
/// reason, so nobody reads a forged history without knowing.
fn records(dir: &Path) -> anyhow::Result<Vec<Record>> {
    let recs = read_verified(dir)
        .context("the audit log failed verification; see `lifeline-relay audit verify`")?;
    Ok(recs.into_iter().map(|v| v.record).collect())
}
