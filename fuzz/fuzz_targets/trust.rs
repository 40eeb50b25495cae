//! The unattended trust model's decoders (`lifeline-trust`), fed what a
//! relay or a peer could send: the first byte picks the way in.
//!   0: a signed envelope's bytes, opened as a certificate and as a
//!      revocation list under a fixed anchor, and as text;
//!   1: the device's side of the handshake: the rest is the technician's
//!      first message, then (cut at the second byte) its last;
//!   2: the technician's side: the rest is the device's answer;
//!   3: a real handshake whose certificate envelope is the rest as it is,
//!      so the device decodes it inside the authenticated last message.
//! Seeds: `cargo test -p lifeline-trust -- --ignored write_fuzz_seeds`.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use lifeline_trust::creds::{Revocations, TechnicianCert};
use lifeline_trust::handshake::{Device, StaticKey, Technician};
use lifeline_trust::org::{OrgKey, Signed};

const NOW: u64 = 1_800_000_000;

struct Keys {
    org: OrgKey,
    tech: StaticKey,
    device: StaticKey,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys {
        org: OrgKey::generate().expect("a key"),
        tech: StaticKey::generate().expect("a key"),
        device: StaticKey::generate().expect("a key"),
    })
}

fuzz_target!(|data: &[u8]| {
    let [mode, cut, rest @ ..] = data else {
        return;
    };
    let k = keys();
    let anchor = k.org.anchor();
    match mode % 4 {
        0 => {
            if let Ok(signed) = Signed::from_bytes(rest) {
                let _ = TechnicianCert::open(&anchor, &signed);
                let _ = Revocations::open(&anchor, &signed);
                let _ = Revocations::newer(&anchor, None, &signed);
            }
            if let Ok(text) = std::str::from_utf8(rest) {
                let _ = Signed::from_text(text, "lifeline-cert:");
                let _ = lifeline_trust::org::Anchor::from_text(text);
            }
        }
        1 => {
            let Ok(mut device) = Device::new(&k.device, anchor, None, "s", "desk") else {
                return;
            };
            let at = usize::from(*cut).min(rest.len());
            if device.read_hello(&rest[..at]).is_ok() {
                let _ = device.read_proof(&rest[at..], NOW, None);
            }
        }
        2 => {
            let cert = Signed {
                body: vec![],
                signature: vec![],
            };
            if let Ok((mut tech, _)) = Technician::start(&k.tech, cert, "s", "why") {
                if tech.read_device(rest).is_ok() {
                    let _ = tech.finish();
                }
            }
        }
        _ => {
            let cert = Signed::from_bytes(rest).unwrap_or(Signed {
                body: rest.to_vec(),
                signature: vec![*cut; 64],
            });
            let Ok((mut tech, first)) = Technician::start(&k.tech, cert, "s", "why") else {
                return;
            };
            let Ok(mut device) = Device::new(&k.device, anchor, None, "s", "desk") else {
                return;
            };
            let Ok(second) = device.read_hello(&first) else {
                return;
            };
            if tech.read_device(&second).is_err() {
                return;
            }
            if let Ok((last, _)) = tech.finish() {
                let _ = device.read_proof(&last, NOW, None);
            }
        }
    }
});
