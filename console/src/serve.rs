//! The console's HTTPS listener: TLS with the relay's certificate, HTTP/1.1,
//! each connection on a task of its own with the client's address attached
//! to its requests. `serve(listener, tls, console, shutdown)` lets tests
//! drive it in-process.
//!
//! Slow clients cannot hold it: at most [`MAX_CONNECTIONS`] connections,
//! [`MAX_PER_ADDRESS`] from one address (an IPv6 /64 counts as one); the
//! TLS handshake, each request's headers and the wait for the next
//! request on a kept-alive connection get [`SLOW_CLIENT`] each, and a
//! request's body [`crate::routes::BODY_TIME`] (at most
//! [`crate::routes::MAX_BODY`]).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::Console;

/// The client's address, attached to every request of its connection.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

/// Most connections served at once.
pub const MAX_CONNECTIONS: usize = 512;
/// Most connections served at once from one address (a browser opens ~6).
pub const MAX_PER_ADDRESS: usize = 16;
/// How long a client may take over the TLS handshake, a request's
/// headers, or before its next request on a kept-alive connection (hyper's
/// header timer runs from the moment the connection waits for a request).
pub const SLOW_CLIENT: Duration = Duration::from_secs(10);

/// Connections open per address; a slot is given back when its
/// [`AddressSlot`] drops.
#[derive(Debug, Default, Clone)]
struct PerAddress(Arc<Mutex<HashMap<IpAddr, usize>>>);

/// One connection's place in [`PerAddress`].
#[derive(Debug)]
struct AddressSlot {
    table: PerAddress,
    key: IpAddr,
}

/// What counts as one address: an IPv4 address (also when mapped into
/// IPv6), or an IPv6 /64 (what one subscriber gets).
pub(crate) fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

impl PerAddress {
    /// A slot for `ip`, unless it has [`MAX_PER_ADDRESS`] already.
    fn take(&self, ip: IpAddr) -> Option<AddressSlot> {
        let key = address_key(ip);
        let mut open = crate::lock(&self.0);
        let n = open.entry(key).or_insert(0);
        if *n >= MAX_PER_ADDRESS {
            return None;
        }
        *n += 1;
        Some(AddressSlot {
            table: self.clone(),
            key,
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = crate::lock(&self.table.0);
        if let Some(n) = open.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// The TLS configuration for the console: the relay's certificate (as
/// `cert` resolves it at each handshake, so a renewed one is served at
/// once), HTTP/1.1.
pub fn tls_config(
    cert: Arc<dyn rustls::server::ResolvesServerCert>,
) -> Result<Arc<rustls::ServerConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(cert);
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(tls))
}

/// Serves the console on `listener` until `shutdown` resolves; open
/// connections are dropped then.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    console: Arc<Console>,
    shutdown: impl Future<Output = ()>,
) {
    let router = super::routes::router(console.clone());
    let mut tasks = JoinSet::new();
    // Refused logins are counted into bursts; each burst's record is
    // written when it is over.
    let bursts = console.clone();
    tasks.spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            bursts.write_bursts(false).await;
        }
    });
    // Index the log now, not on the first page someone opens.
    let warm = console.clone();
    tasks.spawn(async move {
        // A failure here is logged; each page tries again and says why.
        match tokio::task::spawn_blocking(move || warm.with_index(|_| Ok(()))).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "indexing the audit log failed"),
            Err(e) => tracing::error!(error = %e, "indexing the audit log failed"),
        }
    });
    serve_router(listener, tls, router, shutdown).await;
    tasks.abort_all();
    console.write_bursts(true).await;
}

/// Serves `router` over HTTPS on `listener` until `shutdown` resolves,
/// with the console's limits on slow and numerous clients (the browser
/// viewer's page is served so too); open connections are dropped then.
pub async fn serve_router(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    router: axum::Router,
    shutdown: impl Future<Output = ()>,
) {
    accept_loop(listener, Some(TlsAcceptor::from(tls)), router, shutdown).await;
}

/// [`serve_router`] over plain HTTP, with the same limits: for what a
/// scraper on the operator's own network reads (the metrics).
pub async fn serve_plain(
    listener: TcpListener,
    router: axum::Router,
    shutdown: impl Future<Output = ()>,
) {
    accept_loop(listener, None, router, shutdown).await;
}

/// Takes connections (TLS when `acceptor` is given) until `shutdown`.
async fn accept_loop(
    listener: TcpListener,
    acceptor: Option<TlsAcceptor>,
    router: axum::Router,
    shutdown: impl Future<Output = ()>,
) {
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let per_address = PerAddress::default();
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    let Some(slot) = per_address.take(peer.ip()) else {
                        tracing::debug!(%peer, "console connections from this address at their limit; refusing");
                        continue;
                    };
                    let Ok(permit) = limit.clone().try_acquire_owned() else {
                        tracing::warn!(%peer, "console connection limit reached; refusing");
                        continue;
                    };
                    let held = (permit, slot);
                    tasks.spawn(connection(tcp, peer, acceptor.clone(), router.clone(), held));
                }
                Err(e) => {
                    // Out of file descriptors, most likely: wait, do not spin.
                    tracing::warn!(error = %e, "console accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    tasks.abort_all();
}

async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    acceptor: Option<TlsAcceptor>,
    router: axum::Router,
    _held: (OwnedSemaphorePermit, AddressSlot),
) {
    let Some(acceptor) = acceptor else {
        return http(TokioIo::new(tcp), peer, router).await;
    };
    let tls = match tokio::time::timeout(SLOW_CLIENT, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "console TLS handshake failed");
            return;
        }
        Err(_) => return,
    };
    http(TokioIo::new(tls), peer, router).await;
}

/// HTTP/1.1 on one connection, the router answering.
async fn http<I>(io: TokioIo<I>, peer: SocketAddr, router: axum::Router)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let ip = ClientIp(peer.ip());
    let service =
        hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ip);
            tower::ServiceExt::oneshot(router.clone(), req)
        });
    let served = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(SLOW_CLIENT)
        .serve_connection(io, service)
        .await;
    if let Err(e) = served {
        tracing::debug!(%peer, error = %e, "console connection ended with an error");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_its_share_of_connections_back_when_they_close() {
        let table = PerAddress::default();
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let held: Vec<_> = (0..MAX_PER_ADDRESS)
            .map(|_| table.take(a).unwrap())
            .collect();
        assert!(table.take(a).is_none());
        assert!(table.take("127.0.0.2".parse().unwrap()).is_some());
        // The same /64, and a v4 address mapped into IPv6, count as one.
        let six: IpAddr = "2001:db8::1".parse().unwrap();
        let _six: Vec<_> = (0..MAX_PER_ADDRESS)
            .map(|_| table.take(six).unwrap())
            .collect();
        assert!(table.take("2001:db8::ffff:1".parse().unwrap()).is_none());
        assert!(table.take("2001:db8:0:1::1".parse().unwrap()).is_some());
        assert!(table.take("::ffff:127.0.0.1".parse().unwrap()).is_none());
        drop(held);
        assert!(table.take(a).is_some());
        assert!(!crate::lock(&table.0).contains_key(&"127.0.0.2".parse::<IpAddr>().unwrap()));
    }
}
