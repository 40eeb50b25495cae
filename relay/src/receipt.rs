//! `lifeline-relay audit verify-receipt FILE`: a user's receipt of a
//! session against the audit log (the data directory's, or a cluster's
//! database). Every record the receipt names must be in the log, its
//! text unchanged and its hash the one the relay acknowledged to the host;
//! the chain of the whole log is said apart.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use lifeline_proto::receipt::{self, Receipt};
use lifeline_relay_core::audit;

pub(crate) fn verify(file: &Path, dir: &Path, database: Option<&str>) -> anyhow::Result<ExitCode> {
    let text = read_bounded(file)?;
    let r = Receipt::from_text(&text).with_context(|| format!("{}", file.display()))?;
    let (log, from) = match database {
        Some(url) => (
            crate::cli_cluster::read_log(url)?,
            format!("database {}", lifeline_relay_core::cluster::db::redact(url)),
        ),
        None => {
            let path = audit::log_path(dir);
            let log = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read the audit log {}", path.display()))?;
            (log, path.display().to_string())
        }
    };
    let checked = receipt::check(&r, &log);
    println!(
        "receipt of session {} (technician {}, {} to {}): {} audit records named",
        r.session, r.technician, r.started, r.ended, checked.named
    );
    if let Err(why) = &checked.chain {
        println!("the audit log ({from}) itself FAILED verification: {why}");
    }
    if checked.findings.is_empty() && checked.named > 0 {
        println!("receipt verified: every record it names is in the audit log ({from}), unchanged");
        return Ok(ExitCode::SUCCESS);
    }
    if checked.named == 0 {
        println!("receipt FAILED verification: it names no audit record to check");
        return Ok(ExitCode::FAILURE);
    }
    for f in &checked.findings {
        println!("receipt FAILED verification: {f}");
    }
    Ok(ExitCode::FAILURE)
}

/// The file's text, refused past the largest receipt.
fn read_bounded(file: &Path) -> anyhow::Result<String> {
    let len = std::fs::metadata(file)
        .with_context(|| format!("cannot read the receipt {}", file.display()))?
        .len();
    if len > receipt::MAX_BYTES as u64 {
        anyhow::bail!(
            "{} is not a receipt: larger than {} MiB",
            file.display(),
            receipt::MAX_BYTES >> 20
        );
    }
    std::fs::read_to_string(file)
        .with_context(|| format!("cannot read the receipt {} as text", file.display()))
}
