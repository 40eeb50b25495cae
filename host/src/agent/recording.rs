//! The session's recording on its way to the relay: the tap the capture
//! thread and the user interface write to, and its sealed chunks, kept
//! while the link is down so a resumed session's recording has no gap.

use lifeline_net::client::HostLink;
use lifeline_proto::control::RecordingPolicy;
use tokio::sync::mpsc;

use super::context::{AgentError, Io};
use crate::recorder::RecordTap;

/// The session's recording: who records, and its sealed chunks on their
/// way to the relay.
pub(super) struct Recording {
    pub(super) tap: RecordTap,
    pub(super) chunks: mpsc::UnboundedReceiver<Vec<u8>>,
    /// Chunks the relay did not take (the link was lost): sent again, in
    /// order, once it is back, so a resumed session's recording has no gap.
    unsent: std::collections::VecDeque<Vec<u8>>,
}

impl Recording {
    /// Starts recording as the relay's policy says; the user is told who
    /// will be able to watch it.
    pub(super) fn start<S>(
        session: &str,
        policy: &RecordingPolicy,
        io: &mut Io<'_, S>,
    ) -> Result<Self, AgentError> {
        let (tap, chunks) = RecordTap::start(session, policy);
        io.ui.recording = Some(tap.clone());
        let names: Vec<String> = policy.auditors.iter().map(|a| a.name.clone()).collect();
        io.ui.recorded(&names, policy.keys);
        io.desktop.capture.record(Some(tap.clone()))?;
        Ok(Self {
            tap,
            chunks,
            unsent: std::collections::VecDeque::new(),
        })
    }

    /// Sends what waits, then `chunk`; keeps what the link did not take.
    pub(super) async fn send(&mut self, link: &mut HostLink, chunk: Option<Vec<u8>>) {
        self.unsent.extend(chunk);
        while let Some(next) = self.unsent.pop_front() {
            if let Err(e) = link.record(next.clone()).await {
                tracing::warn!(error = %e, "a recording chunk waits for the link to the relay");
                self.unsent.push_front(next);
                return;
            }
        }
    }

    /// Records the end and hands the relay what is left.
    pub(super) async fn finish<S>(mut self, reason: &str, link: &mut HostLink, io: &mut Io<'_, S>) {
        io.ui.recording = None;
        if let Err(e) = io.desktop.capture.record(None) {
            tracing::warn!(error = %e, "the capture thread stopped before the recording ended");
        }
        self.tap.finish(reason);
        while let Ok(chunk) = self.chunks.try_recv() {
            self.unsent.push_back(chunk);
        }
        self.send(link, None).await;
        if !self.unsent.is_empty() {
            tracing::warn!(
                left = self.unsent.len(),
                "the recording's last chunks did not reach the relay"
            );
        }
    }
}
