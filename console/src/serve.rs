//! The console's HTTPS listener: TLS with the relay's certificate, HTTP/1.1,
//! each connection on a task of its own with the client's address attached
//! to its requests. `serve(listener, tls, console, shutdown)` lets tests
//! drive it in-process.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::Console;

/// The client's address, attached to every request of its connection.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

/// Most connections served at once.
const MAX_CONNECTIONS: usize = 512;
/// How long a client may take over the TLS handshake or a request's headers.
const SLOW_CLIENT: Duration = Duration::from_secs(10);

/// The TLS configuration for the console: the relay's certificate, HTTP/1.1.
pub fn tls_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<rustls::ServerConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
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
    let acceptor = TlsAcceptor::from(tls);
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut tasks = JoinSet::new();
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
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    let Ok(permit) = limit.clone().try_acquire_owned() else {
                        tracing::warn!(%peer, "console connection limit reached; refusing");
                        continue;
                    };
                    tasks.spawn(connection(tcp, peer, acceptor.clone(), router.clone(), permit));
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
    acceptor: TlsAcceptor,
    router: axum::Router,
    _permit: OwnedSemaphorePermit,
) {
    let tls = match tokio::time::timeout(SLOW_CLIENT, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "console TLS handshake failed");
            return;
        }
        Err(_) => return,
    };
    let ip = ClientIp(peer.ip());
    let service =
        hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ip);
            tower::ServiceExt::oneshot(router.clone(), req)
        });
    let served = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(SLOW_CLIENT)
        .serve_connection(TokioIo::new(tls), service)
        .await;
    if let Err(e) = served {
        tracing::debug!(%peer, error = %e, "console connection ended with an error");
    }
}
