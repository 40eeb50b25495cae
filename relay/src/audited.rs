//! Changes made from the command line are audited before they take
//! effect: into the data directory's log (or the running relay's, through
//! its spool), or a cluster's database.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use lifeline_proto::audit::AuditEvent;
use lifeline_relay_core::audit;

use crate::cli_cluster;
use crate::{DataDir, Database};

/// Writes `event` to the audit log in `dir`: straight into it when no relay
/// runs, else through the running relay (which holds the log), waiting up
/// to 10 s for the record to be durable.
pub(crate) fn audit_cli(dir: &Path, event: AuditEvent) -> anyhow::Result<()> {
    match audit::AuditLog::open(dir) {
        Ok(log) => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(log.append(event))?;
        }
        Err(audit::AuditError::Busy(_)) => {
            let name = lifeline_relay_core::spool::submit(dir, &event)
                .with_context(|| format!("cannot leave a request in {}", dir.display()))?;
            let ok = name.with_extension("ok");
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while !ok.exists() {
                if std::time::Instant::now() > deadline {
                    let _ = std::fs::remove_file(&name);
                    bail!("the running relay did not write the audit record within 10 s");
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            std::fs::remove_file(&ok)?;
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// Where a command's records go: the data directory's log (or the running
/// relay's, through its spool), or a cluster's database.
pub(crate) enum LogAt<'a> {
    Dir(&'a Path),
    Db(&'a str),
}

impl<'a> LogAt<'a> {
    pub(crate) fn of(dir: &'a DataDir, db: &'a Database) -> Self {
        match &db.database {
            Some(url) => LogAt::Db(url),
            None => LogAt::Dir(&dir.data_dir),
        }
    }

    fn append(&self, event: AuditEvent) -> anyhow::Result<()> {
        match self {
            LogAt::Dir(dir) => audit_cli(dir, event),
            LogAt::Db(url) => cli_cluster::append(url, event),
        }
    }
}

/// Runs a command that changes who may do what, audited before it takes
/// effect (`admin_action`, by whoever runs it); a change that then fails
/// is audited as `ACTION failed` with the reason.
pub(crate) fn admin<T>(
    log: &LogAt<'_>,
    action: &str,
    target: &str,
    change: impl FnOnce() -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let record = |action: String, target: String| AuditEvent::AdminAction {
        by: lifeline_common::whoami::os_user(),
        action,
        target,
    };
    log.append(record(action.into(), target.into()))
        .context("nothing was changed: the audit log could not be written")?;
    change().map_err(|e| {
        let failed = record(format!("{action} failed"), format!("{target}: {e:#}"));
        if let Err(a) = log.append(failed) {
            eprintln!("lifeline-relay: the failure could not be audited either: {a:#}");
        }
        e
    })
}
