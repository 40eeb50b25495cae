use super::*;
use std::io::Write as _;

/// Writes audit lines as the relay does.
#[derive(Default)]
struct Log {
    chain: Chain,
    text: String,
}

impl Log {
    fn push(&mut self, ts: &str, event: AuditEvent) {
        let (line, hash) = self.chain.seal(ts.into(), event).unwrap();
        self.chain.advance(hash);
        self.text.push_str(&line);
        self.text.push('\n');
    }

    /// A session: issued, joined by `tech`, granted `mode`, ended.
    fn session(&mut self, id: &str, day: &str, host: &str, tech: &str, mode: Option<&str>) {
        let ts = format!("{day}T10:00:00.000Z");
        self.push(
            &ts,
            AuditEvent::CodeIssued {
                session: id.into(),
                locator: "1".into(),
                host_ip: "10.0.0.1".into(),
                host_name: host.into(),
                os_user: "user".into(),
                expires_in_s: 600,
            },
        );
        self.push(
            &ts,
            AuditEvent::SessionStarted {
                session: id.into(),
                technician: tech.into(),
                host_ip: "10.0.0.1".into(),
                viewer_ip: "10.0.0.2".into(),
                viewer_kind: None,
                reason: None,
            },
        );
        self.push(
            &ts,
            AuditEvent::PeerReport {
                session: id.into(),
                from: "host".into(),
                report: "granted".into(),
                mode: mode.map(str::to_owned),
                kind: mode.map(|_| lifeline_proto::audit::ReportKind::ModeGranted),
            },
        );
        self.push(
            &ts,
            AuditEvent::SessionEnded {
                session: id.into(),
                reason: "viewer disconnected".into(),
                duration_ms: 1000,
                bytes_host_to_viewer: 10,
                bytes_viewer_to_host: 5,
            },
        );
    }
}

fn sample() -> Log {
    let mut log = Log::default();
    log.session("s1", "2026-11-01", "laptop-ann", "wendy", Some("control"));
    log.session("s2", "2026-11-02", "desk-bob", "wendy", Some("view"));
    log.session("s3", "2026-11-03", "laptop-cy", "tom", None);
    log.push(
        "2026-11-04T00:00:00.000Z",
        AuditEvent::CodeIssued {
            session: "s4".into(),
            locator: "1".into(),
            host_ip: "10.0.0.9".into(),
            host_name: "kiosk".into(),
            os_user: "u".into(),
            expires_in_s: 600,
        },
    );
    log
}

fn ids(p: &Page<'_>) -> Vec<String> {
    p.rows.iter().map(|s| s.session.clone()).collect()
}

fn filter(f: impl FnOnce(&mut Filter)) -> Filter {
    let mut x = Filter::default();
    f(&mut x);
    x
}

#[test]
fn newest_first_filtered_and_paged() {
    let mut idx = AuditIndex::default();
    idx.feed(&sample().text);
    assert_eq!((idx.records(), idx.sessions()), (13, 4));
    let all = idx.query(&Filter::default(), 50);
    assert_eq!(ids(&all), ["s4", "s3", "s2", "s1"]);
    let q = |f: Filter| ids(&idx.query(&f, 50));
    assert_eq!(q(filter(|f| f.technician = "WENDY".into())), ["s2", "s1"]);
    assert_eq!(q(filter(|f| f.host = "laptop".into())), ["s3", "s1"]);
    assert_eq!(q(filter(|f| f.mode = "view".into())), ["s2"]);
    assert_eq!(q(filter(|f| f.outcome = "refused".into())), ["s3"]);
    assert_eq!(q(filter(|f| f.outcome = "waiting".into())), ["s4"]);
    assert_eq!(q(filter(|f| f.outcome = "completed".into())), ["s2", "s1"]);
    assert_eq!(
        q(filter(|f| {
            f.from = "2026-11-02".into();
            f.to = "2026-11-03".into();
        })),
        ["s3", "s2"]
    );
    assert_eq!(q(filter(|f| f.q = "10.0.0.9".into())), ["s4"]);
    assert_eq!(
        q(filter(|f| f.q = "nothing like it".into())),
        Vec::<String>::new()
    );
    let p2 = idx.query(&filter(|f| f.page = Some(2)), 3);
    assert_eq!(
        (ids(&p2), p2.total, p2.pages),
        (vec!["s1".to_owned()], 4, 2)
    );
    assert_eq!(idx.last_use("wendy"), Some("2026-11-02T10:00:00.000Z"));
    assert_eq!(idx.last_use("nobody"), None);
    assert_eq!(idx.session("s2").unwrap().1.len(), 4);
}

#[test]
fn records_of_no_session_are_listed_by_kind_newest_first() {
    let mut log = sample();
    for (i, user) in ["ann", "bob", "cy"].iter().enumerate() {
        log.push(
            &format!("2026-11-05T00:00:0{i}.000Z"),
            AuditEvent::ConsoleLogin {
                user: (*user).into(),
                ip: "127.0.0.1".into(),
                ok: true,
                reason: None,
                attempts: None,
                issuer: None,
                subject: None,
            },
        );
    }
    log.push(
        "2026-11-06T00:00:00.000Z",
        AuditEvent::RelayStopped { reason: "x".into() },
    );
    let mut idx = AuditIndex::default();
    idx.feed(&log.text);
    assert_eq!(idx.broken(), None);
    let (all, total) = idx.events("", 1, 50);
    assert_eq!((all.len(), total), (4, 4));
    assert_eq!(all[0].seq, 17, "newest first");
    let (logins, total) = idx.events("console_login", 2, 2);
    assert_eq!(total, 3);
    assert_eq!(logins.iter().map(|s| s.seq).collect::<Vec<_>>(), [14]);
    assert_eq!(idx.events("token_suspended", 1, 50).1, 0);
}

#[test]
fn bad_filters_are_named() {
    assert!(
        filter(|f| f.from = "1 Nov".into())
            .check()
            .unwrap_err()
            .contains("YYYY-MM-DD")
    );
    assert!(
        filter(|f| f.outcome = "won".into())
            .check()
            .unwrap_err()
            .contains("completed")
    );
    assert!(filter(|f| f.mode = "x".into()).check().is_err());
    assert!(filter(|f| f.to = "2026-11-30".into()).check().is_ok());
}

#[test]
fn reads_only_what_was_appended_and_waits_for_whole_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let text = sample().text;
    let cut = text.len() - 20;
    std::fs::write(&path, &text[..cut]).unwrap();
    let mut idx = AuditIndex::default();
    idx.refresh(&path).unwrap();
    assert_eq!(idx.records(), 12, "the torn last line waits");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(&text.as_bytes()[cut..]).unwrap();
    idx.refresh(&path).unwrap();
    assert_eq!((idx.records(), idx.sessions()), (13, 4));
    assert!(idx.broken().is_none());
    let (_, spans) = idx.session("s1").unwrap();
    let back = read_back(&path, spans).unwrap();
    assert!(matches!(&back[0], Ok(r) if r.seq == 1));
    assert_eq!(back.len(), 4);
}

#[test]
fn an_edited_log_is_named_at_its_first_bad_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let text = sample().text;
    std::fs::write(&path, &text).unwrap();
    let mut idx = AuditIndex::default();
    idx.refresh(&path).unwrap();
    let (_, spans) = idx.session("s2").unwrap();
    let spans = spans.to_vec();

    // Same length: the index keeps its place, the record read back fails.
    let edited = text.replacen("desk-bob", "desk-BOB", 1);
    std::fs::write(&path, &edited).unwrap();
    let back = read_back(&path, &spans).unwrap();
    assert!(
        back[0]
            .as_ref()
            .unwrap_err()
            .contains("record 5 was altered"),
        "{back:?}"
    );

    // Longer, with something appended: read again from the start, stopped at record 5.
    let mut log = sample();
    log.text = text.replacen("desk-bob", "desk-bobby", 1);
    log.push(
        "2026-11-05T00:00:00.000Z",
        AuditEvent::RelayStopped { reason: "x".into() },
    );
    std::fs::write(&path, &log.text).unwrap();
    idx.refresh(&path).unwrap();
    let why = idx.broken().unwrap();
    assert!(why.starts_with("line 5:"), "{why}");
    assert_eq!(idx.records(), 4);

    // Put back: whole again.
    std::fs::write(&path, &text).unwrap();
    idx.refresh(&path).unwrap();
    assert!(idx.broken().is_none());
    assert_eq!(idx.records(), 13);
}
