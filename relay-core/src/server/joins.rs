//! The viewer's side: checking a join (throttle, token, suspicion),
//! winning the code (here or in the cluster's database), handing the
//! viewer to the waiting host, joins carried over a cluster link, and
//! failed joins counted per address and token.

use lifeline_proto::devices::valid_reason;

use super::*;
use crate::rules::suspicion::Hold;

/// Limits beside the failed-join throttles: failures that named no
/// technician, counted apart so that they never hold back a valid
/// token's joins from the same (shared) address, and hosts asking for new
/// codes per address.
#[derive(Debug)]
pub(crate) struct Guards {
    /// Failed attempts that named no valid technician (unknown or revoked
    /// tokens, resumes with an unknown session or wrong secret), per address.
    pub(crate) anon: Mutex<Throttle<Source>>,
    /// New codes a waiting host asked for, per address.
    pub(crate) renew: Mutex<Throttle<Source>>,
}

impl Guards {
    pub(crate) fn new(config: &RelayConfig) -> Self {
        Self {
            anon: Mutex::new(Throttle::new(config.throttle_burst, config.throttle_drain)),
            renew: Mutex::new(Throttle::new(
                waiting::RENEW_BURST_PER_ADDRESS,
                waiting::RENEW_DRAIN_PER_ADDRESS,
            )),
        }
    }
}

/// The verdict on a join before any code is touched: throttles and token.
/// A valid token's join takes its unit of the address's and the token's
/// allowance now, before any await ([`settle_join`] gives it back on
/// success or keeps it on failure), so joins racing through a cluster's
/// database cannot all pass. A token the relay does not know is counted
/// against the address's anonymous allowance only.
pub(crate) fn check_join(
    relay: &Relay,
    now: Instant,
    ip: IpAddr,
    token_key: &str,
    (lookup, locator): (&Lookup, Locator),
) -> Result<String, JoinRefusal> {
    let throttled = |wait: Duration| JoinRefusal::Throttled {
        retry_after_s: u32::try_from(wait.as_secs() + 1).unwrap_or(u32::MAX),
    };
    let name = match lookup {
        Lookup::Valid(name) => name,
        Lookup::Revoked(_) | Lookup::Expired(_) | Lookup::Unknown => {
            lock(&relay.guards.anon)
                .reserve(now, &Source::of(ip))
                .map_err(throttled)?;
            return Err(match lookup {
                Lookup::Revoked(_) => JoinRefusal::RevokedToken,
                Lookup::Expired(_) => JoinRefusal::ExpiredToken,
                _ => JoinRefusal::UnknownToken,
            });
        }
    };
    let mut by_ip = lock(&relay.ip_throttle);
    let mut by_token = lock(&relay.token_throttle);
    let key = token_key.to_owned();
    if let Err(wait) = lock(&relay.suspicion).check(now, token_key) {
        let retry_after_s = u32::try_from(wait.as_secs() + 1).unwrap_or(u32::MAX);
        return Err(JoinRefusal::Suspended { retry_after_s });
    }
    by_ip.check(now, &Source::of(ip)).map_err(throttled)?;
    by_token.check(now, &key).map_err(throttled)?;
    match lock(&relay.suspicion).begin(now, token_key, locator) {
        Ok(()) => {}
        Err(Hold::Suspended(wait)) => {
            let retry_after_s = u32::try_from(wait.as_secs() + 1).unwrap_or(u32::MAX);
            return Err(JoinRefusal::Suspended { retry_after_s });
        }
        Err(Hold::Racing) => return Err(throttled(Duration::ZERO)),
    }
    by_ip.fail(now, &Source::of(ip));
    by_token.fail(now, &key);
    Ok(name.clone())
}

/// A valid token's join is decided: it is no longer under way, and a won
/// code gives back the units [`check_join`] took.
pub(crate) fn settle_join(
    relay: &Relay,
    now: Instant,
    who: (IpAddr, &str),
    locator: Locator,
    won: bool,
) {
    let (ip, token_key) = who;
    lock(&relay.suspicion).end(token_key, locator);
    if won {
        lock(&relay.ip_throttle).refund(now, &Source::of(ip));
        lock(&relay.token_throttle).refund(now, &token_key.to_owned());
    }
}

pub(crate) async fn serve_viewer(relay: &Arc<Relay>, conn: Connection, mut ctl: Control, via: Via) {
    let Some(first) = first_request::<ViewerRequest>(relay, &conn, &mut ctl).await else {
        return;
    };
    let (token, locator, reason) = match as_join(first) {
        Ok(join) => join,
        Err(other) => return serve_other(relay, conn, ctl, other, via).await,
    };
    let ip = via.ip;
    let token_key = token_hash(&token);
    let lookup = match lookup_token(relay, &token, &token_key).await {
        Ok(l) => l,
        Err(why) => return close(&conn, &Refusal::Busy(why.to_string())),
    };
    let subject = identity_of(relay, &token).map(|i| i.subject);
    let technician = match &lookup {
        Lookup::Valid(n) | Lookup::Revoked(n) | Lookup::Expired(n) => Some(n.clone()),
        Lookup::Unknown => None,
    };
    let attempt =
        |session: Option<String>, ok: bool, reason: Option<&str>| AuditEvent::JoinAttempt {
            session,
            technician: technician.clone(),
            ip: ip.to_string(),
            locator: locator.to_string(),
            ok,
            reason: reason.map(str::to_owned),
            subject: subject.clone(),
        };
    // A missing or malformed reason is refused before any code is
    // touched or any allowance spent: it guesses nothing.
    let reason = match checked_reason(relay.config.require_reason, reason) {
        Ok(reason) => reason,
        Err(refusal) => {
            let record = attempt(None, false, Some(refusal.as_str()));
            return refuse_audited(relay, (&conn, &mut ctl), record, refusal).await;
        }
    };
    let now = Instant::now();
    let verdict = match decide_join(relay, now, ip, &token_key, &lookup, locator).await {
        Ok(verdict) => verdict,
        Err(busy) => return close(&conn, &busy),
    };
    relay.metrics.join(match &verdict {
        Ok(_) => "admitted",
        Err((refusal, _)) => crate::metrics::refusal_word(refusal),
    });
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
                kind: via.kind,
                token_key,
                locator,
                reason,
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

/// A join's token, code and reason; any other first request as it came.
fn as_join(first: ViewerRequest) -> Result<(String, Locator, Option<String>), ViewerRequest> {
    match first {
        ViewerRequest::Join { token, locator } => Ok((token, locator, None)),
        ViewerRequest::JoinFor {
            token,
            locator,
            reason,
        } => Ok((token, locator, Some(reason))),
        other => Err(other),
    }
}

/// Refuses a join for what it said (its reason), counted and audited,
/// before any code or allowance is touched.
async fn refuse_audited(
    relay: &Relay,
    (conn, ctl): (&Connection, &mut Control),
    record: AuditEvent,
    refusal: JoinRefusal,
) {
    relay.metrics.join(crate::metrics::refusal_word(&refusal));
    if let Err(e) = relay.audit.append(record).await {
        return close(conn, &Refusal::AuditFailed(e.to_string()));
    }
    refuse(conn, ctl, refusal).await;
}

/// A join's reason as the relay keeps it (trimmed; an empty one is none),
/// or why the join is refused: none given where every join needs one,
/// or one that is not a reason (too long, not one line).
pub(crate) fn checked_reason(
    required: bool,
    reason: Option<String>,
) -> Result<Option<String>, JoinRefusal> {
    match reason.as_deref().map(str::trim) {
        None | Some("") if required => Err(JoinRefusal::ReasonRequired),
        None | Some("") => Ok(None),
        Some(r) if valid_reason(r) => Ok(Some(r.to_owned())),
        Some(_) => Err(JoinRefusal::BadReason),
    }
}

/// A viewer's first request other than a join: a resume, the device list,
/// a device session; a report before any of them breaks protocol.
async fn serve_other(
    relay: &Arc<Relay>,
    conn: Connection,
    ctl: Control,
    first: ViewerRequest,
    via: Via,
) {
    match first {
        ViewerRequest::Resume(req) => {
            let peer = (Peer::Viewer, None);
            resuming::serve_resume(relay, conn, ctl, peer, req, via.ip).await;
        }
        ViewerRequest::ResumeAs { request, token } => {
            resume_as(relay, conn, ctl, request, &token, via.ip).await;
        }
        ViewerRequest::Devices { token } => {
            super::enroll::serve_devices(relay, conn, ctl, token).await;
        }
        ViewerRequest::Connect {
            token,
            device,
            reason,
        } => {
            let req = super::calls::Request {
                token,
                device,
                reason,
            };
            super::calls::serve_connect(relay, conn, ctl, req, via).await;
        }
        ViewerRequest::Login => super::login::serve_login(relay, conn, ctl, via).await,
        ViewerRequest::Join { .. } | ViewerRequest::JoinFor { .. } | ViewerRequest::Report(_) => {
            close(&conn, &Refusal::Protocol("a viewer must join first".into()));
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
    Ok(
        match check_join(relay, now, ip, token_key, (lookup, locator)) {
            Err(refusal) => Err((refusal, None)),
            Ok(name) => {
                let won = win_code(relay, now, locator).await;
                let who = (ip, token_key);
                settle_join(
                    relay,
                    now,
                    who,
                    locator,
                    matches!(won, Ok(_) | Err(Lost::Db(_))),
                );
                match won {
                    Ok(won) => Ok((name, won)),
                    Err(Lost::Refused(refusal, session)) => Err((refusal, session)),
                    Err(Lost::Db(why)) => return Err(Refusal::Busy(why)),
                }
            }
        },
    )
}

/// A refused join, and what it was refused on.
pub(crate) struct Failed<'a> {
    pub(crate) now: Instant,
    pub(crate) ip: IpAddr,
    pub(crate) token_key: &'a str,
    pub(crate) technician: Option<&'a str>,
    pub(crate) locator: Locator,
}

/// Counts a refused join where it counts: a bad token was counted by
/// [`check_join`] against the address's anonymous allowance; a failed code
/// (its units already taken by [`check_join`]) counts towards the token's
/// suspicion; a throttled or suspended join is not counted again.
pub(crate) async fn count_refusal(relay: &Relay, refusal: &JoinRefusal, f: Failed<'_>) {
    match refusal {
        JoinRefusal::Throttled { .. }
        | JoinRefusal::Suspended { .. }
        | JoinRefusal::UnknownToken
        | JoinRefusal::RevokedToken
        | JoinRefusal::ExpiredToken
        | JoinRefusal::ReasonRequired
        | JoinRefusal::BadReason => {}
        JoinRefusal::UnknownCode | JoinRefusal::ExpiredCode | JoinRefusal::UsedCode => {
            suspect(relay, f.now, f.ip, f.token_key, f.technician, f.locator).await;
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
    let request = match joiner.reason {
        None => LinkRequest::Join {
            session,
            locator: joiner.locator,
            technician: joiner.technician,
            viewer_ip: joiner.ip.to_string(),
            token_key: joiner.token_key,
        },
        Some(reason) => LinkRequest::JoinFor {
            session,
            locator: joiner.locator,
            technician: joiner.technician,
            viewer_ip: joiner.ip.to_string(),
            token_key: joiner.token_key,
            reason,
        },
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

/// A viewer resuming with its token: the token must still be a
/// technician's (one revoked meanwhile resumes as if it named nobody, so
/// it is refused as not the technician who joined).
async fn resume_as(
    relay: &Arc<Relay>,
    conn: Connection,
    ctl: Control,
    request: lifeline_proto::control::ResumeRequest,
    token: &str,
    ip: IpAddr,
) {
    let token_key = token_hash(token);
    let valid = match lookup_token(relay, token, &token_key).await {
        Ok(Lookup::Valid(_)) => Some(token_key),
        Ok(Lookup::Revoked(_) | Lookup::Expired(_) | Lookup::Unknown) => None,
        Err(why) => return close(&conn, &Refusal::Busy(why.to_string())),
    };
    resuming::serve_resume(relay, conn, ctl, (Peer::Viewer, valid), request, ip).await;
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

/// Who the identity provider said a credential is for (a plain token,
/// and every token in a cluster, has none).
pub(crate) fn identity_of(relay: &Relay, token: &str) -> Option<lifeline_proto::login::Identity> {
    if relay.cluster.is_some() {
        return None;
    }
    lock(&relay.tokens).identity(token)
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
        LinkRequest::Join { viewer_ip, .. } | LinkRequest::JoinFor { viewer_ip, .. } => viewer_ip,
        LinkRequest::Resume { ip, .. } | LinkRequest::ResumeViewer { ip, .. } => ip,
    };
    let Ok(ip) = ip.parse::<IpAddr>() else {
        return close(
            &conn,
            &Refusal::Protocol("the link did not name the side's address".into()),
        );
    };
    let (session, locator, technician, token_key, reason) = match request {
        LinkRequest::Resume { role, request, .. } => {
            let peer = (role.into(), None);
            return resuming::serve_resume(relay, conn, ctl, peer, request, ip).await;
        }
        LinkRequest::ResumeViewer {
            request, token_key, ..
        } => {
            let peer = (Peer::Viewer, Some(token_key));
            return resuming::serve_resume(relay, conn, ctl, peer, request, ip).await;
        }
        LinkRequest::Join {
            session,
            locator,
            technician,
            token_key,
            ..
        } => (session, locator, technician, token_key, None),
        LinkRequest::JoinFor {
            session,
            locator,
            technician,
            token_key,
            reason,
            ..
        } => (session, locator, technician, token_key, Some(reason)),
    };
    // The relay that took the join checked it; a far relay's word is
    // still cleaned like a peer's.
    let reason = reason.filter(|r| valid_reason(r));
    let taken = lock(&relay.registry).take(Instant::now(), locator);
    match taken {
        Ok(waiting) if waiting.session == session => {
            let joiner = Joiner {
                technician: clean_text(&technician),
                ip,
                kind: None,
                token_key,
                locator,
                reason,
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
    let why = Refusal::Refused(refusal.to_string());
    answer_and_close(conn, ctl, &ViewerEvent::Refused(refusal), why).await;
}

/// Says `event` on the control stream, lets the peer read it and hang up
/// first, then closes with `why` (which repeats it for a peer that does
/// not).
pub(crate) async fn answer_and_close<T: serde::Serialize>(
    conn: &Connection,
    ctl: &mut Control,
    event: &T,
    why: Refusal,
) {
    if let Err(e) = ctl.send(event).await {
        tracing::debug!(error = %e, "peer gone before hearing the answer");
    }
    ctl.finish();
    let _ = tokio::time::timeout(Duration::from_secs(2), conn.closed()).await;
    close(conn, &why);
}

/// A join that failed after it was let in (a wrong secret, reported by
/// the host): throttled per IP and token, and counted per token across
/// codes as [`suspect`].
pub(crate) async fn failed_join(
    relay: &Relay,
    now: Instant,
    ip: IpAddr,
    token_key: &str,
    technician: Option<&str>,
    locator: Locator,
) {
    relay.metrics.join("wrong_secret");
    lock(&relay.ip_throttle).fail(now, &Source::of(ip));
    lock(&relay.token_throttle).fail(now, &token_key.to_owned());
    suspect(relay, now, ip, token_key, technician, locator).await;
}

/// Counts a failed join per token across codes; a token failing on
/// several is suspended, and the log says so.
pub(crate) async fn suspect(
    relay: &Relay,
    now: Instant,
    ip: IpAddr,
    token_key: &str,
    technician: Option<&str>,
    locator: Locator,
) {
    let verdict = lock(&relay.suspicion).fail(now, token_key, locator);
    if let Verdict::Suspended { codes, for_s } = verdict {
        relay.metrics.token_suspended();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse()
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
    }

    #[test]
    fn a_reason_is_kept_trimmed_and_refused_when_missing_or_malformed() {
        let some = |r: &str| Some(r.to_owned());
        assert_eq!(checked_reason(false, None), Ok(None));
        assert_eq!(checked_reason(false, some("  ")), Ok(None));
        assert_eq!(
            checked_reason(false, some(" INC-4821, printer not found ")),
            Ok(some("INC-4821, printer not found"))
        );
        assert_eq!(checked_reason(true, None), Err(JoinRefusal::ReasonRequired));
        assert_eq!(
            checked_reason(true, some("")),
            Err(JoinRefusal::ReasonRequired)
        );
        assert_eq!(checked_reason(true, some("INC-1")), Ok(some("INC-1")));
        for bad in ["two\nlines", "bell\u{7}", &"x".repeat(257)] {
            assert_eq!(
                checked_reason(false, some(bad)),
                Err(JoinRefusal::BadReason),
                "{bad:?}"
            );
        }
        assert_eq!(
            checked_reason(true, some(&"é".repeat(256))),
            Ok(some(&"é".repeat(256)))
        );
    }

    #[test]
    fn addresses_in_one_ipv6_64_share_the_guards_buckets() {
        let guards = Guards::new(&RelayConfig::new(PathBuf::new()));
        let t0 = Instant::now();
        let (a, b) = (ip("2001:db8:5:5::1"), ip("2001:db8:5:5:abcd::2"));
        // The anonymous allowance (5 at once): spent by one address of the
        // /64, held against another of it, not against the next /64.
        let mut anon = lock(&guards.anon);
        for _ in 0..5 {
            assert!(anon.reserve(t0, &Source::of(a)).is_ok());
        }
        assert!(anon.reserve(t0, &Source::of(b)).is_err());
        assert!(anon.reserve(t0, &Source::of(ip("2001:db8:5:6::1"))).is_ok());
        // The codes' allowance: 20 at once, then slowed.
        let mut renew = lock(&guards.renew);
        let queue = waiting::RENEW_QUEUE_PER_ADDRESS;
        for _ in 0..waiting::RENEW_BURST_PER_ADDRESS {
            assert_eq!(renew.queue(t0, &Source::of(a), queue), Ok(Duration::ZERO));
        }
        assert!(renew.queue(t0, &Source::of(b), queue).unwrap_or_default() > Duration::ZERO);
    }
}
