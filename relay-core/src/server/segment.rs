//! A paired session: its start and recording, one segment of forwarding
//! until it ends or parks (the control streams bridged, reports filed),
//! and its end records.

use lifeline_proto::audit::ReportKind;

use super::*;

pub(crate) async fn run_session(
    relay: &Arc<Relay>,
    host: HostInfo,
    mut host_ctl: Control,
    session: String,
    pair: PairRequest,
) {
    let PairRequest {
        viewer,
        ctl: mut viewer_ctl,
        joiner,
    } = pair;
    let started = AuditEvent::SessionStarted {
        session: session.clone(),
        technician: joiner.technician.clone(),
        host_ip: host.ip.to_string(),
        viewer_ip: joiner.ip.to_string(),
        viewer_kind: joiner.kind,
        reason: joiner.reason.clone(),
    };
    let started = match relay.audit.append_sealed(started).await {
        Ok(sealed) => sealed,
        Err(e) => {
            let why = Refusal::AuditFailed(e.to_string());
            close(&host.conn, &why);
            close(&viewer, &why);
            return;
        }
    };
    relay.metrics.session_started();
    if let Some(c) = &relay.cluster
        && let Err(e) = c.db.session_started(&session, &c.node).await
    {
        // Only a dead relay's sessions are read back; this one is alive.
        tracing::error!(error = %e, "could not file a session in the database");
    }
    let mut meta = SessionMeta::new(session.clone(), joiner, host.ip);
    lock(&meta.untold).push(started);
    let recording = match start_recording(relay, &mut meta).await {
        Ok(r) => r,
        Err(why) => {
            close(&host.conn, &Refusal::Ended(why.to_string()));
            close(&viewer, &Refusal::Ended(why.to_string()));
            return resuming::finish(relay, &meta, why).await;
        }
    };
    let meta = Arc::new(meta);
    let paired = HostEvent::Paired {
        session: session.clone(),
        technician: meta.joiner.technician.clone(),
    };
    let joined = ViewerEvent::Joined {
        session,
        host_name: host.name.clone(),
        os_user: host.user.clone(),
    };
    let policy = HostEvent::Policy(lifeline_proto::control::SessionPolicy {
        confirm_every_s: secs(relay.config.confirm_every),
        answer_within_s: secs(relay.config.confirm_answer_within),
        recording,
    });
    let reason = meta.joiner.reason.clone().map(HostEvent::JoinReason);
    let greeted = match async {
        host_ctl.send(&policy).await?;
        if let Some(reason) = &reason {
            host_ctl.send(reason).await?;
        }
        // The session's records (its start first) follow the pairing, on
        // the bridge's first turn: a host that reads nothing after it
        // only leaves them unread.
        host_ctl.send(&paired).await
    }
    .await
    {
        Ok(()) => viewer_ctl
            .send(&joined)
            .await
            .map_err(|e| format!("viewer: {e}")),
        Err(e) => Err(format!("host: {e}")),
    };
    if let Err(why) = greeted {
        let why = format!("could not start: {why}");
        close(&host.conn, &Refusal::PeerGone(why.to_string()));
        close(&viewer, &Refusal::PeerGone(why.to_string()));
        return resuming::finish(relay, &meta, why).await;
    }
    let sides = Sides {
        host: &host.conn,
        viewer: &viewer,
    };
    run_segment(relay, &meta, sides, host_ctl, viewer_ctl).await;
}

/// Opens the session's recording as the relay's settings say: the policy
/// for the host, or (when a required recording cannot be written) why
/// the session cannot start. Every failure is audited.
pub(crate) async fn start_recording(
    relay: &Relay,
    meta: &mut SessionMeta,
) -> Result<Option<RecordingPolicy>, String> {
    let dir = &relay.config.data_dir;
    let auditors = AuditorStore::in_dir(dir).auditors();
    let mode = match (&relay.config.recording, &auditors) {
        (Some(m), _) => *m,
        (None, Ok(a)) if a.is_empty() => RecordingMode::Off,
        (None, _) => RecordingMode::Required,
    };
    if mode == RecordingMode::Off {
        return Ok(None);
    }
    let opened = auditors.and_then(|a| {
        if a.is_empty() {
            return Err(crate::recording::RecordingError::NoSuch("(any)".into()));
        }
        RecordingFile::create(dir, &meta.session).map(|f| (a, f))
    });
    match opened {
        Ok((auditors, file)) => {
            meta.recording = std::sync::Mutex::new(Some(file));
            meta.recording_required = mode == RecordingMode::Required;
            Ok(Some(RecordingPolicy {
                auditors,
                keys: relay.config.record_keys,
                required: mode == RecordingMode::Required,
            }))
        }
        Err(e) => {
            let reason = format!("the relay cannot record this session: {e}");
            let failed = AuditEvent::RecordingFailed {
                session: meta.session.clone(),
                reason: reason.clone(),
            };
            if let Err(e) = super::told::audit(relay, meta, failed).await {
                tracing::error!(error = %e, "audit write failed for a recording failure");
            }
            match mode {
                RecordingMode::Required => Err(format!(
                    "{reason}; recording is required, so the session cannot start"
                )),
                _ => Ok(None),
            }
        }
    }
}

/// Writes a recording chunk from the host, within the session's caps;
/// `Some(reason)` when the session must end for it (a required recording
/// that cannot be written, or that went past its cap). A recording that
/// fails or passes its cap stops, with one audit record; later chunks are
/// dropped.
pub(crate) async fn record_chunk(
    relay: &Relay,
    meta: &SessionMeta,
    chunk: &[u8],
) -> Option<String> {
    let caps = &relay.config.session_caps;
    let failed = {
        let mut slot = lock(&meta.recording);
        let file = slot.as_mut()?;
        if meta.recording_full.load(Ordering::Relaxed) {
            return None;
        }
        match bridge::recording_fits(caps, file.written(), chunk.len()) {
            // What was written stays, and is sealed at the session's end.
            Err(over) => {
                meta.recording_full.store(true, Ordering::Relaxed);
                over.to_string()
            }
            Ok(()) => match file.append(chunk) {
                Ok(()) => return None,
                Err(e) => {
                    *slot = None;
                    format!("the relay cannot write this session's recording: {e}")
                }
            },
        }
    };
    let event = AuditEvent::RecordingFailed {
        session: meta.session.clone(),
        reason: failed.clone(),
    };
    if let Err(e) = super::told::audit(relay, meta, event).await {
        tracing::error!(error = %e, "audit write failed for a recording failure");
    }
    meta.recording_required
        .then(|| format!("{failed}; recording is required, so the session ends"))
}

/// How a stretch of forwarding ended.
#[derive(Debug)]
pub(crate) enum Over {
    /// The session is over; the audit log's reason.
    Ended(String),
    /// A link was lost (or the relay stops) and the session is resumable:
    /// both sides were asked to reconnect.
    Parked(String),
}

/// Forwards between two connected sides until the session ends or parks;
/// files the end, or the interruption.
pub(crate) async fn run_segment(
    relay: &Arc<Relay>,
    meta: &Arc<SessionMeta>,
    sides: Sides<'_>,
    host_ctl: Control,
    viewer_ctl: Control,
) {
    let stop = CancellationToken::new();
    // A new segment has the host's new control stream: tell it again.
    meta.untold_stopped.store(false, Ordering::Relaxed);
    lock(&relay.resumes).resumed(&meta.session, stop.clone());
    relay.live_sessions.fetch_add(1, Ordering::Relaxed);
    let _counted = scopeguard(|| {
        relay.live_sessions.fetch_sub(1, Ordering::Relaxed);
    });
    // Listed while its pumps run: out before it parks, after which a
    // resumed segment lists it again.
    lock(&relay.forwarding).insert(meta.session.clone(), meta.clone());
    let listed = scopeguard(|| {
        lock(&relay.forwarding).remove(&meta.session);
    });
    let mut pumps = spawn_pumps(
        &relay.taps(),
        sides.host,
        sides.viewer,
        &meta.h2v,
        &meta.v2h,
    );
    let over = bridge_controls(relay, meta, sides, host_ctl, viewer_ctl, &stop).await;
    pumps.abort_all();
    drop(listed);
    match over {
        Over::Ended(reason) => resuming::finish(relay, meta, reason).await,
        Over::Parked(reason) => resuming::park(relay, meta, reason).await,
    }
}

/// Runs `f` when dropped (however the enclosing future ends).
pub(crate) fn scopeguard<F: FnOnce()>(f: F) -> impl Drop {
    struct Guard<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for Guard<F> {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    Guard(Some(f))
}

/// Both sides' connections of a session.
#[derive(Clone, Copy)]
pub(crate) struct Sides<'a> {
    pub host: &'a Connection,
    pub viewer: &'a Connection,
}

impl<'a> Sides<'a> {
    fn of(&self, peer: Peer) -> &'a Connection {
        match peer {
            Peer::Host => self.host,
            Peer::Viewer => self.viewer,
        }
    }
}

/// Reads both control streams until the session ends or parks; files
/// reports on the way. `stop` fires when a side came back on a new
/// connection before the relay noticed the old one was lost.
pub(crate) async fn bridge_controls(
    relay: &Relay,
    meta: &Arc<SessionMeta>,
    sides: Sides<'_>,
    mut host_ctl: Control,
    mut viewer_ctl: Control,
    stop: &CancellationToken,
) -> Over {
    let (mut host_ctl_open, mut viewer_ctl_open) = (true, true);
    let resumable = || lock(&relay.resumes).is_resumable(&meta.session);
    loop {
        if host_ctl_open {
            super::told::tell(meta, &mut host_ctl).await;
        }
        let (peer, heard) = tokio::select! {
            r = host_ctl.recv::<HostRequest>(), if host_ctl_open => (Peer::Host, match r {
                Ok(HostRequest::Report(rep)) => Heard::Report(rep),
                Ok(HostRequest::Record(chunk)) => Heard::Record(chunk),
                Ok(_) | Err(ControlError::Frame(_)) => Heard::Unexpected,
                Err(_) => Heard::Ended,
            }),
            r = viewer_ctl.recv::<ViewerRequest>(), if viewer_ctl_open => (Peer::Viewer, match r {
                Ok(ViewerRequest::Report(rep)) => Heard::Report(rep),
                Ok(_) | Err(ControlError::Frame(_)) => Heard::Unexpected,
                Err(_) => Heard::Ended,
            }),
            e = sides.host.closed() => return gone(sides, Peer::Host, &e, resumable()),
            e = sides.viewer.closed() => return gone(sides, Peer::Viewer, &e, resumable()),
            () = meta.ended.cancelled() => {
                let tell = "an administrator ended this session";
                close(sides.host, &Refusal::Ended(tell.to_string()));
                close(sides.viewer, &Refusal::Ended(tell.to_string()));
                return Over::Ended(tell.into());
            }
            () = stop.cancelled() => {
                let tell = "the other side reconnected; reconnecting…";
                close(sides.host, &Refusal::Reconnect(tell.to_string()));
                close(sides.viewer, &Refusal::Reconnect(tell.to_string()));
                return Over::Parked("a side reconnected on a new connection".into());
            }
            () = relay.shutdown.cancelled() => {
                let why = "relay shutting down";
                close(sides.host, &Refusal::ShutdownSaying(why.to_string()));
                close(sides.viewer, &Refusal::ShutdownSaying(why.to_string()));
                return if resumable() {
                    Over::Parked(why.into())
                } else {
                    Over::Ended(why.into())
                };
            }
        };
        match bridge::on_control(peer, heard) {
            Step::File(rep) => {
                if let Some(over) = report(relay, meta, peer, &rep, stop).await {
                    let tell = over.to_string();
                    close(sides.of(peer), &Refusal::Ended(tell.clone()));
                    close(sides.of(peer.other()), &Refusal::Ended(tell.clone()));
                    return Over::Ended(tell);
                }
            }
            Step::Record(chunk) => {
                if let Some(tell) = record_chunk(relay, meta, &chunk).await {
                    close(sides.host, &Refusal::Ended(tell.to_string()));
                    close(sides.viewer, &Refusal::Ended(tell.to_string()));
                    return Over::Ended(tell);
                }
            }
            Step::End { tell, reason } => {
                close(sides.of(peer.other()), &Refusal::Ended(tell.to_string()));
                close(sides.of(peer), &Refusal::Ended(tell.to_string()));
                return Over::Ended(reason);
            }
            Step::BrokeProtocol { tell, reason } => {
                close(
                    sides.of(peer),
                    &Refusal::Protocol("unexpected control message during a session".into()),
                );
                close(sides.of(peer.other()), &Refusal::PeerGone(tell.to_string()));
                return Over::Ended(reason);
            }
            Step::Quiet => match peer {
                Peer::Host => host_ctl_open = false,
                Peer::Viewer => viewer_ctl_open = false,
            },
        }
    }
}

/// `peer`'s connection ended: the other side is told (asked to reconnect
/// when the session parks).
pub(crate) fn gone(
    sides: Sides<'_>,
    peer: Peer,
    e: &quinn::ConnectionError,
    resumable: bool,
) -> Over {
    let gone = bridge::on_closed(peer, &ending(e), resumable);
    close(sides.of(peer.other()), &gone.tell);
    if gone.park {
        Over::Parked(gone.reason)
    } else {
        Over::Ended(gone.reason)
    }
}

/// Files a peer's report, within the session's cap on reports (past it:
/// the session ends, and `Some(why)`). A wrong secret counts as a failed
/// join for the viewer's IP and token, so guessing stays throttled: only
/// the host's first, before the key exchange was confirmed.
pub(crate) async fn report(
    relay: &Relay,
    meta: &Arc<SessionMeta>,
    peer: Peer,
    rep: &SessionReport,
    stop: &CancellationToken,
) -> Option<bridge::Exceeded> {
    let (session, joiner, from) = (meta.session.as_str(), &meta.joiner, peer.name());
    if let Err(over) = lock(&meta.ledger).report(&relay.config.session_caps, peer) {
        return Some(over);
    }
    if let (SessionReport::ModeGranted(m), Peer::Host) = (rep, peer) {
        *lock(&meta.mode) = Some(*m);
    }
    let (kind, mode) = match rep {
        SessionReport::ModeGranted(m) => (ReportKind::ModeGranted, Some(m.as_str().to_owned())),
        SessionReport::Refused => (ReportKind::Refused, None),
        SessionReport::SecretMismatch => {
            let said = lock(&meta.ledger).mismatch(peer);
            if said.count {
                let j = joiner;
                let who = Some(j.technician.as_str());
                failed_join(relay, Instant::now(), j.ip, &j.token_key, who, j.locator).await;
            }
            if !said.file {
                return None;
            }
            (ReportKind::WrongSecret, None)
        }
        // The reason is filed with the session's end record.
        SessionReport::Ending { .. } => return None,
        SessionReport::ResumeTicket { hash } if peer == Peer::Host => {
            lock(&meta.ledger).confirm();
            resuming::file_ticket(relay, meta, *hash, stop).await;
            return None;
        }
        SessionReport::ResumeTicket { .. } => return None,
        SessionReport::Transfer(t) if peer == Peer::Host => {
            let event = AuditEvent::Transfer {
                session: session.into(),
                kind: t.kind.as_str().into(),
                direction: t.direction().into(),
                bytes: t.bytes,
                name: t.name.as_deref().map(clean_text),
                sha256: t.sha256.map(hex::encode),
            };
            if let Err(e) = super::told::audit(relay, meta, event).await {
                tracing::error!(error = %e, "audit write failed for a transfer");
            }
            return None;
        }
        // Only the host reports transfers (it applies them).
        SessionReport::Transfer(_) => return None,
    };
    let event = AuditEvent::PeerReport {
        session: session.into(),
        from: from.into(),
        report: kind.sentence().into(),
        mode,
        kind: Some(kind),
    };
    if let Err(e) = super::told::audit(relay, meta, event).await {
        tracing::error!(error = %e, "audit write failed for a peer report");
    }
    None
}

/// Whole seconds, saturating.
pub(crate) fn secs(d: Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}
