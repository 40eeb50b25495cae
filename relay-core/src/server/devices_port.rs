//! The relay's devices port (`serve --devices-listen`): enrolled devices'
//! online links on an endpoint of their own, read on a clock
//! ([`lifeline_common::ticking_udp`]) and driven by whatever runtime calls
//! [`serve_devices`] (the relay binary gives it a thread of its own), so
//! that thousands of idle devices' keep-alives are read in batches and do
//! not wake the cores that forward sessions. Only coming online is taken
//! here; calls are answered, and sessions forwarded, at the main port.
//!
//! A connection holds a slot of its address's
//! ([`crate::rules::addresses`]) until its device's token is checked:
//! after that it is an enrolled device, and a fleet behind one address is
//! not capped like strangers are.

use super::accept::{Permit, admit, hello, place};
use super::*;

/// Serves the devices port's `endpoint` until the relay shuts down, then
/// waits (up to 10 s) for its links to close.
pub async fn serve_devices(endpoint: quinn::Endpoint, relay: Arc<Relay>) {
    lock(&relay.endpoints).push(endpoint.clone());
    let links = TaskTracker::new();
    loop {
        tokio::select! {
            () = relay.shutdown.cancelled() => break,
            incoming = endpoint.accept() => {
                let Some(incoming) = incoming else { break };
                let Some((incoming, permit)) = place(&relay, incoming) else { continue };
                let relay = relay.clone();
                links.spawn(async move { serve_link(&relay, incoming, permit).await });
            }
        }
    }
    links.close();
    if tokio::time::timeout(Duration::from_secs(10), links.wait())
        .await
        .is_err()
    {
        tracing::warn!("some devices' links did not end within 10 s of shutdown");
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), endpoint.wait_idle()).await;
    relay.forget_endpoint(&endpoint);
}

/// One connection to the devices port: a hello, then a device coming
/// online, or a refusal saying where everything else goes.
async fn serve_link(relay: &Arc<Relay>, incoming: quinn::Incoming, permit: Permit) {
    let Some((conn, slot, _permit)) = admit(relay, incoming, permit).await else {
        return;
    };
    let Some((mut ctl, hello)) = hello(relay, &conn).await else {
        return;
    };
    let elsewhere = || Refusal::Protocol(ONLY_ONLINE.into());
    if hello.role != Role::Host {
        return close(&conn, &elsewhere());
    }
    match first_request::<HostRequest>(relay, &conn, &mut ctl).await {
        Some(HostRequest::Online { device, token }) => {
            super::enroll::serve_online(relay, conn, ctl, (device, token), Some(slot)).await;
        }
        Some(_) => close(&conn, &elsewhere()),
        None => {}
    }
}

/// What anything but a device coming online hears at the devices port.
const ONLY_ONLINE: &str = "this is the relay's devices port: it only lists enrolled devices online; connect to the relay's main port";
