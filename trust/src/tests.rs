//! The trust model's promises, each against the attack it stops: a
//! certificate from another organisation, for another key, expired or
//! revoked; a relay in the middle of the handshake; a rolled-back
//! revocation list; a disabled device.

use crate::TrustError;
use crate::creds::{Revocations, TechnicianCert};
use crate::handshake::{Device, StaticKey, Technician};
use crate::org::{Anchor, Kind, OrgKey, Signed};

const NOW: u64 = 1_800_000_000;
const SESSION: &str = "u-42";

fn cert_for(org: &OrgKey, key: &StaticKey, serial: u64) -> Signed {
    TechnicianCert {
        serial,
        name: "bob".into(),
        key: key.public(),
        not_before: NOW - 60,
        not_after: NOW + 3600,
    }
    .sign(org)
    .unwrap()
}

/// Runs a handshake to the end; the device's verdict and what each side
/// derived.
fn run(
    tech_key: &StaticKey,
    cert: Signed,
    device_key: &StaticKey,
    anchor: Anchor,
    revoked: Option<&Revocations>,
    now: u64,
) -> Result<(crate::handshake::Admitted, crate::handshake::Established), TrustError> {
    let (mut tech, first) = Technician::start(tech_key, cert, SESSION, "INC-4821 printer")?;
    let mut device = Device::new(device_key, anchor, revoked, SESSION, "desk-7")?;
    let second = device.read_hello(&first)?;
    let seen = tech.read_device(&second)?;
    assert_eq!(seen.key, device_key.public(), "the device's key is proven");
    assert_eq!(seen.name, "desk-7");
    let (third, tech_keys) = tech.finish()?;
    let admitted = device.read_proof(&third, now, revoked)?;
    Ok((admitted, tech_keys))
}

#[test]
fn a_vouched_technician_is_admitted_and_both_sides_agree() {
    let org = OrgKey::generate().unwrap();
    let (tech, device) = (
        StaticKey::generate().unwrap(),
        StaticKey::generate().unwrap(),
    );
    let (admitted, tech_side) = run(
        &tech,
        cert_for(&org, &tech, 7),
        &device,
        org.anchor(),
        None,
        NOW,
    )
    .unwrap();
    assert_eq!(admitted.cert.name, "bob");
    assert_eq!(admitted.cert.serial, 7);
    assert_eq!(admitted.reason, "INC-4821 printer");
    assert_eq!(admitted.keys.secret, tech_side.secret);
    assert_eq!(admitted.keys.transcript, tech_side.transcript);
    assert_eq!(admitted.keys.peer, tech.public());
    assert_eq!(tech_side.peer, device.public());
    assert_ne!(admitted.keys.secret, [0; 32]);
}

#[test]
fn a_certificate_another_key_signed_is_refused() {
    // A relay's own "organisation" vouching for a technician key it holds.
    let (org, relay_org) = (OrgKey::generate().unwrap(), OrgKey::generate().unwrap());
    let (tech, device) = (
        StaticKey::generate().unwrap(),
        StaticKey::generate().unwrap(),
    );
    let forged = cert_for(&relay_org, &tech, 1);
    let err = run(&tech, forged, &device, org.anchor(), None, NOW).unwrap_err();
    assert_eq!(err, TrustError::BadSignature);
}

#[test]
fn a_real_certificate_with_another_key_is_refused() {
    // The relay replays a technician's real certificate with its own key.
    let org = OrgKey::generate().unwrap();
    let (tech, relay, device) = (
        StaticKey::generate().unwrap(),
        StaticKey::generate().unwrap(),
        StaticKey::generate().unwrap(),
    );
    let stolen = cert_for(&org, &tech, 3);
    let err = run(&relay, stolen, &device, org.anchor(), None, NOW).unwrap_err();
    assert_eq!(err, TrustError::KeyMismatch);
}

#[test]
fn expired_early_and_revoked_certificates_are_refused() {
    let org = OrgKey::generate().unwrap();
    let (tech, device) = (
        StaticKey::generate().unwrap(),
        StaticKey::generate().unwrap(),
    );
    let cert = || cert_for(&org, &tech, 9);
    let at = |now| run(&tech, cert(), &device, org.anchor(), None, now).map(|_| ());
    assert_eq!(at(NOW + 3601), Err(TrustError::Expired));
    assert_eq!(at(NOW - 60 - 301), Err(TrustError::NotYetValid));
    assert_eq!(
        at(NOW - 60 - 299),
        Ok(()),
        "a few minutes' skew is forgiven"
    );
    let revoked = Revocations {
        seq: 1,
        issued: NOW,
        technicians: vec![9],
        devices: vec![],
    };
    let err = run(&tech, cert(), &device, org.anchor(), Some(&revoked), NOW).unwrap_err();
    assert_eq!(err, TrustError::Revoked);
}

#[test]
fn a_disabled_device_takes_no_handshake() {
    let org = OrgKey::generate().unwrap();
    let device = StaticKey::generate().unwrap();
    let revoked = Revocations {
        seq: 2,
        issued: NOW,
        technicians: vec![],
        devices: vec![device.public()],
    };
    let err = Device::new(&device, org.anchor(), Some(&revoked), SESSION, "desk").unwrap_err();
    assert_eq!(err, TrustError::DeviceDisabled);
}

#[test]
fn a_relay_in_the_middle_completes_neither_side() {
    // The relay answers the technician as the device with its own key: the
    // technician sees a key that is not the pinned one, and stops there.
    let org = OrgKey::generate().unwrap();
    let (tech, device, relay) = (
        StaticKey::generate().unwrap(),
        StaticKey::generate().unwrap(),
        StaticKey::generate().unwrap(),
    );
    let (mut t, first) =
        Technician::start(&tech, cert_for(&org, &tech, 1), SESSION, "why").unwrap();
    let mut fake = Device::new(&relay, org.anchor(), None, SESSION, "desk-7").unwrap();
    let seen = t.read_device(&fake.read_hello(&first).unwrap()).unwrap();
    assert_ne!(
        seen.key,
        device.public(),
        "the technician sees the relay's key"
    );

    // Toward the device, the relay as technician has no certificate for
    // any key it holds; with one for the technician's key it cannot prove
    // that key (the Diffie-Hellman with it fails).
    let (mut r, first) =
        Technician::start(&relay, cert_for(&org, &tech, 1), SESSION, "why").unwrap();
    let mut d = Device::new(&device, org.anchor(), None, SESSION, "desk-7").unwrap();
    r.read_device(&d.read_hello(&first).unwrap()).unwrap();
    let (third, _) = r.finish().unwrap();
    assert_eq!(
        d.read_proof(&third, NOW, None).unwrap_err(),
        TrustError::KeyMismatch
    );
}

#[test]
fn a_changed_message_or_another_session_fails() {
    let org = OrgKey::generate().unwrap();
    let (tech, device) = (
        StaticKey::generate().unwrap(),
        StaticKey::generate().unwrap(),
    );
    let (mut t, first) =
        Technician::start(&tech, cert_for(&org, &tech, 1), SESSION, "why").unwrap();
    let mut d = Device::new(&device, org.anchor(), None, SESSION, "desk").unwrap();
    let mut second = d.read_hello(&first).unwrap();
    let last = second.len() - 1;
    second[last] ^= 1;
    assert_eq!(t.read_device(&second), Err(TrustError::Handshake));

    // The relay splices the handshake into another session's pairing.
    let (mut t, first) = Technician::start(&tech, cert_for(&org, &tech, 1), "u-1", "why").unwrap();
    let mut d = Device::new(&device, org.anchor(), None, "u-2", "desk").unwrap();
    let second = d.read_hello(&first).unwrap();
    assert_eq!(t.read_device(&second), Err(TrustError::Handshake));
}

#[test]
fn revocation_lists_only_move_forward() {
    let org = OrgKey::generate().unwrap();
    let anchor = org.anchor();
    let list = |seq| Revocations {
        seq,
        issued: NOW,
        technicians: vec![seq],
        devices: vec![],
    };
    let two = list(2);
    let offered = list(3).sign(&org).unwrap();
    assert_eq!(
        Revocations::newer(&anchor, Some(&two), &offered).unwrap(),
        Some(list(3))
    );
    let older = list(1).sign(&org).unwrap();
    assert_eq!(
        Revocations::newer(&anchor, Some(&two), &older).unwrap(),
        None
    );
    let forged = list(9).sign(&OrgKey::generate().unwrap()).unwrap();
    assert_eq!(
        Revocations::newer(&anchor, Some(&two), &forged),
        Err(TrustError::BadSignature)
    );
    // A certificate is not a revocation list, even signed by the right key.
    let cert = cert_for(&org, &StaticKey::generate().unwrap(), 5);
    assert_eq!(
        Revocations::open(&anchor, &cert),
        Err(TrustError::BadSignature)
    );
    assert_eq!(anchor.verify(Kind::Technician, &cert).map(|_| ()), Ok(()));
}

#[test]
fn keys_anchors_and_envelopes_survive_their_text_and_bytes() {
    let org = OrgKey::generate().unwrap();
    let again = OrgKey::from_pkcs8(org.to_pkcs8()).unwrap();
    assert_eq!(again.anchor(), org.anchor());
    let anchor = Anchor::from_text(&org.anchor().to_text()).unwrap();
    assert_eq!(anchor, org.anchor());
    assert!(anchor.fingerprint().starts_with("SHA256:"));
    assert_eq!(anchor.fingerprint().len(), "SHA256:".len() + 8 * 4 + 7);
    assert_eq!(
        Anchor::from_text("lifeline-anchor:AAAA"),
        Err(TrustError::NotAnAnchor)
    );
    let key = StaticKey::generate().unwrap();
    assert_eq!(
        StaticKey::from_bytes(&key.to_bytes()).unwrap().public(),
        key.public()
    );
    let signed = cert_for(&org, &key, 1);
    let text = signed.to_text("lifeline-cert:");
    assert_eq!(Signed::from_text(&text, "lifeline-cert:").unwrap(), signed);
    assert_eq!(
        Signed::from_text(&text, "lifeline-list:"),
        Err(TrustError::Malformed)
    );
    assert_eq!(Signed::from_bytes(&[0xff; 10]), Err(TrustError::Malformed));
}

#[test]
fn names_and_reasons_are_checked() {
    let org = OrgKey::generate().unwrap();
    let key = StaticKey::generate().unwrap();
    let mut cert = TechnicianCert {
        serial: 1,
        name: "a\u{1b}[31m".into(),
        key: key.public(),
        not_before: 0,
        not_after: 1,
    };
    assert_eq!(cert.sign(&org), Err(TrustError::BadName));
    cert.name = "x".repeat(65);
    assert_eq!(cert.sign(&org), Err(TrustError::BadName));
    let long = "r".repeat(257);
    let err = Technician::start(&key, cert_for(&org, &key, 1), SESSION, &long).unwrap_err();
    assert_eq!(err, TrustError::BadText);
}

/// Golden bytes: a certificate's and a revocation list's signed bodies,
/// so that a change of their encoding is a decision, not an accident.
#[test]
fn golden_bodies() {
    let cert = TechnicianCert {
        serial: 1,
        name: "bo".into(),
        key: [7; 32],
        not_before: 2,
        not_after: 300,
    };
    assert_eq!(
        hex::encode(postcard::to_allocvec(&cert).unwrap()),
        format!("0102626f{}02ac02", "07".repeat(32))
    );
    let list = Revocations {
        seq: 5,
        issued: 6,
        technicians: vec![1, 2],
        devices: vec![[9; 32]],
    };
    assert_eq!(
        hex::encode(postcard::to_allocvec(&list).unwrap()),
        format!("05060201020109{}", "09".repeat(31))
    );
}

#[test]
#[ignore = "writes fuzz/seeds/trust/; run once by hand"]
fn write_fuzz_seeds() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/trust");
    std::fs::create_dir_all(&dir).unwrap();
    let org = OrgKey::generate().unwrap();
    let (tech, device) = (
        StaticKey::generate().unwrap(),
        StaticKey::generate().unwrap(),
    );
    let cert = cert_for(&org, &tech, 1).to_bytes();
    let list = Revocations {
        seq: 1,
        issued: NOW,
        technicians: vec![1],
        devices: vec![device.public()],
    }
    .sign(&org)
    .unwrap()
    .to_bytes();
    let (mut t, first) =
        Technician::start(&tech, cert_for(&org, &tech, 1), SESSION, "why").unwrap();
    let mut d = Device::new(&device, org.anchor(), None, SESSION, "desk").unwrap();
    let second = d.read_hello(&first).unwrap();
    t.read_device(&second).unwrap();
    let (third, _) = t.finish().unwrap();
    let with = |mode: u8, cut: u8, parts: &[&[u8]]| {
        let mut seed = vec![mode, cut];
        for p in parts {
            seed.extend_from_slice(p);
        }
        seed
    };
    for (name, bytes) in [
        ("cert", with(0, 0, &[&cert])),
        ("revocations", with(0, 0, &[&list])),
        ("device", with(1, first.len() as u8, &[&first, &third])),
        ("technician", with(2, 0, &[&second])),
        ("handshake", with(3, 0, &[&cert])),
    ] {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}
