//! A new connection's first words: the hello (version, role) within the
//! deadline, and each side's first request; anything else closes it with
//! a [`Refusal`].

use super::*;

/// Serves one new connection: its hello, then the host's or the
/// viewer's side.
pub(crate) async fn serve_connection(relay: &Arc<Relay>, incoming: quinn::Incoming) {
    let peer = incoming.remote_address();
    let conn = match incoming.await {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(%peer, error = %e, "handshake failed");
            return;
        }
    };
    let greeting = first_message::<Hello>(relay.config.hello_timeout, &conn).await;
    let (ctl, hello) = match greeting {
        Ok(Ok(x)) => x,
        Ok(Err(why)) => {
            tracing::info!(%peer, %why, "dropping peer before hello");
            close(&conn, &Refusal::NotHello(why));
            return;
        }
        Err(_) => {
            close(&conn, &Refusal::Timeout("no hello in time"));
            return;
        }
    };
    if hello.version != PROTOCOL_VERSION {
        let refusal = Refusal::Version {
            relay: PROTOCOL_VERSION,
            client: hello.version,
        };
        close(&conn, &refusal);
        return;
    }
    match hello.role {
        Role::Host => serve_host(relay, conn, ctl).await,
        Role::Viewer => serve_viewer(relay, conn, ctl).await,
    }
}

/// Reads the first request with the hello deadline; closes the connection
/// with a reason on anything else.
pub(crate) async fn first_request<T: serde::de::DeserializeOwned>(
    relay: &Relay,
    conn: &Connection,
    ctl: &mut Control,
) -> Option<T> {
    match tokio::time::timeout(relay.config.hello_timeout, ctl.recv::<T>()).await {
        Ok(Ok(req)) => Some(req),
        Ok(Err(ControlError::Frame(e))) => {
            close(conn, &Refusal::Protocol(e.to_string()));
            None
        }
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "peer left before its first request");
            None
        }
        Err(_) => {
            close(conn, &Refusal::Timeout("no request in time"));
            None
        }
    }
}
