//! `lifeline-relay auditor …` and `recording fetch`: the auditors whose
//! keys open session recordings, and audited copies of a recording.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use lifeline_proto::audit::AuditEvent;
use lifeline_relay_core::recording::{self, AuditorStore};

use crate::DataDir;
use crate::audited::{LogAt, admin, audit_cli};

#[derive(Subcommand, Debug)]
pub(crate) enum RecordingCmd {
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
pub(crate) enum AuditorCmd {
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

pub(crate) fn run(a: AuditorCmd) -> anyhow::Result<ExitCode> {
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

/// Copies a recording, audited first: by the running relay when there is
/// one (it holds the audit log), else straight into the log.
pub(crate) fn fetch(session: &str, out: &Path, dir: &Path) -> anyhow::Result<ExitCode> {
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
