//! The host's side: issuing a code (here or in the cluster's database),
//! handing it out audited, adopting a code moved from a draining relay,
//! moving a waiting host away, retiring codes, and the waiting loop
//! until a viewer joins.

use super::*;

/// How long a host whose code a join won in the cluster's database waits
/// for that viewer to arrive (over a link, at worst a handshake away).
pub(crate) const PAIR_IN_FLIGHT: Duration = Duration::from_secs(5);
/// A live code held by a host task.
pub(crate) struct LiveCode {
    pub(crate) session: String,
    pub(crate) locator: Locator,
    pub(crate) expires: Instant,
    pub(crate) rx: mpsc::Receiver<PairRequest>,
}

/// What the host told us about itself, for the audit log.
#[derive(Debug)]
pub(crate) struct HostInfo {
    pub(crate) conn: Connection,
    pub(crate) ip: IpAddr,
    pub(crate) name: String,
    pub(crate) user: String,
}

pub(crate) fn new_session_id() -> String {
    format!("{:016x}", rand::rng().random::<u64>())
}

pub(crate) async fn issue_code(
    relay: &Relay,
    host: &HostInfo,
    ctl: &mut Control,
) -> Result<LiveCode, Refusal> {
    let session = new_session_id();
    let (tx, rx) = mpsc::channel(1);
    let (locator, expires) = match &relay.cluster {
        None => {
            let mut reg = lock(&relay.registry);
            let mut rng = rand::rng();
            reg.register(Instant::now(), session.clone(), tx, || rng.random())
                .map_err(|full| Refusal::Busy(full.to_string()))?
        }
        Some(cluster) => file_code(relay, cluster, &session, tx).await?,
    };
    let ttl = relay.config.code_ttl.as_secs();
    let event = AuditEvent::CodeIssued {
        session: session.clone(),
        locator: locator.to_string(),
        host_ip: host.ip.to_string(),
        host_name: host.name.clone(),
        os_user: host.user.clone(),
        expires_in_s: ttl,
    };
    let code = LiveCode {
        session,
        locator,
        expires,
        rx,
    };
    hand_out(relay, ctl, event, code, relay.config.code_ttl).await
}

/// Audits a live code (`event`) and tells its host; a code that cannot be
/// audited is withdrawn, here and in the cluster's database.
pub(crate) async fn hand_out(
    relay: &Relay,
    ctl: &mut Control,
    event: AuditEvent,
    code: LiveCode,
    left: Duration,
) -> Result<LiveCode, Refusal> {
    if let Err(e) = relay.audit.append(event).await {
        if let Some(c) = &relay.cluster
            && let Err(e) =
                c.db.close_code(code.locator, &code.session, Gone::Withdrawn)
                    .await
        {
            tracing::error!(error = %e, "could not withdraw an unaudited code from the database");
        }
        lock(&relay.registry).close(Instant::now(), code.locator, &code.session, Gone::Withdrawn);
        return Err(Refusal::AuditFailed(e.to_string()));
    }
    let msg = HostEvent::Registered {
        session: code.session.clone(),
        locator: code.locator,
        expires_in_s: secs(left),
    };
    ctl.send(&msg)
        .await
        .map_err(|e| Refusal::Protocol(e.to_string()))?;
    Ok(code)
}

/// A host moved here from a draining relay of the cluster: its code,
/// still unused, is this relay's now (the same locator, the time it had
/// left); `None` (the host told `Expired`) when it died meanwhile.
pub(crate) async fn adopt_code(
    relay: &Relay,
    ctl: &mut Control,
    session: String,
    locator: Locator,
) -> Result<Option<LiveCode>, Refusal> {
    let Some(cluster) = &relay.cluster else {
        return Err(Refusal::Protocol(
            "this relay is not in a cluster: register for a new code".into(),
        ));
    };
    if relay.draining.is_cancelled() {
        return Err(Refusal::Busy("this relay is draining too".into()));
    }
    let moved = cluster
        .db
        .move_code(locator, &session, &cluster.node)
        .await
        .map_err(|e| Refusal::Busy(unavailable("moving a code", &e)))?;
    let Some(left) = moved else {
        ctl.send(&HostEvent::Expired)
            .await
            .map_err(|e| Refusal::Protocol(e.to_string()))?;
        return Ok(None);
    };
    let (tx, rx) = mpsc::channel(1);
    let now = Instant::now();
    lock(&relay.registry)
        .adopt(now, locator, session.clone(), tx, now + left)
        .map_err(|full| Refusal::Busy(full.to_string()))?;
    let event = AuditEvent::CodeMoved {
        session: session.clone(),
        to: cluster.node.clone(),
    };
    let code = LiveCode {
        session,
        locator,
        expires: now + left,
        rx,
    };
    hand_out(relay, ctl, event, code, left).await.map(Some)
}

/// This relay drains: sends the waiting host to the least loaded other
/// relay, where it takes its code along; the code stays live in the
/// database meanwhile. With no other relay (or no answer) it stays here.
pub(crate) async fn move_host(
    relay: &Relay,
    ctl: &mut Control,
    code: LiveCode,
) -> Option<LiveCode> {
    let cluster = relay.cluster.as_ref()?;
    let timeout = cluster.timing().node_timeout;
    let target = match cluster.db.move_target(&cluster.node, timeout).await {
        Ok(Some(t)) => t,
        Ok(None) => {
            tracing::warn!("draining, but no other relay takes hosts; this one waits here");
            return Some(code);
        }
        Err(e) => {
            tracing::error!(error = %e, "draining: cannot pick a relay for a waiting host");
            return Some(code);
        }
    };
    if !lock(&relay.registry).forget(code.locator, &code.session) {
        // A viewer took it this instant: the pair is on its way.
        return Some(code);
    }
    if let Err(e) = ctl.send(&HostEvent::MoveTo { relay: target }).await {
        tracing::debug!(error = %e, "host gone before it could move");
    }
    None
}

/// Files a code in the cluster: a locator free on this relay that the
/// database also takes (free, or its tombstone old enough, cluster-wide).
pub(crate) async fn file_code(
    relay: &Relay,
    cluster: &Cluster,
    session: &str,
    tx: HostHandle,
) -> Result<(Locator, Instant), Refusal> {
    if relay.draining.is_cancelled() {
        return Err(Refusal::Busy(
            "this relay is draining for a restart; connect again to reach another".into(),
        ));
    }
    for _ in 0..16 {
        let (locator, expires, ttl, tombstone) = {
            let mut reg = lock(&relay.registry);
            let mut rng = rand::rng();
            let (l, e) = reg
                .register(Instant::now(), session.to_owned(), tx.clone(), || {
                    rng.random()
                })
                .map_err(|full| Refusal::Busy(full.to_string()))?;
            (l, e, reg.ttl(), reg.tombstone_ttl())
        };
        let filed = cluster
            .db
            .insert_code(locator, session, &cluster.node, ttl, tombstone)
            .await;
        if !matches!(filed, Ok(true)) {
            lock(&relay.registry).forget(locator, session);
        }
        match filed {
            Ok(true) => return Ok((locator, expires)),
            Ok(false) => continue,
            Err(e) => return Err(Refusal::Busy(unavailable("filing a code", &e))),
        }
    }
    recycle_code(relay, cluster, session, tx).await
}

/// The cluster's locators are crowded: the oldest tombstone gives way, or
/// (none left) the database finds a locator nobody holds.
pub(crate) async fn recycle_code(
    relay: &Relay,
    cluster: &Cluster,
    session: &str,
    tx: HostHandle,
) -> Result<(Locator, Instant), Refusal> {
    let ttl = relay.config.code_ttl;
    let busy = |why: String| Refusal::Busy(why);
    let db_busy = |e: crate::cluster::DbError| busy(unavailable("recycling a code", &e));
    let mut found = cluster
        .db
        .recycle_oldest(session, &cluster.node, ttl)
        .await
        .map_err(db_busy)?;
    if found.is_none() {
        found = cluster
            .db
            .insert_free(session, &cluster.node, ttl)
            .await
            .map_err(db_busy)?;
    }
    let Some(locator) = found else {
        return Err(busy(
            "every code of the cluster is in use; try again shortly".into(),
        ));
    };
    let expires = Instant::now() + ttl;
    let adopted =
        lock(&relay.registry).adopt(Instant::now(), locator, session.to_owned(), tx, expires);
    if let Err(full) = adopted {
        if let Err(e) = cluster
            .db
            .close_code(locator, session, Gone::Withdrawn)
            .await
        {
            tracing::error!(error = %e, "could not withdraw a code this relay has no room for");
        }
        return Err(busy(full.to_string()));
    }
    Ok((locator, expires))
}

/// Ends a live code. If a viewer took it meanwhile, returns its request so
/// the session still starts (the viewer won the race fairly).
pub(crate) async fn retire(
    relay: &Relay,
    mut code: LiveCode,
    why: Gone,
    reason: &str,
) -> Option<(String, PairRequest)> {
    if let Some(c) = &relay.cluster {
        match c.db.close_code(code.locator, &code.session, why).await {
            Ok(true) => {}
            Ok(false) => {
                // A join won it in the database: its viewer is on its way,
                // from this relay or over a link. (Or the code was released
                // as a dead relay's: then nobody comes.)
                let pair = tokio::time::timeout(PAIR_IN_FLIGHT, code.rx.recv()).await;
                lock(&relay.registry).close(Instant::now(), code.locator, &code.session, why);
                return pair.ok().flatten().map(|pair| (code.session, pair));
            }
            Err(e) => tracing::error!(error = %e, "could not close a code in the database"),
        }
    }
    let closed = lock(&relay.registry).close(Instant::now(), code.locator, &code.session, why);
    if closed {
        let event = AuditEvent::CodeClosed {
            session: code.session.clone(),
            reason: reason.into(),
        };
        if let Err(e) = relay.audit.append(event).await {
            tracing::error!(error = %e, "audit write failed for a closed code");
        }
        return None;
    }
    code.rx.recv().await.map(|pair| (code.session, pair))
}

pub(crate) async fn serve_host(relay: &Arc<Relay>, conn: Connection, mut ctl: Control) {
    let Some(first) = first_request::<HostRequest>(relay, &conn, &mut ctl).await else {
        return;
    };
    let info = |host_name: &str, os_user: &str, conn: Connection| HostInfo {
        ip: conn.remote_address().ip(),
        name: clean_text(host_name),
        user: clean_text(os_user),
        conn,
    };
    let (host, code) = match first {
        HostRequest::Register { host_name, os_user } => {
            let host = info(&host_name, &os_user, conn);
            // A fresh connection's code is paced by its address like a
            // renewal, so reconnecting is no way round the pacing.
            if let Err(why) = pace_code(relay, &host, None).await {
                return close(&host.conn, &why);
            }
            match issue_code(relay, &host, &mut ctl).await {
                Ok(c) => (host, Some(c)),
                Err(why) => return close(&host.conn, &why),
            }
        }
        HostRequest::Move {
            session,
            locator,
            host_name,
            os_user,
        } => {
            let host = info(&host_name, &os_user, conn);
            match adopt_code(relay, &mut ctl, session, locator).await {
                Ok(c) => (host, c),
                Err(why) => return close(&host.conn, &why),
            }
        }
        HostRequest::Resume(req) => {
            let ip = conn.remote_address().ip();
            let peer = (Peer::Host, None);
            return resuming::serve_resume(relay, conn, ctl, peer, req, ip).await;
        }
        HostRequest::Enroll(req) => {
            return super::enroll::serve_enroll(relay, conn, ctl, req).await;
        }
        HostRequest::Online { device, token } => {
            return match relay.config.devices_port {
                Some(port) => super::enroll::online_elsewhere(conn, ctl, port).await,
                None => super::enroll::serve_online(relay, conn, ctl, (device, token), None).await,
            };
        }
        HostRequest::Answer {
            device,
            token,
            session,
            os_user,
        } => {
            let who = (device, token);
            return super::calls::serve_answer(relay, conn, ctl, who, session, os_user).await;
        }
        _ => {
            close(
                &conn,
                &Refusal::Protocol("a host must register first".into()),
            );
            return;
        }
    };
    wait_for_viewer(relay, host, ctl, code).await;
}

/// A registered host's task until a viewer pairs with it or it leaves:
/// expiry, renewals, shutdown, and (draining) moving it to another relay.
pub(crate) async fn wait_for_viewer(
    relay: &Arc<Relay>,
    host: HostInfo,
    mut ctl: Control,
    mut code: Option<LiveCode>,
) {
    let mut may_move = relay.cluster.is_some();
    let mut renews = Throttle::new(waiting::RENEW_BURST, waiting::RENEW_DRAIN);
    loop {
        let far = Instant::now() + Duration::from_secs(86_400 * 365);
        let deadline = tokio::time::Instant::from_std(code.as_ref().map_or(far, |c| c.expires));
        let has_code = code.is_some();
        let event = tokio::select! {
            biased;
            pair = async {
                match code.as_mut() {
                    Some(c) => c.rx.recv().await,
                    None => std::future::pending().await,
                }
            } => {
                let Some(c) = code.take() else { continue };
                match pair {
                    Some(pair) => return run_session(relay, host, ctl, c.session, pair).await,
                    None => {
                        // The viewer's task failed after taking the code.
                        if let Err(e) = ctl.send(&HostEvent::Expired).await {
                            tracing::debug!(error = %e, "host gone");
                            return;
                        }
                        continue;
                    }
                }
            }
            () = relay.shutdown.cancelled() => WaitEvent::Shutdown,
            () = relay.draining.cancelled(), if has_code && may_move => {
                may_move = false;
                if let Some(c) = code.take() {
                    code = move_host(relay, &mut ctl, c).await;
                }
                continue;
            }
            () = tokio::time::sleep_until(deadline), if has_code => WaitEvent::Expired,
            req = ctl.recv::<HostRequest>() => match req {
                Ok(HostRequest::Renew) => WaitEvent::Renew,
                Ok(_) => WaitEvent::Unexpected,
                Err(ControlError::Frame(_)) => WaitEvent::Malformed,
                Err(_) => WaitEvent::Left,
            },
        };
        let step = waiting::on(event);
        if let Some(c) = code.take()
            && let Some((session, pair)) = retire(relay, c, step.retire.0, step.retire.1).await
        {
            return run_session(relay, host, ctl, session, pair).await;
        }
        match step.then {
            Then::Reissue => {
                if let Err(why) = pace_code(relay, &host, Some(&mut renews)).await {
                    return close(&host.conn, &why);
                }
                code = match issue_code(relay, &host, &mut ctl).await {
                    Ok(c) => Some(c),
                    Err(why) => return close(&host.conn, &why),
                };
            }
            Then::TellExpired => {
                if ctl.send(&HostEvent::Expired).await.is_err() {
                    return;
                }
            }
            Then::Close(why) => return close(&host.conn, &why),
            Then::Leave => return,
        }
    }
}

/// A host asks for a code, on a fresh connection (`renews` is `None`) or
/// renewing on its connection: answered at once within its connection's
/// and its address's allowances, later beyond them (the host waits with
/// no code), or refused (`Err`) when it keeps asking. The address's
/// allowance is off with `--max-waiting-per-ip 0` (every load from one
/// address allowed, as the benches need).
async fn pace_code(
    relay: &Relay,
    host: &HostInfo,
    renews: Option<&mut Throttle<()>>,
) -> Result<(), Refusal> {
    let now = Instant::now();
    let conn = renews.map_or(Ok(Duration::ZERO), |r| {
        r.queue(now, &(), waiting::RENEW_QUEUE)
    });
    let addr = if relay.config.max_waiting_per_ip == 0 {
        Ok(Duration::ZERO)
    } else {
        let source = Source::of(host.ip);
        lock(&relay.guards.renew).queue(now, &source, waiting::RENEW_QUEUE_PER_ADDRESS)
    };
    let wait = waiting::renew_pace(conn, addr)?;
    if wait.is_zero() {
        return Ok(());
    }
    tokio::select! {
        () = tokio::time::sleep(wait) => Ok(()),
        () = relay.shutdown.cancelled() => Err(Refusal::Shutdown),
        _ = host.conn.closed() => Err(Refusal::Ended("the host left".into())),
    }
}
