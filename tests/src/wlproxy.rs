//! A Wayland proxy that lets Debian 12's xdg-desktop-portal-wlr (0.7) cast
//! a headless sway. That xdpw refuses to start a cast unless the
//! compositor's screencopy frames offer a DMA-BUF format, which sway on
//! the pixman renderer (no GPU here) never does. Between xdpw and sway,
//! this proxy adds that offer (a `linux_dmabuf` event before each frame's
//! `buffer_done`); xdpw then finds no DMA-BUF modifiers to use and copies
//! through shared memory, as it does on any desktop without a GPU. Every
//! other byte and file descriptor passes through unchanged.

use std::collections::{HashMap, HashSet};
use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::{Arc, Mutex};

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};

/// DRM_FORMAT_XRGB8888, the format the offer names.
const XRGB8888: u32 = u32::from_le_bytes(*b"XR24");

/// What one connection's client created that matters here.
#[derive(Default)]
struct Track {
    registries: HashSet<u32>,
    managers: HashSet<u32>,
    /// Screencopy frames, with the size of their shm buffer.
    frames: HashMap<u32, (u32, u32)>,
}

/// Listens at `socket` (made connectable by every user) and forwards each
/// connection to the compositor at `upstream`, for as long as the test
/// process runs.
pub fn start(upstream: &Path, socket: &Path) {
    let listener = UnixListener::bind(socket).expect("cannot bind the Wayland proxy's socket");
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o777))
        .expect("cannot open the proxy's socket to the compositor's user");
    let upstream = upstream.to_owned();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(server) = UnixStream::connect(&upstream) else {
                return;
            };
            let track = Arc::new(Mutex::new(Track::default()));
            let (c2, s2, t2) = (client.try_clone(), server.try_clone(), track.clone());
            let (Ok(c2), Ok(s2)) = (c2, s2) else { return };
            std::thread::spawn(move || pump(&client, &server, true, &track));
            std::thread::spawn(move || pump(&s2, &c2, false, &t2));
        }
    });
}

fn word(m: &[u8], at: usize) -> u32 {
    m.get(at..at + 4)
        .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        .unwrap_or(0)
}

/// Forwards `from` to `to` until either closes; `requests` when `from` is
/// the client.
fn pump(from: &UnixStream, to: &UnixStream, requests: bool, track: &Mutex<Track>) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut pending: Vec<u8> = Vec::new();
    let mut fds: Vec<OwnedFd> = Vec::new();
    loop {
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(64))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let got = rustix::net::recvmsg(
            from,
            &mut [IoSliceMut::new(&mut buf)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        );
        let n = match got {
            Ok(r) if r.bytes > 0 => r.bytes,
            _ => break,
        };
        for msg in control.drain() {
            if let RecvAncillaryMessage::ScmRights(received) = msg {
                fds.extend(received);
            }
        }
        pending.extend_from_slice(&buf[..n]);
        let mut out = Vec::with_capacity(pending.len() + 64);
        let mut used = 0;
        while pending.len() - used >= 8 {
            let size = (word(&pending, used + 4) >> 16) as usize;
            if size < 8 || pending.len() - used < size {
                break;
            }
            let msg = &pending[used..used + size];
            let mut t = track.lock().unwrap_or_else(|e| e.into_inner());
            if requests {
                on_request(&mut t, msg);
            } else {
                on_event(&mut t, msg, &mut out);
            }
            out.extend_from_slice(msg);
            used += size;
        }
        pending.drain(..used);
        if out.is_empty() {
            continue;
        }
        if send(to, &out, &mut fds).is_err() {
            break;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Both);
}

/// Sends `bytes`, with the descriptors received so far on the first part.
fn send(to: &UnixStream, bytes: &[u8], fds: &mut Vec<OwnedFd>) -> rustix::io::Result<()> {
    let mut sent = 0;
    while sent < bytes.len() {
        let n = {
            let borrowed: Vec<_> = fds.iter().map(|f| f.as_fd()).collect();
            let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(64))];
            let mut control = SendAncillaryBuffer::new(&mut space);
            if !borrowed.is_empty() {
                control.push(SendAncillaryMessage::ScmRights(&borrowed));
            }
            rustix::net::sendmsg(
                to,
                &[IoSlice::new(&bytes[sent..])],
                &mut control,
                SendFlags::NOSIGNAL,
            )?
        };
        // Sent (the kernel holds its own copies): ours can close.
        fds.clear();
        sent += n;
    }
    Ok(())
}

/// Follows the objects that lead to screencopy frames.
fn on_request(t: &mut Track, m: &[u8]) {
    let (object, opcode) = (word(m, 0), word(m, 4) & 0xffff);
    if object == 1 && opcode == 1 {
        // wl_display.get_registry(new_id)
        t.registries.insert(word(m, 8));
    } else if t.registries.contains(&object) && opcode == 0 {
        // wl_registry.bind(name, interface, version, new_id)
        let len = word(m, 12) as usize;
        let name = m.get(16..16 + len.saturating_sub(1)).unwrap_or_default();
        let after = 16 + len.div_ceil(4) * 4;
        if name == b"zwlr_screencopy_manager_v1" {
            t.managers.insert(word(m, after + 4));
        }
    } else if t.managers.contains(&object) && (opcode == 0 || opcode == 1) {
        // capture_output(_region)(new_id frame, …)
        t.frames.insert(word(m, 8), (0, 0));
    }
}

/// Adds the DMA-BUF offer before a frame's `buffer_done`.
fn on_event(t: &mut Track, m: &[u8], out: &mut Vec<u8>) {
    let (object, opcode) = (word(m, 0), word(m, 4) & 0xffff);
    if object == 1 && opcode == 1 {
        // wl_display.delete_id(id): the id may be reused for anything.
        let id = word(m, 8);
        t.frames.remove(&id);
        t.managers.remove(&id);
        t.registries.remove(&id);
        return;
    }
    let Some(size) = t.frames.get_mut(&object) else {
        return;
    };
    match opcode {
        // buffer(format, width, height, stride)
        0 => *size = (word(m, 12), word(m, 16)),
        // buffer_done: linux_dmabuf(format, width, height) first.
        6 => {
            for w in [object, (20 << 16) | 5, XRGB8888, size.0, size.1] {
                out.extend_from_slice(&w.to_ne_bytes());
            }
        }
        _ => {}
    }
}
