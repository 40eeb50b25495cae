//! Load for the relay benchmarks: pairing a host and a viewer through the
//! library clients, and pushing bulk bytes through a paired session.

use lifeline_net::client::{Connector, HostLink, ViewerLink};
use lifeline_proto::control::HostEvent;

/// A host registered through `host` and a viewer joined through `viewer`
/// (the same connector for one relay, two for a cluster), paired.
pub async fn pair(host: &Connector, viewer: &Connector, token: &str) -> (HostLink, ViewerLink) {
    let (mut h, reg) = HostLink::register_with(host, "bench", "bench")
        .await
        .unwrap();
    let v = ViewerLink::join_with(viewer, token, reg.locator)
        .await
        .unwrap();
    match h.next_event().await.unwrap() {
        HostEvent::Paired { .. } => {}
        other => panic!("expected Paired, got {other:?}"),
    }
    (h, v)
}

/// Writes `mb` MiB viewer→host on one stream and reads them all at the
/// host; the bytes that arrived.
pub async fn push_mib(viewer: &quinn::Connection, host: &quinn::Connection, mb: usize) -> usize {
    let chunk = bytes::Bytes::from(vec![0x5a; 1 << 20]);
    let (mut send, _) = viewer.open_bi().await.unwrap();
    let writer = tokio::spawn(async move {
        for _ in 0..mb {
            send.write_chunk(chunk.clone()).await.unwrap();
        }
        send.finish().unwrap();
    });
    let (_, mut recv) = host.accept_bi().await.unwrap();
    let mut got = 0usize;
    while let Some(c) = recv.read_chunk(usize::MAX, false).await.unwrap() {
        got += c.bytes.len();
    }
    writer.await.unwrap();
    got
}
