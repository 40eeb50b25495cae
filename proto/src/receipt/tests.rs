use super::*;
use crate::audit::{AuditEvent, Chain};

fn started(session: &str, technician: &str) -> AuditEvent {
    AuditEvent::SessionStarted {
        session: session.into(),
        technician: technician.into(),
        host_ip: "10.0.0.1".into(),
        viewer_ip: "10.0.0.2".into(),
        viewer_kind: None,
        reason: Some("INC-4821, printer not found".into()),
    }
}

fn transfer(session: &str) -> AuditEvent {
    AuditEvent::Transfer {
        session: session.into(),
        kind: "file".into(),
        direction: "to host".into(),
        bytes: 5,
        name: Some("a.txt".into()),
        sha256: Some("ab".repeat(32)),
    }
}

/// A log of `events` and each record's (seq, hash).
fn log_of(events: Vec<AuditEvent>) -> (String, Vec<Acked>) {
    let mut chain = Chain::default();
    let (mut text, mut acked) = (String::new(), Vec::new());
    for e in events {
        let seq = chain.head().seq + 1;
        let (line, hash) = chain.seal("2026-12-07T05:00:00Z".into(), e).unwrap();
        text.push_str(&line);
        text.push('\n');
        acked.push(Acked {
            seq,
            hash: hash.clone(),
        });
        chain.advance(hash);
    }
    (text, acked)
}

fn receipt(audit_records: Vec<Acked>) -> Receipt {
    Receipt {
        version: VERSION,
        session: "s1".into(),
        technician: "alice".into(),
        reason: Some("INC-4821, printer not found".into()),
        relay: "relay.example:4433".into(),
        started: "2026-12-07T05:00:00Z".into(),
        ended: "2026-12-07T05:02:08Z".into(),
        duration_s: 128,
        ending: "ended by the technician".into(),
        recorded_for: vec!["ann".into()],
        keys_recorded: false,
        events: vec![
            Happened::Mode {
                at: "2026-12-07T05:00:03Z".into(),
                mode: "control".into(),
            },
            Happened::Transfer {
                at: "2026-12-07T05:01:00Z".into(),
                what: "file".into(),
                direction: "to host".into(),
                bytes: 5,
                name: Some("a.txt".into()),
                sha256: Some("ab".repeat(32)),
            },
            Happened::Chat {
                at: "2026-12-07T05:01:30Z".into(),
                from: "technician".into(),
                text: "two\nlines".into(),
            },
        ],
        left_out: 0,
        audit_records,
    }
}

#[test]
fn a_receipt_reads_back_and_tells_people_what_happened() {
    let r = receipt(vec![Acked {
        seq: 3,
        hash: "cd".repeat(32),
    }]);
    let text = r.to_text();
    assert_eq!(Receipt::from_text(&text), Ok(r));
    for said in [
        "Technician  alice",
        "Reason      INC-4821, printer not found",
        "(2 min 8 s): ended by the technician",
        "Recorded    yes, for ann",
        "you allowed them to see and control your screen",
        "file to you: 5 bytes, a.txt, SHA-256 abab",
        "chat, technician: two lines",
        &format!("record 3        {}", "cd".repeat(32)),
    ] {
        assert!(text.contains(said), "{said:?} missing from:\n{text}");
    }
}

#[test]
fn what_is_not_a_receipt_is_said_so() {
    assert_eq!(Receipt::from_text("hello"), Err(ReceiptError::NoBlock));
    let broken = format!("{BEGIN}\n{{\"version\":1\n{END}\n");
    assert!(matches!(
        Receipt::from_text(&broken),
        Err(ReceiptError::Unreadable(_))
    ));
    let later = format!("{BEGIN}\n{{\"version\":2}}\n{END}\n");
    assert_eq!(Receipt::from_text(&later), Err(ReceiptError::Version(2)));
    let huge = "x".repeat(MAX_BYTES + 1);
    assert_eq!(Receipt::from_text(&huge), Err(ReceiptError::TooLarge));
}

#[test]
fn a_receipt_checks_against_the_log_it_came_from() {
    let (log, acked) = log_of(vec![
        started("s1", "alice"),
        started("s2", "bob"),
        transfer("s1"),
    ]);
    let mine = vec![acked[0].clone(), acked[2].clone()];
    let checked = check(&receipt(mine.clone()), &log);
    assert_eq!(checked.named, 2);
    assert_eq!(checked.findings, []);
    assert!(checked.chain.is_ok());

    // Another session's record named in this receipt.
    let theirs = vec![acked[1].clone()];
    assert_eq!(
        check(&receipt(theirs), &log).findings,
        [Finding::OtherSession { seq: 2 }, Finding::NoStart]
    );
}

#[test]
fn a_start_record_naming_another_technician_or_reason_is_found() {
    let (log, acked) = log_of(vec![started("s1", "alice"), transfer("s1")]);
    let mut r = receipt(acked);
    r.technician = "bob".into();
    r.reason = Some("something else".into());
    let checked = check(&r, &log);
    assert_eq!(
        checked.findings,
        [
            Finding::Disagrees {
                seq: 1,
                what: "technician"
            },
            Finding::Disagrees {
                seq: 1,
                what: "reason"
            }
        ]
    );
    assert_eq!(
        checked.findings[1].to_string(),
        "record 1: the session's start names another reason than the receipt"
    );
}

#[test]
fn an_altered_removed_or_rewritten_record_is_named() {
    let (log, acked) = log_of(vec![started("s1", "alice"), transfer("s1"), transfer("s1")]);
    let r = receipt(acked.clone());

    // Edited in place: its own hash no longer matches.
    let edited = log.replacen("a.txt", "b.txt", 1);
    let checked = check(&r, &edited);
    assert_eq!(checked.findings, [Finding::Altered { seq: 2 }]);
    assert!(checked.chain.is_err(), "the chain breaks there too");

    // Cut: the last record is gone.
    let cut: String = log.lines().take(2).map(|l| format!("{l}\n")).collect();
    assert_eq!(check(&r, &cut).findings, [Finding::Missing { seq: 3 }]);

    // Rewritten whole, hashes recomputed: the chain verifies, the receipt
    // does not.
    let (rewritten, _) = log_of(vec![
        started("s1", "mallory"),
        transfer("s1"),
        transfer("s1"),
    ]);
    let checked = check(&r, &rewritten);
    assert!(checked.chain.is_ok());
    assert_eq!(
        checked.findings,
        [
            Finding::Differs { seq: 1 },
            Finding::Differs { seq: 2 },
            Finding::Differs { seq: 3 },
            Finding::NoStart
        ]
    );
    assert!(
        checked.findings[0]
            .to_string()
            .starts_with("record 1: not the record the relay acknowledged")
    );
}

#[test]
fn durations_read_as_people_say_them() {
    assert_eq!(human_duration(42), "42 s");
    assert_eq!(human_duration(128), "2 min 8 s");
    assert_eq!(human_duration(7500), "2 h 5 min");
}
