//! A session's audit records, told to its host as they become durable
//! ([`HostEvent::Audited`]): the host keeps their numbers and hashes in
//! the user's receipt, which `lifeline-relay audit verify-receipt`
//! checks against the log. What a host never reads is not waited on for
//! long: it misses those records, and the session goes on.

use std::sync::atomic::Ordering;
use std::time::Duration;

use lifeline_common::framed::Control;
use lifeline_proto::audit::AuditEvent;
use lifeline_proto::control::HostEvent;

use super::resuming::SessionMeta;
use super::{Relay, lock};
use crate::audit::{AuditError, Sealed};

/// How long one record's word to the host may wait for it to read.
const TELL_WITHIN: Duration = Duration::from_secs(5);

/// Appends a record about `meta`'s session; once durable it waits in the
/// session's queue for its host.
pub(crate) async fn audit(
    relay: &Relay,
    meta: &SessionMeta,
    event: AuditEvent,
) -> Result<u64, AuditError> {
    let sealed = relay.audit.append_sealed(event).await?;
    let seq = sealed.seq;
    lock(&meta.untold).push(sealed);
    Ok(seq)
}

/// Tells the host every queued record, in order. A host that does not
/// take one within [`TELL_WITHIN`] (or whose stream is gone) is told
/// nothing more in this session: a write cut short by the wait may have
/// left half a frame.
pub(crate) async fn tell(meta: &SessionMeta, host_ctl: &mut Control) {
    if meta.untold_stopped.load(Ordering::Relaxed) {
        lock(&meta.untold).clear();
        return;
    }
    let untold: Vec<Sealed> = std::mem::take(&mut *lock(&meta.untold));
    for sealed in untold {
        let Some(hash) = hash_bytes(&sealed.hash) else {
            continue;
        };
        let event = HostEvent::Audited {
            seq: sealed.seq,
            hash,
        };
        match tokio::time::timeout(TELL_WITHIN, host_ctl.send(&event)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "the host missed its session's audit records");
                meta.untold_stopped.store(true, Ordering::Relaxed);
                return;
            }
            Err(_) => {
                tracing::debug!("the host does not read its audit records; not told");
                meta.untold_stopped.store(true, Ordering::Relaxed);
                return;
            }
        }
    }
}

/// A record's hash (64 hex digits) as bytes.
fn hash_bytes(hex_hash: &str) -> Option<[u8; 32]> {
    hex::decode(hex_hash).ok()?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_is_64_hex_digits_or_nothing() {
        let h = "ab".repeat(32);
        assert_eq!(hash_bytes(&h), Some([0xab; 32]));
        assert_eq!(hash_bytes("ab"), None);
        assert_eq!(hash_bytes(&"zz".repeat(32)), None);
    }
}
