//! A relay taken over by an attacker, against a real enrolled device: the
//! attacker holds the relay's certificate and key and speaks the real
//! protocol to the real `lifeline-host service`. It calls the device,
//! answers its connection, forges the technician's name in `Paired`,
//! and plays the technician's side of the handshake three ways: with a
//! certificate from an organisation it made, with the real technician's
//! genuine certificate (which a relay could copy) but its own key, and
//! skipping the handshake. The device refuses every one and shares
//! nothing: no session starts.

use std::net::SocketAddr;
use std::path::Path;

use lifeline_common::framed::{Control, FramedRecv, FramedSend};
use lifeline_proto::control::{Hello, HostEvent, HostRequest, SessionPolicy};
use lifeline_trust::creds::TechnicianCert;
use lifeline_trust::handshake::{StaticKey, Technician};
use lifeline_trust::org::{OrgKey, Signed};

use super::device_sessions::{Service, technician};
use super::unattended::Fleet;

/// How the hostile relay plays the technician.
#[derive(Debug, Clone, Copy)]
enum Attack {
    /// A certificate "ann" signed by an organisation key the relay made.
    ForgedOrganisation,
    /// Ann's genuine certificate, with the relay's own key.
    CopiedCertificate,
    /// No proof: after the device's message, bytes as if the session
    /// were already sealed instead of the technician's.
    NoHandshake,
}

const MAX: usize = 1 << 20;

async fn control(conn: &quinn::Connection) -> Control {
    let (send, recv) = conn.accept_bi().await.unwrap();
    let mut ctl = Control::new(send, recv);
    let _hello: Hello = ctl.recv().await.unwrap();
    ctl
}

/// The device's answer to one call, as the hostile relay plays it: what
/// the device said as its verdict (its first byte 1 and why, when it
/// refused), or `None` when it hung up first.
async fn attack(
    endpoint: &quinn::Endpoint,
    session: &str,
    how: Attack,
    cert: &str,
) -> Option<Vec<u8>> {
    let conn = endpoint.accept().await.unwrap().await.unwrap();
    // As a relay does once it pairs: room for the session's streams.
    lifeline_common::tls::open_for_session(&conn);
    let mut ctl = control(&conn).await;
    let req: HostRequest = ctl.recv().await.unwrap();
    assert!(
        matches!(&req, HostRequest::Answer { session: s, .. } if s == session),
        "{req:?}"
    );
    let policy = SessionPolicy {
        confirm_every_s: 0,
        answer_within_s: 0,
        recording: None,
    };
    ctl.send(&HostEvent::Policy(policy)).await.unwrap();
    ctl.send(&HostEvent::Paired {
        session: session.into(),
        technician: "ann".into(),
    })
    .await
    .unwrap();
    let (send, recv) = conn.accept_bi().await.unwrap();
    let (mut tx, mut rx) = (FramedSend::new(send, MAX), FramedRecv::new(recv, MAX));
    assert_eq!(rx.recv_bytes().await.unwrap(), b"lifeline/1 device");
    let relay_key = StaticKey::generate().unwrap();
    let signed = match how {
        Attack::ForgedOrganisation => {
            let forged = OrgKey::generate().unwrap();
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            TechnicianCert {
                serial: 7,
                name: "ann".into(),
                key: relay_key.public(),
                not_before: now - 60,
                not_after: now + 3600,
            }
            .sign(&forged)
            .unwrap()
        }
        Attack::CopiedCertificate | Attack::NoHandshake => {
            Signed::from_text(cert, "lifeline-cert:").unwrap()
        }
    };
    let (mut tech, hello) = Technician::start(&relay_key, signed, session, "INC-0").unwrap();
    tx.send_bytes(&hello).await.ok()?;
    let answer = rx.recv_bytes().await.ok()?;
    tech.read_device(&answer).unwrap();
    let (proof, _) = tech.finish().unwrap();
    match how {
        Attack::NoHandshake => tx.send_bytes(&[0x55; 200]).await.ok()?,
        _ => tx.send_bytes(&proof).await.ok()?,
    }
    rx.recv_bytes().await.ok()
}

fn hostile_endpoint(data: &Path, addr: SocketAddr) -> quinn::Endpoint {
    let files = lifeline_certs::RelayFiles::in_dir(data);
    let server = lifeline_common::tls::server_config(
        lifeline_certs::load_certs(&files.cert).unwrap(),
        lifeline_certs::load_key(&files.key).unwrap(),
        std::time::Duration::from_secs(10),
    )
    .unwrap();
    lifeline_common::tls::endpoint(addr, Some(server)).unwrap()
}

#[test]
fn a_hostile_relay_cannot_open_a_session_to_an_enrolled_device() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    let x = lifeline_tests::x::Xvfb::start(320, 240);
    let mut fleet = Fleet::start();
    let dev = fleet.work.path().join("device");
    fleet.enroll("vault", &dev);
    let (_ann, _) = technician(&fleet, "ann");
    let cert = std::fs::read_to_string(_ann.join("cert")).unwrap();
    // The attacker takes the relay over: same address, same certificate.
    fleet.relay.child.kill().unwrap();
    fleet.relay.child.wait().unwrap();
    let addr: SocketAddr = fleet.addr.parse().unwrap();
    let service = Service::start(&dev, &x.display);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let verdicts = rt.block_on(async {
        let endpoint = hostile_endpoint(&fleet.data(), addr);
        let online = endpoint.accept().await.unwrap().await.unwrap();
        let mut ctl = control(&online).await;
        let req: HostRequest = ctl.recv().await.unwrap();
        assert!(matches!(req, HostRequest::Online { .. }), "{req:?}");
        ctl.send(&HostEvent::Online).await.unwrap();
        let mut verdicts = Vec::new();
        for (i, how) in [
            Attack::ForgedOrganisation,
            Attack::CopiedCertificate,
            Attack::NoHandshake,
        ]
        .into_iter()
        .enumerate()
        {
            let session = format!("evil-{i}");
            ctl.send(&HostEvent::Call {
                session: session.clone(),
            })
            .await
            .unwrap();
            let said = tokio::time::timeout(
                std::time::Duration::from_secs(30),
                attack(&endpoint, &session, how, &cert),
            )
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "{how:?}: the device did not answer: {}\n{}",
                    service.said(),
                    service.logged()
                )
            });
            verdicts.push((how, said));
        }
        verdicts
    });
    for (how, said) in &verdicts {
        let said = said.as_deref().unwrap_or_default();
        assert_ne!(
            said.first(),
            Some(&0),
            "{how:?}: the device admitted the hostile relay"
        );
    }
    let refused = |how: usize, why: &str| {
        let said = verdicts[how].1.clone().unwrap_or_default();
        assert_eq!(said.first(), Some(&1), "{:?}: a refusal", verdicts[how].0);
        let text = String::from_utf8_lossy(&said[1..]).to_string();
        assert!(text.contains(why), "{:?}: {text}", verdicts[how].0);
    };
    refused(0, "not signed by the organisation");
    refused(1, "another key than the one proven");
    refused(2, "the handshake failed");
    let said = lifeline_tests::wait_for("the device's three refusals", || {
        let said = service.said();
        (said.matches(r#""event":"device_refused""#).count() >= 3).then_some(said)
    });
    assert!(
        !said.contains(r#""event":"joined""#),
        "nothing was shared: {said}"
    );
    assert!(!said.contains(r#""event":"device_session""#), "{said}");
}
