//! Golden bytes of every control message, and how bad input decodes.

use super::*;
use crate::frame::{MAX_CONTROL_FRAME, decode, encode};

/// Pins the exact bytes of `msg` (length prefix included) and checks it
/// decodes back to itself.
pub(crate) fn pin<T>(msg: T, hex_bytes: &str)
where
    T: Serialize + serde::de::DeserializeOwned + PartialEq + fmt::Debug,
{
    let bytes = encode(&msg, MAX_CONTROL_FRAME).unwrap();
    assert_eq!(
        hex::encode(&bytes),
        hex_bytes,
        "encoding of {msg:?} changed"
    );
    assert_eq!(decode::<T>(&bytes[4..]).unwrap(), msg);
}

fn loc(v: u32) -> Locator {
    Locator::new(v).unwrap()
}

#[test]
fn hello() {
    pin(
        Hello {
            version: 1,
            role: Role::Host,
        },
        "000000020100",
    );
    pin(
        Hello {
            version: 1,
            role: Role::Viewer,
        },
        "000000020101",
    );
}

#[test]
fn host_requests() {
    pin(
        HostRequest::Register {
            host_name: "pc".into(),
            os_user: "al".into(),
        },
        "000000070002706302616c",
    );
    pin(HostRequest::Renew, "0000000101");
    pin(
        HostRequest::Report(SessionReport::ModeGranted(Mode::View)),
        "00000003020000",
    );
    pin(
        HostRequest::Report(SessionReport::ModeGranted(Mode::Control)),
        "00000003020001",
    );
    pin(HostRequest::Report(SessionReport::Refused), "000000020201");
    pin(
        HostRequest::Report(SessionReport::SecretMismatch),
        "000000020202",
    );
    pin(
        HostRequest::Report(SessionReport::Ending {
            reason: "bye".into(),
        }),
        "00000006020303627965",
    );
    pin(HostRequest::Record(vec![1, 2]), "0000000404020102");
    pin(
        HostRequest::Move {
            session: "s".into(),
            locator: loc(7),
            host_name: "h".into(),
            os_user: "u".into(),
        },
        "000000080501730701680175",
    );
    pin(
        HostRequest::Enroll(EnrollRequest {
            ticket: [1; 16],
            name: "d".into(),
            key: [2; 32],
        }),
        &format!("0000003306{}0164{}", "01".repeat(16), "02".repeat(32)),
    );
}

#[test]
fn device_messages() {
    pin(
        HostEvent::Enrolled {
            device: "d".into(),
            group: "g".into(),
            policy: DevicePolicy::Unattended,
            token: "t".into(),
        },
        "000000080701640167010174",
    );
    pin(
        HostEvent::EnrollRefused(EnrollRefusal::UsedTicket),
        "000000020801",
    );
    pin(HostEvent::Online, "0000000109");
    pin(
        HostEvent::Call {
            session: "s".into(),
        },
        "000000030a0173",
    );
    pin(
        HostEvent::Revocations {
            signed: b"r".to_vec(),
        },
        "000000030b0172",
    );
    pin(HostEvent::OnlineAt { port: 4434 }, "000000030cd222");
    pin(
        HostRequest::Answer {
            device: "d".into(),
            token: "t".into(),
            session: "s".into(),
            os_user: "u".into(),
        },
        "00000009080164017401730175",
    );
    pin(
        ViewerRequest::Connect {
            token: "t".into(),
            device: "d".into(),
            reason: "r".into(),
        },
        "0000000705017401640172",
    );
    pin(
        ViewerRequest::JoinFor {
            token: "t".into(),
            locator: loc(5),
            reason: "r".into(),
        },
        "00000006060174050172",
    );
    pin(HostEvent::JoinReason("r".into()), "000000030d0172");
    pin(
        HostEvent::Audited {
            seq: 7,
            hash: [1; 32],
        },
        &format!("000000220e07{}", "01".repeat(32)),
    );
    pin(
        ViewerEvent::DeviceRefused(DeviceRefusal::NoAnswer),
        "000000020505",
    );
    pin(
        ViewerEvent::AwaitingApproval { within_s: 300 },
        "0000000306ac02",
    );
    pin(
        HostRequest::Online {
            device: "d".into(),
            token: "t".into(),
        },
        "0000000507016401 74".replace(' ', "").as_str(),
    );
    pin(
        ViewerRequest::Devices { token: "t".into() },
        "00000003040174",
    );
    pin(
        ViewerEvent::Devices(vec![DeviceEntry {
            name: "d".into(),
            group: "g".into(),
            policy: DevicePolicy::Attended,
            online: true,
            last_seen: None,
            key: [3; 32],
            disabled: false,
        }]),
        &format!("0000002a040101640167000100{}00", "03".repeat(32)),
    );
}

#[test]
fn host_events() {
    pin(
        HostEvent::Registered {
            session: "s1".into(),
            locator: loc(300),
            expires_in_s: 600,
        },
        "0000000800027331ac02d804",
    );
    pin(HostEvent::Expired, "0000000101");
    pin(
        HostEvent::MoveTo {
            relay: "r:1".into(),
        },
        "000000050603723a31",
    );
    pin(
        HostEvent::Paired {
            session: "s1".into(),
            technician: "bo".into(),
        },
        "000000070202733102626f",
    );
    pin(
        HostEvent::Policy(SessionPolicy {
            confirm_every_s: 1800,
            answer_within_s: 60,
            recording: None,
        }),
        "0000000505880e3c00",
    );
    let mut recorded = "0000002b05880e3c0101026175".to_owned();
    recorded.push_str(&"07".repeat(32));
    recorded.push_str("0001");
    pin(
        HostEvent::Policy(SessionPolicy {
            confirm_every_s: 1800,
            answer_within_s: 60,
            recording: Some(RecordingPolicy {
                auditors: vec![Auditor {
                    name: "au".into(),
                    public_key: [7; 32],
                }],
                keys: false,
                required: true,
            }),
        }),
        &recorded,
    );
}

#[test]
fn viewer_messages() {
    pin(
        ViewerRequest::Join {
            token: "t".into(),
            locator: loc(5),
        },
        "0000000400017405",
    );
    pin(
        ViewerRequest::Report(SessionReport::SecretMismatch),
        "000000020102",
    );
    pin(
        ViewerEvent::Joined {
            session: "s".into(),
            host_name: "h".into(),
            os_user: "u".into(),
        },
        "0000000700017301680175",
    );
    pin(
        ViewerEvent::Refused(JoinRefusal::UnknownToken),
        "000000020100",
    );
    pin(
        ViewerEvent::Refused(JoinRefusal::RevokedToken),
        "000000020101",
    );
    pin(
        ViewerEvent::Refused(JoinRefusal::UnknownCode),
        "000000020102",
    );
    pin(
        ViewerEvent::Refused(JoinRefusal::ExpiredCode),
        "000000020103",
    );
    pin(ViewerEvent::Refused(JoinRefusal::UsedCode), "000000020104");
    pin(
        ViewerEvent::Refused(JoinRefusal::Throttled { retry_after_s: 30 }),
        "0000000301051e",
    );
    pin(
        ViewerEvent::Refused(JoinRefusal::Suspended { retry_after_s: 90 }),
        "0000000301065a",
    );
    pin(
        ViewerEvent::Refused(JoinRefusal::ReasonRequired),
        "000000020107",
    );
    pin(ViewerEvent::Refused(JoinRefusal::BadReason), "000000020108");
}

#[test]
fn resume_messages() {
    let req = ResumeRequest {
        session: "s".into(),
        secret: [7; 32],
    };
    let sevens = "07".repeat(32);
    pin(
        HostRequest::Resume(req.clone()),
        &format!("00000023030173{sevens}"),
    );
    pin(
        ViewerRequest::Resume(req.clone()),
        &format!("00000023020173{sevens}"),
    );
    pin(
        ViewerRequest::ResumeAs {
            request: req,
            token: "tok".into(),
        },
        &format!("00000027030173{sevens}03746f6b"),
    );
    pin(
        HostRequest::Report(SessionReport::ResumeTicket { hash: [1; 32] }),
        &format!("000000220204{}", "01".repeat(32)),
    );
    pin(
        HostRequest::Report(SessionReport::Transfer(Transfer {
            kind: TransferKind::Clipboard,
            to_host: true,
            bytes: 300,
            name: None,
            sha256: None,
        })),
        "0000000802050001ac020000",
    );
    pin(
        HostRequest::Report(SessionReport::Transfer(Transfer {
            kind: TransferKind::File,
            to_host: false,
            bytes: 1,
            name: Some("a".into()),
            sha256: Some([2; 32]),
        })),
        &format!("00000029020501000101016101{}", "02".repeat(32)),
    );
    pin(HostEvent::Resumed, "0000000103");
    pin(
        HostEvent::ResumeRefused(ResumeRefusal::WrongSecret),
        "000000020403",
    );
    pin(ViewerEvent::Resumed, "0000000102");
    for (r, hex) in [
        (ResumeRefusal::UnknownSession, "000000020300"),
        (ResumeRefusal::Ended, "000000020301"),
        (ResumeRefusal::WindowPassed, "000000020302"),
        (ResumeRefusal::WrongSecret, "000000020303"),
        (ResumeRefusal::Unavailable, "000000020304"),
        (
            ResumeRefusal::Throttled { retry_after_s: 9 },
            "00000003030509",
        ),
        (ResumeRefusal::NotYours, "000000020306"),
    ] {
        pin(ViewerEvent::ResumeRefused(r), hex);
    }
}

#[test]
fn out_of_range_locator_is_malformed() {
    // Join with locator 100000 (varint a08d06).
    let bytes = hex::decode("000174a08d06").unwrap();
    assert!(decode::<ViewerRequest>(&bytes).is_err());
}

#[test]
fn garbage_never_panics() {
    for len in 0..64u8 {
        let bytes: Vec<u8> = (0..len)
            .map(|i| i.wrapping_mul(37).wrapping_add(len))
            .collect();
        let _ = decode::<HostRequest>(&bytes);
        let _ = decode::<ViewerRequest>(&bytes);
        let _ = decode::<Hello>(&bytes);
    }
}

#[test]
fn close_codes_round_trip() {
    for v in 0..10 {
        assert_eq!(CloseCode::from_u32(v).map(|c| c as u32), Some(v));
    }
    assert_eq!(CloseCode::from_u32(99), None);
}

#[test]
fn clean_text_strips_controls_and_caps_length() {
    assert_eq!(clean_text("a\u{1b}[2Jb\n"), "a[2Jb");
    assert_eq!(clean_text(&"é".repeat(500)).len(), 256);
}

#[test]
fn login() {
    use crate::login::{Credential, LoginCode, LoginRefusal};
    pin(ViewerRequest::Login, "0000000107");
    pin(
        ViewerEvent::LoginCode(LoginCode {
            uri: "u".into(),
            uri_complete: None,
            user_code: "c".into(),
            expires_in_s: 600,
        }),
        "00000008070175000163d804",
    );
    pin(
        ViewerEvent::LoggedIn(Credential {
            token: "t".into(),
            name: "n".into(),
            expires_in_s: 43200,
        }),
        "00000008080174016ec0d102",
    );
    pin(
        ViewerEvent::LoginRefused(LoginRefusal::NotTechnician),
        "000000020901",
    );
    pin(
        ViewerEvent::Refused(JoinRefusal::ExpiredToken),
        "000000020109",
    );
    for r in LoginRefusal::ALL {
        assert!(!r.as_str().is_empty() && r.to_string().len() > 20, "{r:?}");
    }
    assert_eq!(
        JoinRefusal::from_word("expired credential"),
        Some(JoinRefusal::ExpiredToken)
    );
}
