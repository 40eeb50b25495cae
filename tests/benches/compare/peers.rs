//! Either system's viewer behind one interface ([`Peer`]), and one run of
//! each: Lifeline's real host with the in-process viewer library, x11vnc
//! with the scripted VNC client.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lifeline_session::messages::{InputEvent, Key};
use lifeline_session::screen::Image;
use lifeline_tests::peers::HostProcess;
use lifeline_tests::vnc::{VncClient, X11Vnc};
use lifeline_tests::x::Xvfb;
use lifeline_viewer::session::Viewer;

use crate::workloads::{RunFigures, workloads};
use crate::{Opts, Rect, Relay};

#[derive(Clone, Copy)]
pub(crate) enum Press {
    Char(char),
    Return,
    Down,
}

/// What the workloads need from either system's viewer.
pub(crate) trait Peer {
    /// Screen updates decoded so far.
    fn updates(&self) -> u64;
    /// Bytes received so far, above the transport.
    fn received(&self) -> u64;
    /// The process doing the capturing and encoding.
    fn server_pid(&self) -> u32;
    fn press(&self, key: Press);
    fn point(&self, x: u32, y: u32);
    fn region(&self, r: Rect) -> Option<Vec<u32>>;
    /// Runs `f` on the whole screen as shown, once there is one.
    fn look(&self, f: &mut dyn FnMut(&Image));
    /// Waits until more than `seen` updates have been decoded.
    fn wait_update(&self, seen: u64, timeout: Duration) -> bool;
}

pub(crate) struct Lifeline {
    rt: Arc<tokio::runtime::Runtime>,
    viewer: Viewer,
    host: HostProcess,
}

impl Peer for Lifeline {
    fn updates(&self) -> u64 {
        *self.viewer.frames().borrow()
    }
    fn received(&self) -> u64 {
        self.viewer.figures().stream_bytes
    }
    fn server_pid(&self) -> u32 {
        self.host.child.id()
    }
    fn press(&self, key: Press) {
        let key = match key {
            Press::Char(' ') => Key::Space,
            Press::Char(c) => Key::Char(c),
            Press::Return => Key::Return,
            Press::Down => Key::Down,
        };
        self.rt.block_on(async {
            for down in [true, false] {
                self.viewer
                    .input(InputEvent::Key { key, down })
                    .await
                    .unwrap();
            }
        });
    }
    fn point(&self, x: u32, y: u32) {
        self.rt
            .block_on(self.viewer.input(InputEvent::Move { x, y }))
            .unwrap();
    }
    fn region(&self, r: Rect) -> Option<Vec<u32>> {
        self.viewer.with_image(|img| img.map(|i| r.pixels(i)))
    }
    fn look(&self, f: &mut dyn FnMut(&Image)) {
        self.viewer.with_image(|img| img.map(f));
    }
    fn wait_update(&self, seen: u64, timeout: Duration) -> bool {
        let mut rx = self.viewer.frames();
        self.rt.block_on(async {
            tokio::time::timeout(timeout, rx.wait_for(|n| *n > seen))
                .await
                .is_ok_and(|r| r.is_ok())
        })
    }
}

pub(crate) struct Vnc {
    client: VncClient,
    server: X11Vnc,
}

impl Peer for Vnc {
    fn updates(&self) -> u64 {
        self.client.screen().updates
    }
    fn received(&self) -> u64 {
        self.client.bytes()
    }
    fn server_pid(&self) -> u32 {
        self.server.child.id()
    }
    fn press(&self, key: Press) {
        let sym = match key {
            Press::Char(c) => u32::from(c),
            Press::Return => 0xff0d,
            Press::Down => 0xff54,
        };
        self.client.key(sym).unwrap();
    }
    fn point(&self, x: u32, y: u32) {
        self.client.pointer(x as u16, y as u16).unwrap();
    }
    fn region(&self, r: Rect) -> Option<Vec<u32>> {
        let s = self.client.screen();
        s.first_full.map(|_| r.pixels(&s.image))
    }
    fn look(&self, f: &mut dyn FnMut(&Image)) {
        let s = self.client.screen();
        if s.first_full.is_some() {
            f(&s.image);
        }
    }
    fn wait_update(&self, seen: u64, timeout: Duration) -> bool {
        self.client.wait_until(timeout, |s| s.updates > seen)
    }
}

pub(crate) fn run_lifeline(
    rt: &Arc<tokio::runtime::Runtime>,
    relay: &Relay,
    x: &Xvfb,
    opts: &Opts,
) -> RunFigures {
    let allow = ["--allow", "control"];
    let host = match &opts.link {
        Some(l) => HostProcess::spawn_in(&l.ns, &l.relay_via, &relay.ca, &x.display, &allow),
        None => HostProcess::spawn(&relay.addr, &relay.ca, &x.display, &allow),
    };
    let code = host.code();
    let t0 = Instant::now();
    let viewer = rt
        .block_on(Viewer::connect(
            &relay.addr,
            Some(&relay.ca),
            &relay.token,
            &code,
            |_| {},
        ))
        .unwrap();
    let mut frames = viewer.frames();
    rt.block_on(frames.wait_for(|n| *n >= 1)).unwrap();
    let join_ms = t0.elapsed().as_secs_f64() * 1e3;
    let peer = Lifeline {
        rt: rt.clone(),
        viewer,
        host,
    };
    let udp0 = peer.viewer.udp_bytes_received();
    let mut figures = workloads(&peer, x, opts, join_ms, t0);
    eprintln!(
        "    lifeline: {:.1} MB of UDP for {:.1} MB on the session stream",
        (peer.viewer.udp_bytes_received() - udp0) as f64 / 1e6,
        (figures.idle.bytes
            + figures.typing.bytes
            + figures.scrolling.bytes
            + figures.pictures.bytes)
            / 1e6
    );
    rt.block_on(peer.viewer.disconnect("bench done"));
    let ended = peer.host.wait_event("ended");
    figures.max_in_flight = ended["max_bytes_in_flight"].as_f64();
    figures
}

pub(crate) fn run_vnc(x: &Xvfb, opts: &Opts) -> RunFigures {
    let (server, _proxy, addr) = match &opts.link {
        Some(l) => {
            let server = X11Vnc::start_in(&l.ns, &x.display);
            let proxy = lifeline_tests::netem::TcpDelay::start(
                "127.0.0.1:0".parse().unwrap(),
                server.addr.parse().unwrap(),
                l.profile.rtt / 2,
            )
            .unwrap();
            let addr = proxy.addr.to_string();
            (server, Some(proxy), addr)
        }
        None => {
            let server = X11Vnc::start(&x.display);
            let addr = server.addr.clone();
            (server, None, addr)
        }
    };
    let client = VncClient::connect(&addr).unwrap();
    assert!(
        client.wait_until(opts.patience, |s| s.first_full.is_some()),
        "x11vnc sent no whole screen"
    );
    let join_ms = {
        let s = client.screen();
        (s.first_full.unwrap() - client.connected_at).as_secs_f64() * 1e3
    };
    let peer = Vnc { client, server };
    let figures = workloads(&peer, x, opts, join_ms, peer.client.connected_at);
    let s = peer.client.screen();
    eprintln!(
        "    x11vnc: rectangles ZRLE {} CopyRect {} Raw {}",
        s.zrle, s.copy_rect, s.raw
    );
    figures
}
