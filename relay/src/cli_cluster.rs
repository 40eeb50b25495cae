//! The commands' side of a cluster (`--database`): technicians, audit
//! records and verification, and draining, against PostgreSQL.

use std::process::ExitCode;

use anyhow::{Context, bail};
use lifeline_proto::audit::AuditEvent;
use lifeline_relay_core::audit::AuditLog;
use lifeline_relay_core::cluster::Db;
use lifeline_relay_core::cluster::audit::read_verified;
use lifeline_relay_core::cluster::db::redact;
use lifeline_relay_core::tokens::{Technician, TokenError, new_technician, now_text};

/// Runs one database command on a small runtime of its own.
fn block_on<T>(f: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(f)
}

/// Appends one record to the cluster's chain (durable on return).
pub fn append(url: &str, event: AuditEvent) -> anyhow::Result<()> {
    block_on(async {
        Db::open(url).await?;
        let log = AuditLog::open_database(url).await?;
        log.append(event).await?;
        Ok(())
    })
}

/// Adds a technician to the cluster; the token, shown once.
pub fn technician_add(url: &str, name: &str) -> anyhow::Result<String> {
    let (technician, token) = new_technician(name)?;
    block_on(async {
        let db = Db::open(url).await?;
        if !db.add_technician(&technician).await? {
            return Err(TokenError::Exists(name.to_owned()).into());
        }
        Ok(token)
    })
}

/// Every technician of the cluster.
pub fn technician_list(url: &str) -> anyhow::Result<Vec<Technician>> {
    block_on(async { Ok(Db::open(url).await?.technicians().await?) })
}

/// Revokes a technician's live tokens in the cluster.
pub fn technician_revoke(url: &str, name: &str) -> anyhow::Result<()> {
    block_on(async {
        if !Db::open(url)
            .await?
            .revoke_technician(name, &now_text())
            .await?
        {
            return Err(TokenError::NoSuch(name.to_owned()).into());
        }
        Ok(())
    })
}

/// `audit verify --database`: the cluster's chain and its head row.
pub fn verify(url: &str) -> anyhow::Result<ExitCode> {
    let checked = block_on(async { Ok(read_verified(url).await) })?;
    match checked {
        Ok(records) => {
            println!(
                "audit log intact: {} records (database {})",
                records.len(),
                redact(url)
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(lifeline_relay_core::cluster::audit::ReadError::Chain(why)) => {
            println!("audit log FAILED verification: {why}");
            Ok(ExitCode::FAILURE)
        }
        Err(e) => Err(e).context("cannot read the audit log from the database"),
    }
}

/// The cluster's audit log as text, one record a line, unverified.
pub fn read_log(url: &str) -> anyhow::Result<String> {
    block_on(async {
        lifeline_relay_core::cluster::audit::read_text(url)
            .await
            .with_context(|| format!("cannot read the audit log from database {}", redact(url)))
    })
}

/// `check --database`: the database answers within 10 s and the
/// cluster's chain verifies; what was found, or why not.
pub fn check_log(url: &str) -> anyhow::Result<String> {
    let read = block_on(async {
        tokio::time::timeout(std::time::Duration::from_secs(10), read_verified(url))
            .await
            .map_err(|_| anyhow::anyhow!("database {} did not answer within 10 s", redact(url)))
    })?;
    match read {
        Ok(records) => Ok(format!(
            "database {} reachable; its audit log verifies: {} records",
            redact(url),
            records.len()
        )),
        Err(lifeline_relay_core::cluster::audit::ReadError::Chain(why)) => bail!(
            "the audit log in database {} failed verification: {why}",
            redact(url)
        ),
        Err(e) => Err(e).with_context(|| format!("database {}", redact(url))),
    }
}

/// `drain`: tells relay `node` to take no new hosts and move its waiting
/// ones; waits until it has left the cluster (its last session over),
/// saying how many are still on it.
pub fn drain(url: &str, node: &str) -> anyhow::Result<()> {
    block_on(async {
        let db = Db::open(url).await?;
        if !db.set_draining(node).await? {
            bail!(
                "no relay {node:?} is in the cluster (see the nodes table, or the relay's DIR/node-id)"
            );
        }
        eprintln!("Relay {node} is draining: it takes no new hosts and moves its waiting ones.");
        let mut said = None;
        while let Some(load) = db.load(node).await? {
            if said != Some(load) {
                eprintln!("  {} hosts waiting, {} connections", load.0, load.1);
                said = Some(load);
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        eprintln!("Relay {node} has left the cluster; restart it when ready.");
        Ok(())
    })
}
