//! Audit records shipped to the security team's SIEM as they are written:
//! `--audit-export syslog://HOST:PORT` (RFC 5424 over TCP, each message
//! octet-counted as RFC 6587 says), `syslog+udp://HOST:PORT` (one datagram
//! a record) or `stdout-json` (the log's own lines). Each record once, in
//! order, at least once across restarts: the exporter tails the log file
//! and remembers the hash of the last record it handed over
//! (`DIR/audit-export.state`), so a restarted relay goes on after it. A
//! sink that is down (cannot be reached) is retried, and nothing is skipped
//! meanwhile; but no record can hold up the ones after it: each message is
//! cut to its transport's limit ([`UDP_MAX_MESSAGE`], [`TCP_MAX_MESSAGE`];
//! the middle of the line goes, its `seq`, `event` and `hash` stay), and a
//! record the sink, once reached, refuses [`SEND_TRIES`] times is reported
//! (an error line and [`skipped`]) and skipped.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use lifeline_proto::audit::check_line;
use tokio::io::AsyncWriteExt as _;
use tokio::sync::watch;

/// Where records go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportTarget {
    SyslogTcp(String),
    SyslogUdp(String),
    StdoutJson,
}

/// A target that is not one of the three forms.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "--audit-export takes syslog://HOST:PORT (TCP), syslog+udp://HOST:PORT or stdout-json, not {0:?}"
)]
pub struct BadTarget(pub String);

impl std::str::FromStr for ExportTarget {
    type Err = BadTarget;

    fn from_str(s: &str) -> Result<Self, BadTarget> {
        let bad = || BadTarget(s.to_owned());
        let addr = |rest: &str| {
            let ok = rest
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
            ok.then(|| rest.to_owned()).ok_or_else(bad)
        };
        if s == "stdout-json" {
            Ok(Self::StdoutJson)
        } else if let Some(rest) = s.strip_prefix("syslog+udp://") {
            addr(rest).map(Self::SyslogUdp)
        } else if let Some(rest) = s.strip_prefix("syslog://") {
            addr(rest).map(Self::SyslogTcp)
        } else {
            Err(bad())
        }
    }
}

/// The file that remembers the last record handed over.
pub fn state_path(dir: &Path) -> PathBuf {
    dir.join("audit-export.state")
}

/// The longest syslog message sent in one UDP datagram, in octets. RFC
/// 5426 (3.2): every receiver SHOULD take 2048 octets (IPv4 must take
/// 480, IPv6 1180); past that a datagram may be fragmented or dropped
/// unseen, and past ~64 KiB it cannot be sent at all (EMSGSIZE). A record
/// bounded by `AuditEvent::bounded` seals to at most `MAX_LINE_BYTES`
/// (2048) and nearly always fits whole with the header; a longer line (a
/// log written before records were bounded) loses its middle.
pub const UDP_MAX_MESSAGE: usize = 2048;
/// The longest syslog message sent over TCP: rsyslog's default
/// `maxMessageSize` (8 KiB), which receivers take without configuration.
pub const TCP_MAX_MESSAGE: usize = 8192;
/// How many times one record is offered to a sink that was reached before
/// it is skipped (0.2, 0.4, 0.8, 1.6 s between tries).
pub const SEND_TRIES: u32 = 5;

/// Records skipped since the relay started (a sink refused them
/// [`SEND_TRIES`] times).
static SKIPPED: AtomicU64 = AtomicU64::new(0);

/// How many records the exporter skipped since the relay started.
pub fn skipped() -> u64 {
    SKIPPED.load(Ordering::Relaxed)
}

/// One log line as a syslog message (RFC 5424): facility "log audit"
/// (13), severity informational; the record's event as MSGID; the line
/// itself as MSG.
pub fn syslog_message(line: &str, host: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
    let ts = v["ts"].as_str().unwrap_or("-");
    let event = v["event"].as_str().unwrap_or("-");
    format!("<110>1 {ts} {host} lifeline-relay - {event} - {line}")
}

/// [`syslog_message`] cut to at most `max` octets: the line's middle is
/// replaced by `…` so that its start (`seq`, `ts`, `event`) and its end
/// (`hash`, which names the record in the log) both arrive.
pub fn syslog_message_within(line: &str, host: &str, max: usize) -> String {
    let whole = syslog_message(line, host);
    if whole.len() <= max {
        return whole;
    }
    const MARK: &str = "…";
    // `,"hash":"` + 64 hex + `"}`, and as much of the start as fits.
    let tail_len = 75.min(whole.len());
    let mut tail_at = whole.len() - tail_len;
    while !whole.is_char_boundary(tail_at) {
        tail_at += 1;
    }
    let mut head_end = max.saturating_sub(whole.len() - tail_at + MARK.len());
    while !whole.is_char_boundary(head_end) {
        head_end -= 1;
    }
    format!("{}{MARK}{}", &whole[..head_end], &whole[tail_at..])
}

/// The records after the one whose hash is `after` (all when `None`, or
/// when it is not in the log: the log was replaced), each with its hash.
pub fn pending<'a>(log: &'a str, after: Option<&str>) -> Vec<(&'a str, String)> {
    log[start_of(log, after)..]
        .lines()
        .filter_map(|l| check_line(l, 0).ok().map(|v| (l, v.hash)))
        .collect()
}

/// A connected sink.
enum Sink {
    Tcp(tokio::net::TcpStream),
    Udp(tokio::net::UdpSocket),
    Stdout,
}

impl Sink {
    async fn open(target: &ExportTarget) -> std::io::Result<Self> {
        Ok(match target {
            ExportTarget::SyslogTcp(a) => Self::Tcp(tokio::net::TcpStream::connect(a).await?),
            ExportTarget::SyslogUdp(a) => {
                let s = tokio::net::UdpSocket::bind("0.0.0.0:0").await?;
                s.connect(a).await?;
                Self::Udp(s)
            }
            ExportTarget::StdoutJson => Self::Stdout,
        })
    }

    async fn send(&mut self, line: &str, host: &str) -> std::io::Result<()> {
        match self {
            Self::Tcp(s) => {
                let msg = syslog_message_within(line, host, TCP_MAX_MESSAGE);
                s.write_all(format!("{} {msg}", msg.len()).as_bytes()).await
            }
            Self::Udp(s) => s
                .send(syslog_message_within(line, host, UDP_MAX_MESSAGE).as_bytes())
                .await
                .map(|_| ()),
            Self::Stdout => {
                use std::io::Write as _;
                let mut out = std::io::stdout().lock();
                writeln!(out, "{line}")?;
                out.flush()
            }
        }
    }
}

/// Where the first record after `after` starts in the log (its end when
/// every record was sent; the start when `after` is not in it).
fn start_of(log: &str, after: Option<&str>) -> usize {
    let Some(after) = after else { return 0 };
    let mut at = 0;
    for (i, line) in log.split_inclusive('\n').enumerate() {
        at += line.len();
        if check_line(line.trim_end(), i + 1).is_ok_and(|v| v.hash == after) {
            return at;
        }
    }
    0
}

/// Ships every record after the remembered one, then each new one as the
/// log grows (`written` changes after every durable batch), until the
/// relay stops. The log is read from where the last read ended.
/// `lag` says how many records read from the log are not shipped yet.
pub async fn run(
    dir: PathBuf,
    target: ExportTarget,
    mut written: watch::Receiver<u64>,
    lag: prometheus_client::metrics::gauge::Gauge,
) {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "-".into());
    let state = state_path(&dir);
    let path = crate::audit::log_path(&dir);
    let last = std::fs::read_to_string(&state)
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    let log = std::fs::read_to_string(&path).unwrap_or_default();
    let mut offset = start_of(&log, last.as_deref());
    drop(log);
    let mut sink: Option<Sink> = None;
    loop {
        let lines = new_lines(&path, offset);
        lag.set(i64::try_from(lines.len()).unwrap_or(i64::MAX));
        for (line, hash) in lines {
            deliver(&mut sink, &target, &line, &host).await;
            lag.dec();
            if let Err(e) = std::fs::write(&state, &hash) {
                tracing::error!(error = %e, "audit export: cannot remember the last record sent");
            }
            offset += line.len() + 1;
        }
        if written.changed().await.is_err() {
            return;
        }
    }
}

/// The whole lines from `offset` on, each with its hash.
fn new_lines(path: &Path, offset: usize) -> Vec<(String, String)> {
    use std::io::{Read as _, Seek as _};
    let mut text = String::new();
    let read = std::fs::File::open(path).and_then(|mut f| {
        f.seek(std::io::SeekFrom::Start(offset as u64))?;
        f.read_to_string(&mut text)
    });
    if let Err(e) = read {
        tracing::error!(error = %e, "audit export: cannot read the log");
        return Vec::new();
    }
    let whole = text.rfind('\n').map_or(0, |i| i + 1);
    text[..whole]
        .lines()
        .map(|l| {
            let hash = check_line(l, 0).map(|v| v.hash).unwrap_or_default();
            (l.to_owned(), hash)
        })
        .collect()
}

/// Hands one line over: a sink that cannot be reached is retried until it
/// can (nothing is skipped while the SIEM is down); a line the reached
/// sink refuses [`SEND_TRIES`] times is reported and skipped, so it never
/// holds up the lines after it.
async fn deliver(sink: &mut Option<Sink>, target: &ExportTarget, line: &str, host: &str) {
    let mut retry = Retry::default();
    loop {
        let s = match sink {
            Some(s) => s,
            None => match Sink::open(target).await {
                Ok(s) => sink.insert(s),
                Err(e) => {
                    tracing::warn!(error = %e, "audit export: the sink is down; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
        };
        let Err(e) = s.send(line, host).await else {
            return;
        };
        *sink = None;
        let Some(pause) = retry.failed() else {
            let total = SKIPPED.fetch_add(1, Ordering::Relaxed) + 1;
            let hash = check_line(line, 0).map(|v| v.hash).unwrap_or_default();
            tracing::error!(
                error = %e, record = %hash, skipped = total,
                "audit export: the sink refused a record {SEND_TRIES} times; skipped it (it stays in the log)"
            );
            return;
        };
        tracing::warn!(error = %e, "audit export: sending failed; retrying");
        tokio::time::sleep(pause).await;
    }
}

/// One record's sends that a reached sink refused (sans-IO): the pause
/// before the next try, doubling from 200 ms, or `None` once it has had
/// [`SEND_TRIES`] tries.
#[derive(Debug, Default)]
struct Retry {
    failed: u32,
}

impl Retry {
    fn failed(&mut self) -> Option<Duration> {
        self.failed += 1;
        (self.failed < SEND_TRIES).then(|| Duration::from_millis(200) * (1 << (self.failed - 1)))
    }
}

/// Resolves once the last record in the log has been handed over.
pub async fn caught_up(dir: &Path) {
    loop {
        let log = std::fs::read_to_string(crate::audit::log_path(dir)).unwrap_or_default();
        let last = std::fs::read_to_string(state_path(dir)).unwrap_or_default();
        if pending(&log, Some(last.trim())).is_empty() || log.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[cfg(test)]
mod tests {
    use lifeline_proto::audit::{AuditEvent, Chain};

    use super::*;

    fn log(n: usize) -> (String, Vec<String>) {
        let mut chain = Chain::default();
        let (mut text, mut hashes) = (String::new(), Vec::new());
        for i in 0..n {
            let event = AuditEvent::RelayStopped {
                reason: format!("r{i}"),
            };
            let (line, hash) = chain.seal("2026-11-23T00:00:00Z".into(), event).unwrap();
            chain.advance(hash.clone());
            text.push_str(&line);
            text.push('\n');
            hashes.push(hash);
        }
        (text, hashes)
    }

    #[test]
    fn export_goes_on_after_the_last_record_sent() {
        let (text, hashes) = log(4);
        assert_eq!(pending(&text, None).len(), 4);
        assert_eq!(start_of(&text, Some(&hashes[3])), text.len());
        assert_eq!(start_of(&text, Some("00")), 0);
        let rest = pending(&text, Some(&hashes[1]));
        assert_eq!(
            rest.iter().map(|(_, h)| h.clone()).collect::<Vec<_>>(),
            hashes[2..]
        );
        assert!(pending(&text, Some(&hashes[3])).is_empty());
        // A hash the log does not have: the log was replaced, send it all.
        assert_eq!(pending(&text, Some("00")).len(), 4);
    }

    #[test]
    fn targets_and_messages() {
        assert_eq!(
            "syslog://siem.example:514".parse(),
            Ok(ExportTarget::SyslogTcp("siem.example:514".into()))
        );
        assert_eq!(
            "syslog+udp://10.0.0.1:514".parse(),
            Ok(ExportTarget::SyslogUdp("10.0.0.1:514".into()))
        );
        assert_eq!("stdout-json".parse(), Ok(ExportTarget::StdoutJson));
        for bad in [
            "syslog://nohost",
            "http://x:1",
            "syslog://:514",
            "syslog://h:0",
        ] {
            assert!(bad.parse::<ExportTarget>().is_err(), "{bad}");
        }
        let (text, _) = log(1);
        let line = text.lines().next().unwrap();
        let msg = syslog_message(line, "relay1");
        assert!(
            msg.starts_with(
                "<110>1 2026-11-23T00:00:00Z relay1 lifeline-relay - relay_stopped - {"
            )
        );
        assert!(msg.ends_with(line));
    }

    #[test]
    fn a_refused_record_gets_five_tries_then_is_skipped() {
        let mut retry = Retry::default();
        let pauses: Vec<_> = std::iter::from_fn(|| retry.failed()).collect();
        let ms: Vec<u128> = pauses.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [200, 400, 800, 1600], "four pauses between five tries");
        assert_eq!(retry.failed(), None);
    }

    #[test]
    fn a_long_line_loses_its_middle_within_the_limit() {
        let mut chain = Chain::default();
        let event = AuditEvent::RelayStopped {
            reason: "é".repeat(40_000),
        };
        let (line, hash) = chain.seal("2026-11-23T00:00:00Z".into(), event).unwrap();
        chain.advance(hash.clone());
        for max in [UDP_MAX_MESSAGE, TCP_MAX_MESSAGE] {
            let msg = syslog_message_within(&line, "relay1", max);
            assert!(msg.len() <= max, "{} > {max}", msg.len());
            assert!(msg.contains(" relay_stopped - {\"seq\":1,"), "{msg}");
            assert!(msg.ends_with(&format!(",\"hash\":\"{hash}\"}}")), "{msg}");
            assert!(msg.contains('…'));
        }
        // A line that fits is sent whole.
        let (text, _) = log(1);
        let short = text.lines().next().unwrap();
        assert_eq!(
            syslog_message_within(short, "relay1", UDP_MAX_MESSAGE),
            syslog_message(short, "relay1")
        );
    }
}
