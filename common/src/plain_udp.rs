//! A plain UDP socket for QUIC, for systems that refuse the socket
//! options quinn's own socket sets up (explicit congestion notification,
//! reading `IPV6_V6ONLY` on an IPv4 socket): Wine 8 refuses both, so the
//! Windows builds under Wine could not open an endpoint at all. One
//! datagram per call, no ECN, no segmentation offload: what any UDP
//! socket can do. [`crate::tls::wrap_socket`] tries quinn's socket first
//! and uses this only when that fails.

use std::fmt;
use std::future::Future;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use quinn::udp::{RecvMeta, Transmit};
use quinn::{AsyncUdpSocket, UdpPoller};
use tokio::io::ReadBuf;

/// A UDP socket driven by tokio, without quinn's socket options.
#[derive(Debug)]
pub struct PlainUdp {
    io: tokio::net::UdpSocket,
}

impl PlainUdp {
    /// Takes over `socket` (made non-blocking); needs a tokio runtime.
    pub fn new(socket: std::net::UdpSocket) -> io::Result<Self> {
        socket.set_nonblocking(true)?;
        Ok(Self {
            io: tokio::net::UdpSocket::from_std(socket)?,
        })
    }
}

type Writable = Pin<Box<dyn Future<Output = io::Result<()>> + Send + Sync>>;

/// Waits until the socket can be written to, for one task.
struct Poller {
    socket: Arc<PlainUdp>,
    waiting: Option<Writable>,
}

impl fmt::Debug for Poller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Poller")
    }
}

impl UdpPoller for Poller {
    fn poll_writable(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let waiting = this.waiting.get_or_insert_with(|| {
            let socket = this.socket.clone();
            Box::pin(async move { socket.io.writable().await })
        });
        let result = ready!(waiting.as_mut().poll(cx));
        this.waiting = None;
        Poll::Ready(result)
    }
}

impl AsyncUdpSocket for PlainUdp {
    fn create_io_poller(self: Arc<Self>) -> Pin<Box<dyn UdpPoller>> {
        Box::pin(Poller {
            socket: self,
            waiting: None,
        })
    }

    fn try_send(&self, transmit: &Transmit<'_>) -> io::Result<()> {
        // One datagram a transmit (max_transmit_segments is 1).
        self.io
            .try_send_to(transmit.contents, transmit.destination)
            .map(|_| ())
    }

    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        let (Some(buf), Some(slot)) = (bufs.first_mut(), meta.first_mut()) else {
            return Poll::Ready(Ok(0));
        };
        let mut read = ReadBuf::new(buf);
        let addr = ready!(self.io.poll_recv_from(cx, &mut read))?;
        let len = read.filled().len();
        *slot = RecvMeta {
            addr,
            len,
            stride: len,
            ecn: None,
            dst_ip: None,
        };
        Poll::Ready(Ok(1))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.local_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two QUIC endpoints, each on a plain socket, talk on loopback.
    #[tokio::test]
    async fn quic_runs_over_plain_sockets() {
        let dir = tempfile::tempdir().unwrap();
        lifeline_certs::ensure_relay_certs(dir.path(), &["localhost".into()]).unwrap();
        let files = lifeline_certs::RelayFiles::in_dir(dir.path());
        let server_cfg = crate::tls::server_config(
            lifeline_certs::load_certs(&files.cert).unwrap(),
            lifeline_certs::load_key(&files.key).unwrap(),
            std::time::Duration::from_secs(10),
        )
        .unwrap();
        let client_cfg = crate::tls::client_config(Some(&files.ca_cert)).unwrap();
        let runtime = quinn::default_runtime().unwrap();
        let plain = |server| {
            let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            quinn::Endpoint::new_with_abstract_socket(
                quinn::EndpointConfig::default(),
                server,
                Arc::new(PlainUdp::new(s).unwrap()),
                runtime.clone(),
            )
            .unwrap()
        };
        let server = plain(Some(server_cfg));
        let addr = server.local_addr().unwrap();
        let accept = tokio::spawn(async move {
            let conn = server.accept().await.unwrap().await.unwrap();
            let (mut send, mut recv) = conn.accept_bi().await.unwrap();
            let got = recv.read_to_end(1 << 20).await.unwrap();
            send.write_all(&got).await.unwrap();
            send.finish().unwrap();
            conn.closed().await;
        });
        let client = plain(None);
        let conn = client
            .connect_with(client_cfg, addr, "localhost")
            .unwrap()
            .await
            .unwrap();
        let (mut send, mut recv) = conn.open_bi().await.unwrap();
        let data: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        send.write_all(&data).await.unwrap();
        send.finish().unwrap();
        let back = recv.read_to_end(1 << 20).await.unwrap();
        assert_eq!(back, data);
        conn.close(0u32.into(), b"done");
        accept.await.unwrap();
    }
}
