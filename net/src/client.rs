//! The peers' side of the relay protocol: connect, register as a host or
//! join as a viewer. Host and viewer binaries build on this.

use std::net::SocketAddr;
use std::path::Path;

use lifeline_proto::Locator;
use lifeline_proto::control::{
    CloseCode, Hello, HostEvent, HostRequest, JoinRefusal, PROTOCOL_VERSION, ResumeRefusal,
    ResumeRequest, Role, SessionPolicy, SessionReport, ViewerEvent, ViewerRequest, clean_text,
};
use lifeline_proto::devices::DeviceRefusal;
use quinn::{Connection, ConnectionError, Endpoint};

use lifeline_common::framed::{Control, ControlError};
use lifeline_common::tls::{TlsError, client_config};

/// Everything that can go wrong talking to the relay, each with one line a
/// person can act on.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("--relay must be HOST:PORT (e.g. relay.example.com:4433); got {0:?}")]
    BadAddress(String),
    #[error("cannot find the relay {addr}: {source}")]
    Resolve {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot find the relay {0}: the name has no address")]
    NoAddress(String),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("cannot open a UDP socket: {0}")]
    Socket(std::io::Error),
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        #[source]
        source: quinn::ConnectError,
    },
    #[error(
        "the relay at {addr} did not answer: is it running, and is UDP port {port} open to you?"
    )]
    Unreachable { addr: String, port: u16 },
    #[error("the relay at {addr} is not trusted ({why}); pass --ca with the relay's ca.pem")]
    Untrusted { addr: String, why: String },
    #[error("the relay refused the connection ({0}); it may be at capacity, try again shortly")]
    ConnectionRefused(String),
    #[error("{reason}")]
    Closed {
        code: Option<CloseCode>,
        reason: String,
    },
    #[error("the relay's connection was lost: {0}")]
    Lost(String),
    #[error("{0}")]
    Refused(JoinRefusal),
    #[error("{0}")]
    DeviceRefused(DeviceRefusal),
    #[error("the relay sent something unexpected: {0}")]
    Protocol(String),
    #[error("{0}")]
    ResumeRefused(ResumeRefusal),
    #[error(
        "the session could not be resumed within {0} s (the relay or the other side did not come back); it is over"
    )]
    ResumeGaveUp(u64),
}

impl ClientError {
    /// Maps a connection error to what the user should hear.
    pub fn from_connection(err: &ConnectionError) -> Self {
        match err {
            ConnectionError::ApplicationClosed(ac) => {
                let code = u32::try_from(ac.error_code.into_inner())
                    .ok()
                    .and_then(CloseCode::from_u32);
                let reason = String::from_utf8_lossy(&ac.reason).into_owned();
                let reason = if reason.is_empty() {
                    "the relay closed the connection".to_owned()
                } else {
                    reason
                };
                ClientError::Closed { code, reason }
            }
            ConnectionError::ConnectionClosed(cc)
                if cc.error_code == quinn::TransportErrorCode::CONNECTION_REFUSED =>
            {
                ClientError::ConnectionRefused(cc.to_string())
            }
            ConnectionError::TimedOut => ClientError::Lost("the relay stopped answering".into()),
            // We closed it ourselves (ending the session): nothing to resume.
            ConnectionError::LocallyClosed => ClientError::Closed {
                code: Some(CloseCode::Ended),
                reason: "this side ended the session".into(),
            },
            other => ClientError::Lost(other.to_string()),
        }
    }

    /// Whether a session that failed with this may be resumed: the link
    /// was lost, or the relay asked us to reconnect or is restarting; not
    /// when a side ended it on purpose or broke protocol.
    pub fn resumable(&self) -> bool {
        match self {
            ClientError::Lost(_) | ClientError::Unreachable { .. } => true,
            ClientError::ConnectionRefused(_) => true,
            ClientError::Closed { code, .. } => {
                matches!(code, Some(CloseCode::Reconnect | CloseCode::Shutdown))
            }
            _ => false,
        }
    }

    /// [`ClientError::from_control`] for a stream that ended: the reason is
    /// in the connection's close, which may arrive just after the stream's
    /// end (the relay ends the stream, then closes); waits a moment for it.
    pub async fn after_stream(conn: &Connection, err: ControlError) -> Self {
        if matches!(err, ControlError::Closed) && conn.close_reason().is_none() {
            let wait = std::time::Duration::from_secs(3);
            let _ = tokio::time::timeout(wait, conn.closed()).await;
        }
        Self::from_control(conn, err)
    }

    /// Maps a stream error, preferring the connection's close reason (what
    /// the relay or the other side said) over the stream's symptom.
    pub fn from_control(conn: &Connection, err: ControlError) -> Self {
        if let Some(reason) = conn.close_reason() {
            return Self::from_connection(&reason);
        }
        match err.connection_lost() {
            Some(e) => Self::from_connection(e),
            None => ClientError::Protocol(err.to_string()),
        }
    }
}

/// Splits `HOST:PORT` (IPv6 in brackets) into the TLS server name and port.
fn split_addr(relay: &str) -> Result<(String, u16), ClientError> {
    let bad = || ClientError::BadAddress(relay.to_owned());
    let (host, port) = relay.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(bad());
    }
    Ok((host.to_owned(), port))
}

/// A client endpoint aimed at one relay; many connections can share it
/// (one UDP socket), which load tests and reconnects use.
#[derive(Debug, Clone)]
pub struct Connector {
    endpoint: Endpoint,
    addr: SocketAddr,
    server_name: String,
    relay: String,
    port: u16,
}

impl Connector {
    /// Resolves `relay` (`HOST:PORT`) and prepares an endpoint trusting `ca`
    /// (or the system's roots).
    pub async fn new(relay: &str, ca: Option<&Path>) -> Result<Self, ClientError> {
        Self::with_config(relay, client_config(ca)?).await
    }

    /// [`Connector::new`] with a client configuration made elsewhere (a
    /// CA built into the program).
    pub async fn with_config(
        relay: &str,
        config: quinn::ClientConfig,
    ) -> Result<Self, ClientError> {
        let (host, port) = split_addr(relay)?;
        let addr: SocketAddr = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|source| ClientError::Resolve {
                addr: relay.to_owned(),
                source,
            })?
            .next()
            .ok_or_else(|| ClientError::NoAddress(relay.to_owned()))?;
        let bind = if addr.is_ipv6() {
            SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 0))
        } else {
            SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, 0))
        };
        let mut endpoint =
            lifeline_common::tls::endpoint(bind, None).map_err(ClientError::Socket)?;
        endpoint.set_default_client_config(config);
        Ok(Self {
            endpoint,
            addr,
            server_name: host,
            relay: relay.to_owned(),
            port,
        })
    }

    /// The same relay (its address, name and this endpoint) at another
    /// UDP port: its devices port.
    pub fn at_port(&self, port: u16) -> Self {
        Self {
            addr: SocketAddr::new(self.addr.ip(), port),
            port,
            ..self.clone()
        }
    }

    /// The shared endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// [`Connector::connect`], giving up after `limit` (a relay that is
    /// down answers nothing) as unreachable.
    pub async fn connect_within(
        &self,
        limit: std::time::Duration,
    ) -> Result<Connection, ClientError> {
        match tokio::time::timeout(limit, self.connect()).await {
            Ok(r) => r,
            Err(_) => Err(ClientError::Unreachable {
                addr: self.relay.clone(),
                port: self.port,
            }),
        }
    }

    /// Opens one more connection to the relay.
    pub async fn connect(&self) -> Result<Connection, ClientError> {
        let connecting = self
            .endpoint
            .connect(self.addr, &self.server_name)
            .map_err(|source| ClientError::Connect {
                addr: self.relay.clone(),
                source,
            })?;
        match connecting.await {
            Ok(conn) => Ok(conn),
            Err(ConnectionError::TimedOut) => Err(ClientError::Unreachable {
                addr: self.relay.clone(),
                port: self.port,
            }),
            Err(ConnectionError::TransportError(te)) if is_certificate_alert(te.code) => {
                Err(ClientError::Untrusted {
                    addr: self.relay.clone(),
                    why: te.reason.clone(),
                })
            }
            Err(e) => Err(ClientError::from_connection(&e)),
        }
    }
}

/// Whether a failed handshake was TLS refusing the relay's certificate: a
/// TLS alert (QUIC carries them as crypto errors, 0x100 + alert) about a
/// certificate: bad (42) to unknown (46), an unknown CA (48), or a
/// signature that does not verify against the CA given (51).
fn is_certificate_alert(code: quinn::TransportErrorCode) -> bool {
    let code = u64::from(code);
    (0x100..=0x1ff).contains(&code) && matches!(code - 0x100, 42..=46 | 48 | 51)
}

/// Opens a QUIC connection to the relay on an endpoint of its own.
pub async fn connect(
    relay: &str,
    ca: Option<&Path>,
) -> Result<(Endpoint, Connection), ClientError> {
    let connector = Connector::new(relay, ca).await?;
    let conn = connector.connect().await?;
    Ok((connector.endpoint, conn))
}

pub(crate) async fn open_control(conn: &Connection, role: Role) -> Result<Control, ClientError> {
    let (send, recv) = conn
        .open_bi()
        .await
        .map_err(|e| ClientError::from_connection(&e))?;
    let mut ctl = Control::new(send, recv);
    ctl.send(&Hello {
        version: PROTOCOL_VERSION,
        role,
    })
    .await
    .map_err(|e| ClientError::from_control(conn, e))?;
    Ok(ctl)
}

/// Connects and asks the relay to continue `session` as `role` (a viewer
/// with its technician's token); the relay's answer is the caller's to read.
async fn ask_resume(
    connector: &Connector,
    role: Role,
    session: &str,
    secret: [u8; 32],
    token: &str,
) -> Result<(Connection, Control), ClientError> {
    let conn = connector
        .connect_within(crate::reconnect::CONNECT_TIMEOUT)
        .await?;
    let mut ctl = open_control(&conn, role).await?;
    let req = ResumeRequest {
        session: session.into(),
        secret,
    };
    let sent = match role {
        Role::Host => ctl.send(&HostRequest::Resume(req)).await,
        Role::Viewer => {
            let token = token.into();
            let req = ViewerRequest::ResumeAs {
                request: req,
                token,
            };
            ctl.send(&req).await
        }
    };
    sent.map_err(|e| ClientError::from_control(&conn, e))?;
    Ok((conn, ctl))
}

/// Hangs up after the relay said no.
fn close_refused(conn: &Connection, why: &str) {
    conn.close(
        quinn::VarInt::from_u32(CloseCode::Ended as u32),
        why.as_bytes(),
    );
}

/// A code the relay issued to this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub session: String,
    pub locator: Locator,
    pub expires_in_s: u32,
}

/// Most audit records a host keeps for one session's receipt (the
/// relay's own cap on a session's reports is 10,000 by default).
pub const MAX_AUDITED: usize = 100_000;

/// A host's link to the relay.
#[derive(Debug)]
pub struct HostLink {
    pub endpoint: Endpoint,
    pub conn: Connection,
    ctl: Control,
    /// To reconnect on the same endpoint.
    pub connector: Connector,
    /// The relay's rules for the session, once it said them.
    policy: Option<SessionPolicy>,
    /// Why the technician joining asks, when the relay said.
    reason: Option<String>,
    /// The session's audit records the relay said are durable (number,
    /// hash), not yet taken ([`HostLink::take_audited`]).
    audited: Vec<(u64, [u8; 32])>,
}

impl HostLink {
    /// Connects and registers; returns the first code.
    pub async fn register(
        relay: &str,
        ca: Option<&Path>,
        host_name: &str,
        os_user: &str,
    ) -> Result<(Self, Registration), ClientError> {
        Self::register_with(&Connector::new(relay, ca).await?, host_name, os_user).await
    }

    /// Registers over a connection from a shared [`Connector`].
    pub async fn register_with(
        connector: &Connector,
        host_name: &str,
        os_user: &str,
    ) -> Result<(Self, Registration), ClientError> {
        let req = HostRequest::Register {
            host_name: host_name.into(),
            os_user: os_user.into(),
        };
        match Self::first_answer(connector, &req).await? {
            (link, Ok(reg)) => Ok((link, reg)),
            (_, Err(other)) => Err(ClientError::Protocol(format!(
                "expected a code, got {other:?}"
            ))),
        }
    }

    /// Moves this host's live code to `connector`'s relay, another of the
    /// cluster (the one it was on is draining). The same code when it is
    /// still unused (`Some`), or `None` when it died meanwhile (the new
    /// link then takes `renew` like after an expiry).
    pub async fn move_with(
        connector: &Connector,
        session: &str,
        locator: lifeline_proto::Locator,
        host_name: &str,
        os_user: &str,
    ) -> Result<(Self, Option<Registration>), ClientError> {
        let req = HostRequest::Move {
            session: session.into(),
            locator,
            host_name: host_name.into(),
            os_user: os_user.into(),
        };
        match Self::first_answer(connector, &req).await? {
            (link, Ok(reg)) => Ok((link, Some(reg))),
            (link, Err(HostEvent::Expired)) => Ok((link, None)),
            (_, Err(other)) => Err(ClientError::Protocol(format!(
                "expected the moved code, got {other:?}"
            ))),
        }
    }

    /// Opens a host's connection with `req` as its first request: the
    /// link and the relay's answer, a code or anything else.
    async fn first_answer(
        connector: &Connector,
        req: &HostRequest,
    ) -> Result<(Self, Result<Registration, HostEvent>), ClientError> {
        let conn = connector.connect().await?;
        let mut ctl = open_control(&conn, Role::Host).await?;
        ctl.send(req)
            .await
            .map_err(|e| ClientError::from_control(&conn, e))?;
        let mut link = Self {
            endpoint: connector.endpoint().clone(),
            conn,
            ctl,
            connector: connector.clone(),
            policy: None,
            reason: None,
            audited: Vec::new(),
        };
        let answer = match link.next_event().await? {
            HostEvent::Registered {
                session,
                locator,
                expires_in_s,
            } => Ok(Registration {
                session,
                locator,
                expires_in_s,
            }),
            other => Err(other),
        };
        Ok((link, answer))
    }

    /// Takes the device session `session` the relay called this enrolled
    /// device for, on a connection of its own: the link, once paired, and
    /// the technician's name as the relay gives it (the device trusts the
    /// handshake's certificate, not this).
    pub async fn answer(
        connector: &Connector,
        (device, token): (&str, &str),
        session: &str,
        os_user: &str,
    ) -> Result<(Self, String), ClientError> {
        let req = HostRequest::Answer {
            device: device.into(),
            token: token.into(),
            session: session.into(),
            os_user: os_user.into(),
        };
        match Self::first_answer(connector, &req).await? {
            (link, Err(HostEvent::Paired { technician, .. })) => Ok((link, technician)),
            (_, other) => Err(ClientError::Protocol(format!(
                "expected the session to pair, got {other:?}"
            ))),
        }
    }

    /// Reconnects and asks the relay to continue `session`; returns once
    /// the viewer is back too (the relay holds us until then).
    pub async fn resume(
        connector: &Connector,
        session: &str,
        secret: [u8; 32],
    ) -> Result<Self, ClientError> {
        let (conn, ctl) = ask_resume(connector, Role::Host, session, secret, "").await?;
        let mut link = Self {
            endpoint: connector.endpoint().clone(),
            conn,
            ctl,
            connector: connector.clone(),
            policy: None,
            reason: None,
            audited: Vec::new(),
        };
        match link.next_event().await? {
            HostEvent::Resumed => Ok(link),
            HostEvent::ResumeRefused(r) => {
                close_refused(&link.conn, "resume refused");
                Err(ClientError::ResumeRefused(r))
            }
            other => Err(ClientError::Protocol(format!(
                "expected the resume's answer, got {other:?}"
            ))),
        }
    }

    /// Asks for a fresh code; it arrives as [`HostEvent::Registered`].
    pub async fn renew(&mut self) -> Result<(), ClientError> {
        self.send(&HostRequest::Renew).await
    }

    /// Reports session metadata for the audit log.
    pub async fn report(&mut self, report: SessionReport) -> Result<(), ClientError> {
        self.send(&HostRequest::Report(report)).await
    }

    /// Hands the relay the next sealed piece of the session's recording.
    pub async fn record(&mut self, chunk: Vec<u8>) -> Result<(), ClientError> {
        self.send(&HostRequest::Record(chunk)).await
    }

    /// Ends the session (or the wait for one) with `reason`, e.g. "ended by the user".
    pub async fn end(mut self, reason: &str) {
        end_session(&self.conn, &mut self.ctl, ViewerOrHost::Host, reason).await;
        // Let the close reach the relay; a shared endpoint may stay busy.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), self.endpoint.wait_idle())
            .await;
    }

    async fn send(&mut self, req: &HostRequest) -> Result<(), ClientError> {
        self.ctl
            .send(req)
            .await
            .map_err(|e| ClientError::from_control(&self.conn, e))
    }

    /// The next thing the relay says. Its policy and the joining
    /// technician's reason are kept, not returned (see
    /// [`HostLink::policy`], [`HostLink::join_reason`]).
    pub async fn next_event(&mut self) -> Result<HostEvent, ClientError> {
        loop {
            let event = self
                .ctl
                .recv()
                .await
                .map_err(|e| ClientError::from_control(&self.conn, e))?;
            match event {
                HostEvent::Policy(p) => self.policy = Some(p),
                HostEvent::JoinReason(r) => self.reason = Some(clean_text(&r)),
                HostEvent::Audited { seq, hash } => {
                    // Bounded: a relay may not make the host keep more
                    // than a session's reports could have written.
                    if self.audited.len() < MAX_AUDITED {
                        self.audited.push((seq, hash));
                    }
                }
                other => return Ok(other),
            }
        }
    }

    /// The relay's rules for the session (sent before it pairs).
    pub fn policy(&self) -> Option<SessionPolicy> {
        self.policy.clone()
    }

    /// Why the technician who joined asks (`--reason`), as the relay
    /// audited it; sent before it pairs, only when they gave one.
    pub fn join_reason(&self) -> Option<String> {
        self.reason.clone()
    }

    /// The session's audit records the relay said are durable since the
    /// last call (number and hash), for the user's receipt.
    pub fn take_audited(&mut self) -> Vec<(u64, [u8; 32])> {
        std::mem::take(&mut self.audited)
    }
}

/// Ends a session on purpose: the relay hears `reason` after every report
/// sent before it (same stream, in order), files it and closes both sides.
async fn end_session(conn: &Connection, ctl: &mut Control, report: ViewerOrHost, reason: &str) {
    let sent = match report {
        ViewerOrHost::Host => {
            ctl.send(&HostRequest::Report(SessionReport::Ending {
                reason: reason.into(),
            }))
            .await
        }
        ViewerOrHost::Viewer => {
            ctl.send(&ViewerRequest::Report(SessionReport::Ending {
                reason: reason.into(),
            }))
            .await
        }
    };
    if sent.is_ok() {
        // The relay closes us once it has filed the end; do not wait forever.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), conn.closed()).await;
    }
    conn.close(
        quinn::VarInt::from_u32(CloseCode::Ended as u32),
        reason.as_bytes(),
    );
}

#[derive(Debug, Clone, Copy)]
enum ViewerOrHost {
    Host,
    Viewer,
}

/// A viewer's link to the relay, paired with a host.
#[derive(Debug)]
pub struct ViewerLink {
    pub endpoint: Endpoint,
    pub conn: Connection,
    ctl: Control,
    /// To reconnect on the same endpoint.
    pub connector: Connector,
    pub session: String,
    pub host_name: String,
    pub os_user: String,
    /// The technician's token, which a resume presents again.
    token: Token,
}

impl ViewerLink {
    /// Connects and joins the host waiting under `locator`.
    pub async fn join(
        relay: &str,
        ca: Option<&Path>,
        token: &str,
        locator: Locator,
    ) -> Result<Self, ClientError> {
        Self::join_with(&Connector::new(relay, ca).await?, token, locator).await
    }

    /// Joins over a connection from a shared [`Connector`].
    pub async fn join_with(
        connector: &Connector,
        token: &str,
        locator: Locator,
    ) -> Result<Self, ClientError> {
        let req = ViewerRequest::Join {
            token: token.trim().into(),
            locator,
        };
        Self::ask(connector, token, &req).await
    }

    /// [`ViewerLink::join_with`] giving why (`--reason`); an empty
    /// reason joins without one.
    pub async fn join_for(
        connector: &Connector,
        token: &str,
        locator: Locator,
        reason: &str,
    ) -> Result<Self, ClientError> {
        if reason.trim().is_empty() {
            return Self::join_with(connector, token, locator).await;
        }
        let req = ViewerRequest::JoinFor {
            token: token.trim().into(),
            locator,
            reason: reason.trim().into(),
        };
        Self::ask(connector, token, &req).await
    }

    /// Asks for a session with the enrolled device `device`, for
    /// `reason`; returns once the device took it (the handshake with it
    /// follows, [`crate::unattended::technician`]).
    /// When the device's group needs a second person's approval,
    /// `waiting` hears how long the relay waits for it (seconds).
    pub async fn connect_device(
        connector: &Connector,
        token: &str,
        (device, reason): (&str, &str),
        waiting: impl Fn(u32),
    ) -> Result<Self, ClientError> {
        let req = ViewerRequest::Connect {
            token: token.trim().into(),
            device: device.into(),
            reason: reason.into(),
        };
        Self::ask_then(connector, token, &req, waiting).await
    }

    /// Opens a viewer's connection with `req`, until the relay pairs it.
    async fn ask(
        connector: &Connector,
        token: &str,
        req: &ViewerRequest,
    ) -> Result<Self, ClientError> {
        Self::ask_then(connector, token, req, |_| {}).await
    }

    /// [`ViewerLink::ask`], telling `waiting` when the relay waits for an
    /// approver.
    async fn ask_then(
        connector: &Connector,
        token: &str,
        req: &ViewerRequest,
        waiting: impl Fn(u32),
    ) -> Result<Self, ClientError> {
        let endpoint = connector.endpoint().clone();
        let conn = connector.connect().await?;
        let mut ctl = open_control(&conn, Role::Viewer).await?;
        ctl.send(req)
            .await
            .map_err(|e| ClientError::from_control(&conn, e))?;
        let mut answer = ctl.recv::<ViewerEvent>().await;
        while let Ok(ViewerEvent::AwaitingApproval { within_s }) = answer {
            waiting(within_s);
            answer = ctl.recv::<ViewerEvent>().await;
        }
        match answer {
            Ok(ViewerEvent::Joined {
                session,
                host_name,
                os_user,
            }) => Ok(Self {
                endpoint,
                conn,
                ctl,
                connector: connector.clone(),
                session,
                host_name,
                os_user,
                token: Token(token.trim().into()),
            }),
            Ok(ViewerEvent::Refused(r)) => {
                close_refused(&conn, "join refused");
                Err(ClientError::Refused(r))
            }
            Ok(ViewerEvent::DeviceRefused(r)) => {
                close_refused(&conn, "device session refused");
                Err(ClientError::DeviceRefused(r))
            }
            Ok(other) => Err(ClientError::Protocol(format!(
                "expected the join's answer, got {other:?}"
            ))),
            Err(e) => Err(ClientError::from_control(&conn, e)),
        }
    }

    /// What [`Resumer::resume`] needs, apart from the link itself (a
    /// reconnecting viewer must not hold the link it may be asked to end).
    pub fn resumer(&self) -> Resumer {
        Resumer {
            connector: self.connector.clone(),
            session: self.session.clone(),
            host_name: self.host_name.clone(),
            os_user: self.os_user.clone(),
            token: self.token.clone(),
        }
    }

    /// Ends the session with `reason`, e.g. "disconnected by the technician".
    pub async fn end(mut self, reason: &str) {
        end_session(&self.conn, &mut self.ctl, ViewerOrHost::Viewer, reason).await;
        // Let the close reach the relay; a shared endpoint may stay busy.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), self.endpoint.wait_idle())
            .await;
    }

    /// Reports session metadata for the audit log.
    pub async fn report(&mut self, report: SessionReport) -> Result<(), ClientError> {
        self.ctl
            .send(&ViewerRequest::Report(report))
            .await
            .map_err(|e| ClientError::from_control(&self.conn, e))
    }
}

/// How a viewer reconnects to its session; see [`ViewerLink::resumer`].
#[derive(Debug, Clone)]
pub struct Resumer {
    connector: Connector,
    session: String,
    host_name: String,
    os_user: String,
    token: Token,
}

/// A technician's token, kept to present again on a resume; never shown
/// in debug output.
#[derive(Clone)]
struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(…)")
    }
}

impl Resumer {
    /// Reconnects and asks the relay to continue the session; returns the
    /// new link once the host is back too.
    pub async fn resume(&self, secret: [u8; 32]) -> Result<ViewerLink, ClientError> {
        let (conn, mut ctl) = ask_resume(
            &self.connector,
            Role::Viewer,
            &self.session,
            secret,
            &self.token.0,
        )
        .await?;
        match ctl.recv::<ViewerEvent>().await {
            Ok(ViewerEvent::Resumed) => Ok(ViewerLink {
                endpoint: self.connector.endpoint().clone(),
                conn,
                ctl,
                connector: self.connector.clone(),
                session: self.session.clone(),
                host_name: self.host_name.clone(),
                os_user: self.os_user.clone(),
                token: self.token.clone(),
            }),
            Ok(ViewerEvent::ResumeRefused(r)) => {
                close_refused(&conn, "resume refused");
                Err(ClientError::ResumeRefused(r))
            }
            Ok(other) => Err(ClientError::Protocol(format!(
                "expected the resume's answer, got {other:?}"
            ))),
            Err(e) => Err(ClientError::from_control(&conn, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_we_closed_is_not_resumed_one_that_vanished_is() {
        assert!(!ClientError::from_connection(&ConnectionError::LocallyClosed).resumable());
        assert!(ClientError::from_connection(&ConnectionError::TimedOut).resumable());
        assert!(ClientError::from_connection(&ConnectionError::Reset).resumable());
    }

    #[test]
    fn addresses() {
        assert_eq!(
            split_addr("relay.example:4433").unwrap(),
            ("relay.example".into(), 4433)
        );
        assert_eq!(split_addr("[::1]:9").unwrap(), ("::1".into(), 9));
        assert!(matches!(
            split_addr("nohost"),
            Err(ClientError::BadAddress(_))
        ));
        assert!(matches!(split_addr(":80"), Err(ClientError::BadAddress(_))));
        assert!(matches!(
            split_addr("h:99999"),
            Err(ClientError::BadAddress(_))
        ));
    }
}
