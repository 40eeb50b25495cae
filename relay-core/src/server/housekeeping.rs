//! The relay's housekeeping beside the sessions: noticing it has drained,
//! deleting recordings past their retention, writing the fetches the
//! command line left in the spool, and closing in the log what a crashed
//! run left open.

use super::*;

/// Returns once the relay was told to drain and nobody is left on it: no
/// connection (a moved host has hung up, so it heard where to go), no
/// session running (its sides may both come over links) or parked.
pub(crate) async fn drained(relay: &Relay) {
    relay.draining.cancelled().await;
    loop {
        let sessions = relay.live_sessions() + relay.parked_sessions();
        if relay.connections() == 0 && sessions == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Deletes recordings past the retention, now and then from time to time
/// (a quarter of the retention, between a second and an hour); each
/// deletion is audited.
pub(crate) async fn expire_recordings(relay: Arc<Relay>) {
    let Some(keep) = relay.config.recording_retention else {
        return;
    };
    let every = (keep / 4).clamp(Duration::from_secs(1), Duration::from_secs(3600));
    loop {
        let now = std::time::SystemTime::now();
        for (session, file, path) in crate::recording::expired(&relay.config.data_dir, keep, now) {
            if let Err(e) = std::fs::remove_file(&path) {
                tracing::error!(path = %path.display(), error = %e, "cannot delete an expired recording");
                continue;
            }
            let event = AuditEvent::RecordingExpired { session, file };
            if let Err(e) = relay.audit.append(event).await {
                tracing::error!(error = %e, "audit write failed for an expired recording");
            }
        }
        tokio::time::sleep(every).await;
    }
}

/// Writes the records commands on this machine ask for (`recording
/// fetch`, changes to technicians, auditors, console accounts), answering
/// each once it is durable.
pub(crate) async fn audit_fetches(relay: Arc<Relay>) {
    loop {
        for (path, event) in crate::spool::waiting(&relay.config.data_dir) {
            let answer = match event {
                Some(event) => match relay.audit.append(event).await {
                    Ok(_) => path.with_extension("ok"),
                    Err(e) => {
                        tracing::error!(error = %e, "audit write failed for a command's record");
                        path.with_extension("failed")
                    }
                },
                None => path.with_extension("bad"),
            };
            if let Err(e) = std::fs::rename(&path, &answer) {
                tracing::error!(path = %path.display(), error = %e, "cannot answer a command's audit request");
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Writes the end of every session and code a previous run left open (it
/// was killed before it could), so the log never shows them open forever.
pub(crate) async fn close_left_open(relay: &Relay, resumable: &[String]) -> Result<(), RelayError> {
    let records = match crate::audit::read_verified(&relay.config.data_dir) {
        Ok(v) => v.into_iter().map(|v| v.record).collect::<Vec<_>>(),
        Err(e) => {
            // A log that does not verify is for `audit verify` to report;
            // serving goes on, and nothing is guessed from it.
            tracing::error!(error = %e, "audit log does not verify; not closing earlier sessions");
            return Ok(());
        }
    };
    let resumable: Vec<&str> = resumable.iter().map(String::as_str).collect();
    let window_s = relay.config.resume_window.as_secs();
    for event in crate::rules::recovery::close_left_open(&records, &resumable, window_s) {
        tracing::warn!(session = ?event.session(), "closing (or holding) what the last run left open");
        relay.audit.append(event).await?;
    }
    Ok(())
}
