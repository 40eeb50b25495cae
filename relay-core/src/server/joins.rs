//! The viewer's side: checking a join (throttle, token, suspicion),
//! winning the code (here or in the cluster's database), handing the
//! viewer to the waiting host, joins carried over a cluster link, and
//! failed joins counted per address and token.

use super::*;

/// The verdict on a join before any code is touched: throttles and token.
pub(crate) fn check_join(
    relay: &Relay,
    now: Instant,
    ip: IpAddr,
    token_key: &str,
    lookup: &Lookup,
) -> Result<String, JoinRefusal> {
    if let Err(wait) = lock(&relay.suspicion).check(now, token_key) {
        let retry_after_s = u32::try_from(wait.as_secs() + 1).unwrap_or(u32::MAX);
        return Err(JoinRefusal::Suspended { retry_after_s });
    }
    let throttled = lock(&relay.ip_throttle)
        .check(now, &ip)
        .and_then(|()| lock(&relay.token_throttle).check(now, &token_key.to_owned()));
    if let Err(wait) = throttled {
        let retry_after_s = u32::try_from(wait.as_secs() + 1).unwrap_or(u32::MAX);
        return Err(JoinRefusal::Throttled { retry_after_s });
    }
    match lookup {
        Lookup::Valid(name) => Ok(name.clone()),
        Lookup::Revoked(_) => Err(JoinRefusal::RevokedToken),
        Lookup::Unknown => Err(JoinRefusal::UnknownToken),
    }
}

pub(crate) async fn serve_viewer(relay: &Arc<Relay>, conn: Connection, mut ctl: Control) {
    let Some(first) = first_request::<ViewerRequest>(relay, &conn, &mut ctl).await else {
        return;
    };
    let (token, locator) = match first {
        ViewerRequest::Join { token, locator } => (token, locator),
        ViewerRequest::Resume(req) => {
            let ip = conn.remote_address().ip();
            return resuming::serve_resume(relay, conn, ctl, Peer::Viewer, req, ip).await;
        }
        ViewerRequest::Report(_) => {
            return close(&conn, &Refusal::Protocol("a viewer must join first".into()));
        }
    };
    let ip = conn.remote_address().ip();
    let token_key = token_hash(&token);
    let lookup = match lookup_token(relay, &token, &token_key).await {
        Ok(l) => l,
        Err(why) => return close(&conn, &Refusal::Busy(why.to_string())),
    };
    let technician = match &lookup {
        Lookup::Valid(n) | Lookup::Revoked(n) => Some(n.clone()),
        Lookup::Unknown => None,
    };
    let now = Instant::now();
    let verdict = match decide_join(relay, now, ip, &token_key, &lookup, locator).await {
        Ok(verdict) => verdict,
        Err(busy) => return close(&conn, &busy),
    };
    let attempt =
        |session: Option<String>, ok: bool, reason: Option<&str>| AuditEvent::JoinAttempt {
            session,
            technician: technician.clone(),
            ip: ip.to_string(),
            locator: locator.to_string(),
            ok,
            reason: reason.map(str::to_owned),
        };
    match verdict {
        Err((refusal, session)) => {
            let failed = Failed {
                now,
                ip,
                token_key: &token_key,
                technician: technician.as_deref(),
                locator,
            };
            count_refusal(relay, &refusal, failed).await;
            if let Err(e) = relay
                .audit
                .append(attempt(session, false, Some(refusal.as_str())))
                .await
            {
                return close(&conn, &Refusal::AuditFailed(e.to_string()));
            }
            refuse(&conn, &mut ctl, refusal).await;
        }
        Ok((name, won)) => {
            if let Err(e) = relay
                .audit
                .append(attempt(Some(won.session().to_owned()), true, None))
                .await
            {
                // Dropping the handle tells the host task its code is gone.
                return close(&conn, &Refusal::AuditFailed(e.to_string()));
            }
            let joiner = Joiner {
                technician: name,
                ip,
                token_key,
                locator,
            };
            match won {
                Won::Here(waiting) => hand_over(conn, ctl, joiner, waiting.handle).await,
                Won::There {
                    session,
                    node,
                    cluster,
                } => carry_join(relay, conn, ctl, joiner, session, (node, cluster)).await,
            }
        }
    }
}

/// The join's verdict: refused (why, and the session whose code it was,
/// if known), or the technician's name and the code won; `Err` when the
/// cluster's database does not answer.
pub(crate) async fn decide_join(
    relay: &Relay,
    now: Instant,
    ip: IpAddr,
    token_key: &str,
    lookup: &Lookup,
    locator: Locator,
) -> Result<Result<(String, Won), (JoinRefusal, Option<String>)>, Refusal> {
    Ok(match check_join(relay, now, ip, token_key, lookup) {
        Err(refusal) => Err((refusal, None)),
        Ok(name) => match win_code(relay, now, locator).await {
            Ok(won) => Ok((name, won)),
            Err(Lost::Refused(refusal, session)) => Err((refusal, session)),
            Err(Lost::Db(why)) => return Err(Refusal::Busy(why)),
        },
    })
}

/// A refused join, and what it was refused on.
pub(crate) struct Failed<'a> {
    pub(crate) now: Instant,
    pub(crate) ip: IpAddr,
    pub(crate) token_key: &'a str,
    pub(crate) technician: Option<&'a str>,
    pub(crate) locator: Locator,
}

/// Counts a refused join where it counts: a bad token against the
/// address and the token, a failed code as [`failed_join`]; a throttled
/// or suspended join is not counted again.
pub(crate) async fn count_refusal(relay: &Relay, refusal: &JoinRefusal, f: Failed<'_>) {
    match refusal {
        JoinRefusal::Throttled { .. } | JoinRefusal::Suspended { .. } => {}
        JoinRefusal::UnknownToken | JoinRefusal::RevokedToken => {
            lock(&relay.ip_throttle).fail(f.now, &f.ip);
            lock(&relay.token_throttle).fail(f.now, &f.token_key.to_owned());
        }
        JoinRefusal::UnknownCode | JoinRefusal::ExpiredCode | JoinRefusal::UsedCode => {
            failed_join(relay, f.now, f.ip, f.token_key, f.technician, f.locator).await;
        }
    }
}

/// A join whose code waits on another relay of the cluster: the viewer
/// is carried there over a link.
pub(crate) async fn carry_join(
    relay: &Arc<Relay>,
    conn: Connection,
    ctl: Control,
    joiner: Joiner,
    session: String,
    (node, cluster): (String, Arc<Cluster>),
) {
    let request = LinkRequest::Join {
        session,
        locator: joiner.locator,
        technician: joiner.technician,
        viewer_ip: joiner.ip.to_string(),
        token_key: joiner.token_key,
    };
    let carried =
        crate::cluster::link::forward(relay.splice(), &cluster, &node, request, conn.clone(), ctl)
            .await;
    if let Err(why) = carried {
        close(&conn, &Refusal::PeerGone(why.to_string()));
    }
}

/// Gives the viewer to the task of the host it won.
pub(crate) async fn hand_over(conn: Connection, ctl: Control, joiner: Joiner, host: HostHandle) {
    let request = PairRequest {
        viewer: conn.clone(),
        ctl,
        joiner,
    };
    if host.send(request).await.is_err() {
        close(
            &conn,
            &Refusal::PeerGone("the host left just as you joined; ask for a new code".into()),
        );
    }
}

/// Who a token belongs to: the data directory's technicians, or the
/// cluster's. An error is the sentence the viewer hears.
pub(crate) async fn lookup_token(
    relay: &Relay,
    token: &str,
    token_key: &str,
) -> Result<Lookup, String> {
    if let Some(c) = &relay.cluster {
        return (c.db.lookup(token_key).await).map_err(|e| unavailable("a technician lookup", &e));
    }
    let (lookup, store_err) = lock(&relay.tokens).lookup(token);
    if let Some(e) = store_err {
        tracing::error!(error = %e, "technician store unreadable; serving the last good copy");
    }
    Ok(lookup)
}

/// A code a join won: its host waits here, or on another relay.
pub(crate) enum Won {
    Here(crate::rules::registry::Waiting<HostHandle>),
    There {
        session: String,
        node: String,
        cluster: Arc<Cluster>,
    },
}

impl Won {
    fn session(&self) -> &str {
        match self {
            Won::Here(w) => &w.session,
            Won::There { session, .. } => session,
        }
    }
}

/// Why a join did not win its code.
pub(crate) enum Lost {
    Refused(JoinRefusal, Option<String>),
    /// The cluster's database did not answer; the sentence for the viewer.
    Db(String),
}

/// Takes the code under `locator`: from this relay's registry, or (in a
/// cluster) from the database first, which lets one join win it.
pub(crate) async fn win_code(relay: &Relay, now: Instant, locator: Locator) -> Result<Won, Lost> {
    let take_here = || {
        lock(&relay.registry)
            .take(now, locator)
            .map(Won::Here)
            .map_err(|(r, s)| Lost::Refused(r, s))
    };
    let Some(cluster) = &relay.cluster else {
        return take_here();
    };
    match cluster.db.claim(locator).await {
        Ok(Claim::Won { node, .. }) if node == cluster.node => take_here(),
        Ok(Claim::Won { session, node }) => Ok(Won::There {
            session,
            node,
            cluster: cluster.clone(),
        }),
        Ok(Claim::Refused(r, s)) => Err(Lost::Refused(r, s)),
        Err(e) => Err(Lost::Db(unavailable("claiming a code", &e))),
    }
}

/// A side another relay of the cluster carried here: a viewer that won,
/// in the database there, a code whose host waits here; or a side
/// resuming a session this relay holds.
pub(crate) async fn serve_carried(
    relay: &Arc<Relay>,
    conn: Connection,
    ctl: Control,
    request: LinkRequest,
) {
    let ip = match &request {
        LinkRequest::Join { viewer_ip, .. } => viewer_ip,
        LinkRequest::Resume { ip, .. } => ip,
    };
    let Ok(ip) = ip.parse::<IpAddr>() else {
        return close(
            &conn,
            &Refusal::Protocol("the link did not name the side's address".into()),
        );
    };
    let (session, locator, technician, token_key) = match request {
        LinkRequest::Resume { role, request, .. } => {
            return resuming::serve_resume(relay, conn, ctl, role.into(), request, ip).await;
        }
        LinkRequest::Join {
            session,
            locator,
            technician,
            token_key,
            ..
        } => (session, locator, technician, token_key),
    };
    let taken = lock(&relay.registry).take(Instant::now(), locator);
    match taken {
        Ok(waiting) if waiting.session == session => {
            let joiner = Joiner {
                technician: clean_text(&technician),
                ip,
                token_key,
                locator,
            };
            hand_over(conn, ctl, joiner, waiting.handle).await;
        }
        _ => close(
            &conn,
            &Refusal::PeerGone("the host left just as you joined; ask for a new code".into()),
        ),
    }
}

pub(crate) async fn refuse(conn: &Connection, ctl: &mut Control, refusal: JoinRefusal) {
    if let Err(e) = ctl.send(&ViewerEvent::Refused(refusal)).await {
        tracing::debug!(error = %e, "viewer gone before hearing its refusal");
    }
    ctl.finish();
    // Let the viewer read the refusal and hang up first; the close reason
    // repeats it for a viewer that does not.
    let _ = tokio::time::timeout(Duration::from_secs(2), conn.closed()).await;
    close(conn, &Refusal::Refused(refusal.to_string()));
}

/// A join that failed on a code (none there, expired, used, or a wrong
/// secret): throttled per IP and token, and counted per token across
/// codes; a token failing on several is suspended, and the log says so.
pub(crate) async fn failed_join(
    relay: &Relay,
    now: Instant,
    ip: IpAddr,
    token_key: &str,
    technician: Option<&str>,
    locator: Locator,
) {
    lock(&relay.ip_throttle).fail(now, &ip);
    lock(&relay.token_throttle).fail(now, &token_key.to_owned());
    let verdict = lock(&relay.suspicion).fail(now, token_key, locator);
    if let Verdict::Suspended { codes, for_s } = verdict {
        tracing::warn!(
            ?technician,
            codes,
            "token suspended: failed joins on several codes"
        );
        let event = AuditEvent::TokenSuspended {
            technician: technician.map(str::to_owned),
            ip: ip.to_string(),
            codes: u32::try_from(codes).unwrap_or(u32::MAX),
            suspended_s: for_s,
        };
        if let Err(e) = relay.audit.append(event).await {
            tracing::error!(error = %e, "audit write failed for a token suspension");
        }
    }
}
