//! The audit log in PostgreSQL: the same lines as `audit.jsonl`, one hash
//! chain for the whole cluster.
//!
//! Each relay (and each command that writes a record) has a writer task on
//! a connection of its own. A batch is one transaction: lock the head row,
//! seal the records after it, insert them, move the head, commit. Relays
//! appending at once queue on the row lock, so the chain never forks, and
//! a caller hears its record's number only after the commit is durable.

use std::time::SystemTime;

use lifeline_proto::audit::{AuditEvent, Chain, Head, Verified, verify_log};
use tokio::sync::{mpsc, watch};
use tokio_postgres::Client;

use super::db::{DbError, connect};

use crate::audit::{Ack, Sealed};

/// Sending side of a database writer task.
pub(crate) type Queue = mpsc::UnboundedSender<(AuditEvent, Ack)>;

/// Starts a writer on its own connection to `url`; the task ends when the
/// last queue handle is dropped.
pub(crate) async fn spawn(url: &str) -> Result<(Queue, watch::Receiver<u64>), DbError> {
    let mut client = connect(url).await?;
    let head = read_head(&mut client).await?;
    let (tx, rx) = mpsc::unbounded_channel();
    let (written_tx, written) = watch::channel(head.seq);
    let url = url.to_owned();
    tokio::spawn(async move { run(url, client, rx, written_tx).await });
    Ok((tx, written))
}

async fn read_head(client: &mut Client) -> Result<Head, DbError> {
    let row = client
        .query_one("SELECT seq, hash FROM audit_head WHERE only_row", &[])
        .await?;
    let seq: i64 = row.try_get(0)?;
    Ok(Head {
        seq: u64::try_from(seq).map_err(|_| DbError::Bad(format!("audit head {seq}")))?,
        hash: row.try_get(1)?,
    })
}

async fn run(
    url: String,
    mut client: Client,
    mut rx: mpsc::UnboundedReceiver<(AuditEvent, Ack)>,
    written: watch::Sender<u64>,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < 4096 {
            match rx.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        if client.is_closed() {
            match connect(&url).await {
                Ok(c) => client = c,
                Err(e) => {
                    tracing::error!(error = %e, "audit writer cannot reach the database");
                    for (_, ack) in batch {
                        let _ = ack.send(Err(e.to_string()));
                    }
                    continue;
                }
            }
        }
        let (events, acks): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        match write_batch(&mut client, events).await {
            Ok(sealed) => {
                if let Some(last) = sealed.last() {
                    written.send_replace(last.seq);
                }
                for (ack, sealed) in acks.into_iter().zip(sealed) {
                    // A caller that gave up waiting needs no answer.
                    let _ = ack.send(Ok(sealed));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "audit write failed");
                for ack in acks {
                    let _ = ack.send(Err(e.to_string()));
                }
            }
        }
    }
}

/// Seals and commits `events` after the cluster's head; each one's
/// number and hash. Nothing is written unless all are.
async fn write_batch(client: &mut Client, events: Vec<AuditEvent>) -> Result<Vec<Sealed>, DbError> {
    let tx = client.transaction().await?;
    let row = tx
        .query_one(
            "SELECT seq, hash FROM audit_head WHERE only_row FOR UPDATE",
            &[],
        )
        .await?;
    let seq: i64 = row.try_get(0)?;
    let seq = u64::try_from(seq).map_err(|_| DbError::Bad(format!("audit head {seq}")))?;
    let mut chain = Chain::resume_at(seq, row.try_get(1)?);
    let mut seqs = Vec::with_capacity(events.len());
    let mut lines = Vec::with_capacity(events.len());
    let mut sealed = Vec::with_capacity(events.len());
    for event in events {
        let ts = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
        let (line, hash) = chain
            .seal(ts, event)
            .map_err(|e| DbError::Bad(format!("an unsealable record: {e}")))?;
        let seq = chain.head().seq + 1;
        seqs.push(seq as i64);
        lines.push(line);
        sealed.push(Sealed {
            seq,
            hash: hash.clone(),
        });
        chain.advance(hash);
    }
    tx.execute(
        "INSERT INTO audit (seq, line) SELECT * FROM unnest($1::bigint[], $2::text[])",
        &[&seqs, &lines],
    )
    .await?;
    let head = chain.head();
    tx.execute(
        "UPDATE audit_head SET seq = $1, hash = $2 WHERE only_row",
        &[&(head.seq as i64), &head.hash],
    )
    .await?;
    tx.commit().await?;
    Ok(sealed)
}

/// Why the database's log could not be read or did not verify.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Chain(#[from] lifeline_proto::audit::ChainError),
}

/// Reads the whole chain in order and verifies it against the head row,
/// exactly as `audit verify` checks `audit.jsonl` and `audit.head`.
pub async fn read_verified(url: &str) -> Result<Vec<Verified>, ReadError> {
    let mut client = connect(url).await?;
    let head = read_head(&mut client).await?;
    let text = lines(&client).await?;
    Ok(verify_log(&text, Some(&head))?)
}

/// The log as the file would hold it, one record a line, in order,
/// unverified (`audit verify-receipt` checks records one by one).
pub async fn read_text(url: &str) -> Result<String, DbError> {
    lines(&connect(url).await?).await
}

async fn lines(client: &Client) -> Result<String, DbError> {
    let rows = client
        .query("SELECT line FROM audit ORDER BY seq", &[])
        .await?;
    let mut text = String::new();
    for r in &rows {
        let line: &str = r.try_get(0)?;
        text.push_str(line);
        text.push('\n');
    }
    Ok(text)
}
