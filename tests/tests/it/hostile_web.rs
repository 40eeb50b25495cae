//! Hostile peers: hostile browsers against `lifeline-relay serve --web`
//! (issue #31).
//!
//! Each test starts the real relay binary with `--web` and speaks to it as
//! a script posing as a browser would: HTTPS for the page and `/relay.json`
//! (rustls, trusting the relay's CA), then QUIC with ALPN `h3` on the
//! relay's UDP port, accepting the WebTransport certificate by the hash
//! `/relay.json` gives, as a browser's `serverCertificateHashes` does, and
//! WebTransport itself with `web-transport-quinn`'s client: a connection
//! that never asks for WebTransport, a CONNECT to the wrong path, a
//! browser that says it is a host, a wrong token, many browsers from one
//! address. Needs the page's files (`scripts/web build`);
//! `LIFELINE_REQUIRE_BROWSER=1` fails instead of skipping without them.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use lifeline_net::client::{ClientError as NetError, HostLink};
use lifeline_proto::Locator;
use lifeline_proto::audit::AuditEvent;
use lifeline_proto::control::{
    CloseCode, Hello, HostRequest, JoinRefusal, PROTOCOL_VERSION, Role, ViewerEvent, ViewerRequest,
};
use lifeline_proto::frame::{self, FrameDecoder, FrameError, MAX_CONTROL_FRAME};
use lifeline_tests::{RelayProcess, audit_records, bin, relay_cli};
use quinn::rustls;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use web_transport_quinn::proto as wt;
use web_transport_quinn::{ClientError, Session};

/// Whether the page's files are built beside the relay binary; with
/// LIFELINE_REQUIRE_BROWSER set they must be.
fn skip() -> bool {
    let built = bin("lifeline-relay")
        .parent()
        .is_some_and(|d| d.join("../web/index.html").is_file());
    if built {
        return false;
    }
    assert!(
        std::env::var_os("LIFELINE_REQUIRE_BROWSER").is_none(),
        "the page's files are missing: run scripts/web build"
    );
    eprintln!("SKIPPED: no page files (scripts/web build)");
    true
}

/// Accepts exactly the certificate whose SHA-256 `/relay.json` named, as
/// a browser given `serverCertificateHashes` does (signatures checked).
#[derive(Debug)]
struct ByHash {
    sha256: Vec<u8>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for ByHash {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if Sha256::digest(end_entity.as_ref()).as_slice() == self.sha256 {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algs)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        let algs = &self.provider.signature_verification_algorithms;
        algs.supported_schemes()
    }
}

/// One HTTPS answer: its status, its header block (lower-cased names)
/// and its body.
struct Answer {
    status: u16,
    head: String,
    body: String,
}

impl Answer {
    /// The value of header `name` (lower case), if sent.
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then_some(v.trim())
        })
    }
}

/// A relay serving `--web`, and what a browser learns from its page.
struct Web {
    relay: RelayProcess,
    data: tempfile::TempDir,
    page: SocketAddr,
    https: Arc<rustls::ClientConfig>,
    /// Where WebTransport is: the relay's UDP port on the page's host.
    quic: SocketAddr,
    h3: quinn::ClientConfig,
}

impl Web {
    /// Starts the relay with `--web` and `extra`, and reads `/relay.json`.
    fn start(extra: &[&str]) -> Self {
        let data = tempfile::tempdir().unwrap();
        let mut args = vec!["--web", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let relay = RelayProcess::start(data.path(), &args);
        let url = relay.web.clone().expect("the relay printed the page's URL");
        let page: SocketAddr = url.trim_start_matches("https://").parse().unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = lifeline_certs::client_roots(Some(&data.path().join("ca.pem"))).unwrap();
        let https = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let https = Arc::new(https);
        let json = get(page, &https, "/relay.json");
        assert_eq!(json.status, 200, "{}", json.body);
        let told: serde_json::Value = serde_json::from_str(&json.body).unwrap();
        let wt = &told["webtransport"];
        assert_eq!(wt["path"], "/lifeline", "{told}");
        let port = u16::try_from(wt["port"].as_u64().unwrap()).unwrap();
        assert_eq!(port, relay.addr.port(), "{told}");
        let hash = wt["hashes"][0].as_str().expect("a certificate hash");
        let sha256 = base64::engine::general_purpose::STANDARD
            .decode(hash)
            .unwrap();
        assert_eq!(sha256.len(), 32, "{told}");
        Self {
            relay,
            data,
            page,
            https,
            quic: SocketAddr::new(page.ip(), port),
            h3: h3_config(ByHash { sha256, provider }),
        }
    }

    fn dir(&self) -> &Path {
        self.data.path()
    }

    /// `GET path` over HTTPS to the page.
    fn get(&self, path: &str) -> Answer {
        get(self.page, &self.https, path)
    }

    /// A QUIC connection with ALPN `h3` to the relay's UDP port, its
    /// handshake done, nothing said on it yet.
    async fn quic(
        &self,
    ) -> (
        quinn::Endpoint,
        Result<quinn::Connection, quinn::ConnectionError>,
    ) {
        let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
        endpoint.set_default_client_config(self.h3.clone());
        let conn = endpoint.connect(self.quic, "localhost").unwrap().await;
        (endpoint, conn)
    }

    /// WebTransport at `path`: the QUIC connection (kept open by this
    /// handle whatever becomes of the session) and the session, or why the
    /// CONNECT failed.
    async fn session(&self, path: &str) -> (Browser, Result<Session, ClientError>) {
        let (endpoint, conn) = self.quic().await;
        let conn = conn.expect("the relay took the h3 handshake");
        let url = url::Url::parse(&format!("https://{}{path}", self.quic)).unwrap();
        let session = Session::connect(conn.clone(), url).await;
        (Browser { endpoint, conn }, session)
    }

    /// A browser's WebTransport session at `/lifeline`.
    async fn browser(&self) -> (Browser, Session) {
        let (b, s) = self.session("/lifeline").await;
        (b, s.expect("the relay accepted WebTransport at /lifeline"))
    }
}

/// `GET path` over HTTPS, the path sent exactly as given.
fn get(page: SocketAddr, https: &Arc<rustls::ClientConfig>, path: &str) -> Answer {
    let mut tcp = TcpStream::connect(page).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let name = ServerName::from(page.ip());
    let mut conn = rustls::ClientConnection::new(https.clone(), name).unwrap();
    let mut tls = rustls::Stream::new(&mut conn, &mut tcp);
    let host = page;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    tls.write_all(request.as_bytes()).unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match tls.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            // The server may close without TLS's close_notify.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => panic!("reading the answer to {path}: {e}"),
        }
    }
    let text = String::from_utf8_lossy(&got).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    Answer {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

/// The QUIC client config a browser uses for WebTransport: ALPN `h3`,
/// the server's certificate accepted by hash, kept alive.
fn h3_config(verifier: ByHash) -> quinn::ClientConfig {
    let mut tls = rustls::ClientConfig::builder_with_provider(verifier.provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"h3".to_vec()];
    let quic = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
    let mut config = quinn::ClientConfig::new(Arc::new(quic));
    // Keep-alives, as a hostile peer would send, so that only the relay's
    // deadlines (not the idle timeout) can end a silent connection.
    let mut transport = quinn::TransportConfig::default();
    transport.keep_alive_interval(Some(Duration::from_secs(1)));
    config.transport_config(Arc::new(transport));
    config
}

/// A browser's QUIC connection, held open by the test.
struct Browser {
    #[allow(dead_code)]
    endpoint: quinn::Endpoint,
    conn: quinn::Connection,
}

/// How the relay closed `conn` (its code and sentence), waiting `within`.
async fn closed(
    conn: &quinn::Connection,
    within: Duration,
    what: &str,
) -> (Option<CloseCode>, String) {
    let Ok(err) = tokio::time::timeout(within, conn.closed()).await else {
        panic!("the relay kept {what} open beyond {within:?}")
    };
    match NetError::from_connection(&err) {
        NetError::Closed { code, reason } => (code, reason),
        other => panic!("{what}: expected a close with a code, got {other:?} ({err})"),
    }
}

/// Writes one control frame (`frame::encode`'s bytes).
async fn send(w: &mut (impl AsyncWrite + Unpin), frame: Result<Vec<u8>, FrameError>) {
    w.write_all(&frame.unwrap()).await.unwrap();
}

/// The relay's next event on a control stream (`None` if the stream
/// ended or broke first).
async fn recv(r: &mut (impl AsyncRead + Unpin), frames: &mut FrameDecoder) -> Option<ViewerEvent> {
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        if let Some(msg) = frames.next_message::<ViewerEvent>().unwrap() {
            return Some(msg);
        }
        match r.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => frames.push(&chunk[..n]),
        }
    }
}

/// Says hello as a viewer and joins `locator` with `token` on a control
/// stream: the relay's answer.
async fn join(
    (s, r): &mut (impl AsyncWrite + Unpin, impl AsyncRead + Unpin),
    token: &str,
    locator: Locator,
) -> ViewerEvent {
    let hello = Hello {
        version: PROTOCOL_VERSION,
        role: Role::Viewer,
    };
    send(s, frame::encode(&hello, MAX_CONTROL_FRAME)).await;
    let request = ViewerRequest::Join {
        token: token.into(),
        locator,
    };
    send(s, frame::encode(&request, MAX_CONTROL_FRAME)).await;
    let mut frames = FrameDecoder::new(MAX_CONTROL_FRAME);
    let answer = tokio::time::timeout(Duration::from_secs(10), recv(r, &mut frames));
    answer
        .await
        .expect("the relay answered the join in time")
        .expect("the relay answered the join before closing")
}

/// A WebTransport session made by hand with `web-transport-quinn`'s
/// protocol types (SETTINGS, CONNECT, the bidi stream header), for tests
/// that read the relay's close code: the crate's own client closes the
/// connection itself when the relay's close ends its CONNECT stream, and
/// quinn then reports that local close instead of the relay's code.
struct Bare {
    browser: Browser,
    /// Our SETTINGS stream and the CONNECT stream: the session lives as
    /// long as they do.
    _streams: (quinn::SendStream, quinn::SendStream, quinn::RecvStream),
    session_id: wt::VarInt,
}

impl Bare {
    async fn connect(web: &Web) -> Self {
        let (endpoint, conn) = web.quic().await;
        let conn = conn.expect("the relay took the h3 handshake");
        let mut settings = wt::Settings::default();
        settings.enable_webtransport(1);
        let mut control = conn.open_uni().await.unwrap();
        settings.write(&mut control).await.unwrap();
        let (mut send, mut recv) = conn.open_bi().await.unwrap();
        let url = url::Url::parse(&format!("https://{}/lifeline", web.quic)).unwrap();
        wt::ConnectRequest::new(url).write(&mut send).await.unwrap();
        let response = wt::ConnectResponse::read(&mut recv).await.unwrap();
        assert_eq!(response.status, 200);
        let session_id = wt::VarInt::try_from(quinn::VarInt::from(send.id()).into_inner()).unwrap();
        Self {
            browser: Browser { endpoint, conn },
            _streams: (control, send, recv),
            session_id,
        }
    }

    /// A bidirectional stream of the session (its header written).
    async fn open_bi(&self) -> (quinn::SendStream, quinn::RecvStream) {
        let (mut s, r) = self.browser.conn.open_bi().await.unwrap();
        let mut header = Vec::new();
        wt::Frame::WEBTRANSPORT.encode(&mut header);
        self.session_id.encode(&mut header);
        s.write_all(&header).await.unwrap();
        (s, r)
    }
}

/// A token no technician has (the relay's tokens are longer and random).
const WRONG_TOKEN: &str = "llt_0000000000000000000000000000000000000000000";

/// Whether the audit log holds anything a join or a code would leave.
fn joined_or_coded(dir: &Path) -> Vec<AuditEvent> {
    audit_records(dir)
        .into_iter()
        .map(|r| r.event)
        .filter(|e| {
            matches!(
                e,
                AuditEvent::JoinAttempt { .. }
                    | AuditEvent::SessionStarted { .. }
                    | AuditEvent::CodeIssued { .. }
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_that_never_asks_for_webtransport_is_closed_in_time_and_frees_its_slot() {
    if skip() {
        return;
    }
    let web = Web::start(&["--max-connections-per-ip", "1"]);
    let (_ep, silent) = web.quic().await;
    let silent = silent.expect("the relay took the h3 handshake");

    // While it says nothing it holds its address's one slot.
    let (_ep2, second) = web.quic().await;
    let (code, reason) = closed(&second.unwrap(), Duration::from_secs(5), "a second browser").await;
    assert_eq!(code, Some(CloseCode::Busy), "{reason}");
    assert!(reason.contains("too many connections"), "{reason}");

    // The hello deadline (10 s) closes it, saying why.
    let (_code, reason) = closed(&silent, Duration::from_secs(15), "a silent h3 connection").await;
    assert!(reason.contains("in time"), "{reason}");
    // Its slot is back: a browser gets in and is served.
    let (_b, session) = web.browser().await;
    let mut ctl = session.open_bi().await.unwrap();
    let answer = join(&mut ctl, WRONG_TOKEN, Locator::new(12_345).unwrap()).await;
    assert_eq!(answer, ViewerEvent::Refused(JoinRefusal::UnknownToken));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webtransport_at_any_other_path_is_404_and_joins_nothing() {
    if skip() {
        return;
    }
    let web = Web::start(&["--max-connections-per-ip", "1"]);
    for path in ["/admin", "/", "/lifeline/x", "/lifelines"] {
        let (b, session) = web.session(path).await;
        use web_transport_quinn::ConnectError as E;
        match session {
            Err(ClientError::HttpError(
                E::ErrorStatus(s) | E::ProtoError(wt::ConnectError::WrongStatus(Some(s))),
            )) => assert_eq!(s, 404, "{path}"),
            Err(other) => panic!("{path}: expected 404, got {other}"),
            Ok(_) => panic!("{path}: the relay accepted WebTransport there"),
        }
        // The relay lets the connection go (its slot with it: the next
        // path's connection is let in under a cap of one).
        let (_code, _reason) = closed(&b.conn, Duration::from_secs(5), path).await;
    }
    let joined = joined_or_coded(web.dir());
    assert!(joined.is_empty(), "{joined:?}");
    let (_b, session) = web.browser().await;
    drop(session);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_that_says_it_is_a_host_is_refused() {
    if skip() {
        return;
    }
    let web = Web::start(&[]);
    let bare = Bare::connect(&web).await;
    let (mut s, _r) = bare.open_bi().await;
    let hello = Hello {
        version: PROTOCOL_VERSION,
        role: Role::Host,
    };
    send(&mut s, frame::encode(&hello, MAX_CONTROL_FRAME)).await;
    let register = HostRequest::Register {
        host_name: "browser-pc".into(),
        os_user: "mallory".into(),
    };
    send(&mut s, frame::encode(&register, MAX_CONTROL_FRAME)).await;
    let (code, reason) = closed(&bare.browser.conn, Duration::from_secs(5), "a browser host").await;
    assert_eq!(code, Some(CloseCode::ProtocolError), "{reason}");
    assert_eq!(reason, "a browser may only view");
    // No code was issued for it.
    let coded = joined_or_coded(web.dir());
    assert!(coded.is_empty(), "{coded:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_with_a_wrong_token_is_refused_and_audited_with_its_address() {
    if skip() {
        return;
    }
    let web = Web::start(&[]);
    let d = web.dir().to_str().unwrap().to_owned();
    let (rc, _token, err) = relay_cli(&["technician", "add", "wendy", "--data-dir", &d]);
    assert_eq!(rc, 0, "{err}");
    // A real host waits, so only the token is wrong.
    let ca = web.dir().join("ca.pem");
    let (_host, reg) = HostLink::register(&web.relay.addr.to_string(), Some(&ca), "pc", "ann")
        .await
        .unwrap();

    let bare = Bare::connect(&web).await;
    let answer = join(&mut bare.open_bi().await, WRONG_TOKEN, reg.locator).await;
    assert_eq!(answer, ViewerEvent::Refused(JoinRefusal::UnknownToken));
    let (code_, reason) = closed(
        &bare.browser.conn,
        Duration::from_secs(5),
        "a refused browser",
    )
    .await;
    assert_eq!(code_, Some(CloseCode::Refused), "{reason}");

    let attempts: Vec<_> = audit_records(web.dir())
        .into_iter()
        .filter_map(|r| match r.event {
            AuditEvent::JoinAttempt {
                technician,
                ip,
                locator,
                ok,
                reason,
                ..
            } => Some((technician, ip, locator, ok, reason)),
            _ => None,
        })
        .collect();
    assert_eq!(
        attempts,
        [(
            None,
            "127.0.0.1".to_owned(),
            reg.locator.to_string(),
            false,
            Some("unknown token".to_owned())
        )]
    );
    assert!(
        !audit_records(web.dir())
            .iter()
            .any(|r| matches!(r.event, AuditEvent::SessionStarted { .. }))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_has_a_strict_policy_and_serves_nothing_but_its_files() {
    if skip() {
        return;
    }
    let web = Web::start(&[]);
    for path in ["/", "/relay.json", "/index.html"] {
        let a = web.get(path);
        assert_eq!(a.status, 200, "{path}: {}", a.head);
        let csp = a
            .header("content-security-policy")
            .unwrap_or_else(|| panic!("{path} has no CSP: {}", a.head));
        assert!(
            csp.contains("script-src 'self' 'wasm-unsafe-eval'"),
            "{path}: {csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
        assert_eq!(
            a.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
    }
    // The relay's own files sit beside nothing the page serves.
    assert!(web.dir().join("ca.pem").is_file());
    assert!(web.dir().join("audit.jsonl").is_file());
    for path in [
        "/ca.pem",
        "/ca-key.pem",
        "/audit.jsonl",
        "/../audit.jsonl",
        "/%2e%2e/audit.jsonl",
        "/..%2faudit.jsonl",
        "/%2e%2e%2faudit.jsonl",
        "/..%5caudit.jsonl",
        "/SHA256SUMS",
        "/../../../etc/passwd",
        "/index.html/..",
        "//etc/passwd",
    ] {
        let a = web.get(path);
        assert_eq!(a.status, 404, "{path}: {}\n{}", a.head, a.body);
        assert!(!a.body.contains("BEGIN"), "{path}: {}", a.body);
        assert!(!a.body.contains("\"event\""), "{path}: {}", a.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_from_one_address_are_capped_like_native_peers() {
    if skip() {
        return;
    }
    let web = Web::start(&["--max-connections-per-ip", "3"]);
    let ca = web.dir().join("ca.pem");
    let addr = web.relay.addr.to_string();

    // Two browsers in WebTransport and one silent native peer: three.
    let (_b1, s1) = web.browser().await;
    let (_b2, _s2) = web.browser().await;
    let (_native_ep, _native) = lifeline_net::client::connect(&addr, Some(&ca))
        .await
        .unwrap();

    // A fourth, browser or native, is turned away and told why.
    let mut refused = 0u64;
    for _ in 0..2 {
        let (_ep, conn) = web.quic().await;
        let (code, reason) =
            closed(&conn.unwrap(), Duration::from_secs(5), "a fourth browser").await;
        assert_eq!(code, Some(CloseCode::Busy), "{reason}");
        assert!(
            reason.contains("too many connections from your address (this relay allows 3)"),
            "{reason}"
        );
        refused += 1;
    }
    let (_ep, native) = lifeline_net::client::connect(&addr, Some(&ca))
        .await
        .unwrap();
    let (code, reason) = closed(&native, Duration::from_secs(5), "a fourth native peer").await;
    assert_eq!(code, Some(CloseCode::Busy), "{reason}");
    refused += 1;

    // A browser that leaves gives its slot back: another gets in.
    s1.close(0, b"bye");
    let deadline = Instant::now() + Duration::from_secs(5);
    let (_b, s4) = loop {
        let (b, s) = web.session("/lifeline").await;
        match s {
            Ok(s) => break (b, s),
            Err(e) => {
                refused += 1;
                assert!(Instant::now() < deadline, "the slot never came back: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    let mut ctl = s4.open_bi().await.unwrap();
    let answer = join(&mut ctl, WRONG_TOKEN, Locator::new(12_345).unwrap()).await;
    assert_eq!(answer, ViewerEvent::Refused(JoinRefusal::UnknownToken));

    // The refusals are one counted record, as a native flood's are.
    let deadline = Instant::now() + Duration::from_secs(30);
    let record = loop {
        let found = audit_records(web.dir())
            .into_iter()
            .find_map(|r| match r.event {
                AuditEvent::ConnectionsRefused {
                    ip,
                    limit,
                    cap,
                    refused,
                    ..
                } => Some((ip, limit, cap, refused)),
                _ => None,
            });
        if let Some(found) = found {
            break found;
        }
        assert!(Instant::now() < deadline, "no record of the refusals");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        record,
        ("127.0.0.1".into(), "connections_per_ip".into(), 3, refused)
    );
}
