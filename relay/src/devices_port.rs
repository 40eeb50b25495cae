//! `serve --devices-listen`: the devices port on a thread of its own, a
//! one-thread runtime reading its socket on a clock
//! ([`lifeline_relay_core::serve_devices`]), so that idle devices'
//! keep-alives cost the relay little and never wake the runtime that
//! forwards sessions.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::Context;
use lifeline_common::tls::LiveCert;
use lifeline_relay_core::Relay;

/// A device's online link silent this long is given up (its service
/// keeps alive every 4 s, and gives up after 10 s itself).
const IDLE: std::time::Duration = std::time::Duration::from_secs(10);

/// The devices port, bound before the relay opens (so that the relay
/// knows the port to send devices to), with the relay's certificate.
pub(crate) struct Port {
    socket: std::net::UdpSocket,
    cert: LiveCert,
}

impl Port {
    /// Binds `addr` for the devices port.
    pub(crate) fn bind(addr: SocketAddr, cert: LiveCert) -> anyhow::Result<Self> {
        let socket = lifeline_common::tls::udp_socket(addr).with_context(|| {
            format!("cannot listen on UDP {addr} for devices (--devices-listen)")
        })?;
        Ok(Self { socket, cert })
    }

    /// The UDP port it is bound to.
    pub(crate) fn port(&self) -> anyhow::Result<u16> {
        Ok(self.socket.local_addr()?.port())
    }

    /// Serves the devices port on a thread of its own until the relay
    /// shuts down, with the relay's reset key; [`join`] the handle after
    /// [`lifeline_relay_core::run`].
    pub(crate) fn start(
        self,
        reset_key: &[u8; 32],
        relay: Arc<Relay>,
    ) -> anyhow::Result<JoinHandle<()>> {
        let at = self.socket.local_addr()?;
        let server = lifeline_common::tls::server_config_live(&self.cert, IDLE)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let endpoint = {
            let _in = rt.enter();
            lifeline_common::tls::ticking_endpoint(self.socket, server, reset_key)
                .context("cannot serve the devices port")?
        };
        let thread = std::thread::Builder::new()
            .name("devices-port".into())
            .spawn(move || rt.block_on(lifeline_relay_core::serve_devices(endpoint, relay)))
            .context("cannot start the devices port's thread")?;
        println!("Devices' online links on {at} (UDP, QUIC)");
        Ok(thread)
    }
}

/// Waits for the devices port's thread to end (the relay has shut down).
pub(crate) fn join(thread: Option<JoinHandle<()>>) {
    if let Some(thread) = thread
        && thread.join().is_err()
    {
        eprintln!("lifeline-relay: the devices port's thread panicked");
    }
}
