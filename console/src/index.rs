//! The console's index of the audit log: one summary a session, where
//! each session's records sit in the file, and each technician's last
//! session. It reads only what was appended since its last look, checking
//! the hash chain as it goes; the JSONL file stays the source of truth
//! (a timeline is read back from it, each record checked again).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::time::SystemTime;

use lifeline_proto::audit::{AuditEvent, Chain, Record, check_line};
use serde::Deserialize;

use lifeline_relay_core::report::{SessionSummary, Summaries};

/// Where one record sits in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub offset: u64,
    pub len: u32,
    pub seq: u64,
}

/// The index; [`AuditIndex::feed`] is its sans-IO core.
#[derive(Debug, Default)]
pub struct AuditIndex {
    summaries: Summaries,
    /// Each summary row's records.
    spans: Vec<Vec<Span>>,
    last_use: HashMap<String, String>,
    /// Records of no session (relay runs, suspensions, refused joins on
    /// unknown codes, console logins, changes), with their kind.
    others: Vec<(Span, &'static str)>,
    chain: Chain,
    records: u64,
    /// Bytes of the log read so far (whole lines only).
    offset: u64,
    /// The first record that failed the chain; reading stops there.
    broken: Option<String>,
    /// The file as it was when it broke: read again only once it changes.
    broken_stamp: Option<(SystemTime, u64)>,
}

/// A search of the sessions; empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Filter {
    pub technician: String,
    pub host: String,
    /// First day, `YYYY-MM-DD` (UTC), inclusive.
    pub from: String,
    /// Last day, `YYYY-MM-DD` (UTC), inclusive.
    pub to: String,
    /// An [`lifeline_relay_core::report::Outcome`] word.
    pub outcome: String,
    /// `view` or `control`.
    pub mode: String,
    /// Free text over ids, names, users, addresses and end reasons.
    pub q: String,
    /// 1-based page.
    pub page: Option<usize>,
}

/// One page of matching sessions, newest first.
#[derive(Debug)]
pub struct Page<'a> {
    pub rows: Vec<&'a SessionSummary>,
    pub total: usize,
    pub page: usize,
    pub pages: usize,
}

fn is_day(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        })
}

/// ASCII case-insensitive `hay.contains(needle)`; `needle` is lowercase.
fn contains_ci(hay: &str, needle: &str) -> bool {
    needle.is_empty()
        || hay
            .as_bytes()
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

impl Filter {
    /// Says what is wrong with a field, in words for the page.
    pub fn check(&self) -> Result<(), String> {
        for (name, v) in [("from", &self.from), ("to", &self.to)] {
            if !v.is_empty() && !is_day(v) {
                return Err(format!("{name}: write the day as YYYY-MM-DD (got {v:?})"));
            }
        }
        let outcomes = lifeline_relay_core::report::Outcome::ALL.map(|o| o.as_str());
        if !self.outcome.is_empty() && !outcomes.contains(&self.outcome.as_str()) {
            return Err(format!("outcome: one of {}", outcomes.join(", ")));
        }
        if !matches!(self.mode.as_str(), "" | "view" | "control") {
            return Err("mode: view or control".into());
        }
        Ok(())
    }

    /// Lowercased once, so matching a million rows allocates nothing.
    fn lowered(&self) -> Self {
        Self {
            technician: self.technician.trim().to_ascii_lowercase(),
            host: self.host.trim().to_ascii_lowercase(),
            q: self.q.trim().to_ascii_lowercase(),
            ..self.clone()
        }
    }

    fn matches(&self, s: &SessionSummary) -> bool {
        let day = s.code_issued.get(..10).unwrap_or("");
        fn opt(v: &Option<String>) -> &str {
            v.as_deref().unwrap_or("")
        }
        (contains_ci(opt(&s.technician), &self.technician)
            || contains_ci(opt(&s.subject), &self.technician))
            && (contains_ci(&s.host_name, &self.host) || contains_ci(&s.host_ip, &self.host))
            && (self.from.is_empty() || day >= self.from.as_str())
            && (self.to.is_empty() || day <= self.to.as_str())
            && (self.outcome.is_empty() || s.outcome().as_str() == self.outcome)
            && (self.mode.is_empty() || opt(&s.mode) == self.mode)
            && (self.q.is_empty()
                || [
                    s.session.as_str(),
                    &s.host_name,
                    &s.os_user,
                    &s.host_ip,
                    opt(&s.technician),
                    opt(&s.viewer_ip),
                    opt(&s.end_reason),
                ]
                .iter()
                .any(|f| contains_ci(f, &self.q)))
    }
}

impl AuditIndex {
    /// Folds in `text`, whole lines of the log following what was read.
    /// Stops at the first record that breaks the chain.
    pub fn feed(&mut self, text: &str) {
        for line in text.split_inclusive('\n') {
            let Some(body) = line.strip_suffix('\n') else {
                return; // a line still being written
            };
            if self.broken.is_some() {
                return;
            }
            let lineno = usize::try_from(self.records + 1).unwrap_or(usize::MAX);
            match self.chain.verify_next(body, lineno) {
                Ok(v) => self.add(&v.record, body.len()),
                Err(e) => {
                    self.broken = Some(e.to_string());
                    return;
                }
            }
            self.offset += line.len() as u64;
        }
    }

    fn add(&mut self, r: &Record, len: usize) {
        self.records += 1;
        let span = Span {
            offset: self.offset,
            len: u32::try_from(len).unwrap_or(u32::MAX),
            seq: r.seq,
        };
        match self.summaries.apply(r) {
            Some(row) => {
                self.spans
                    .resize_with(self.summaries.rows().len(), Vec::new);
                self.spans[row].push(span);
            }
            None => self.others.push((span, r.event.name())),
        }
        if let AuditEvent::SessionStarted { technician, .. } = &r.event {
            self.last_use.insert(technician.clone(), r.ts.clone());
        }
    }

    /// Reads what was appended to the log at `path` since the last look.
    /// A log that shrank, or whose next bytes do not continue the chain
    /// (it was edited), is read again from the start, so a break is named
    /// at its real record.
    pub fn refresh(&mut self, path: &Path) -> io::Result<()> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                *self = Self::default();
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let meta = file.metadata()?;
        let stamp = (meta.modified()?, meta.len());
        if self.broken.is_some() {
            if self.broken_stamp == Some(stamp) {
                return Ok(());
            }
            *self = Self::default();
        }
        if meta.len() < self.offset {
            *self = Self::default();
        }
        let from_start = self.offset == 0;
        self.read_from(&file)?;
        if self.broken.is_some() && !from_start {
            *self = Self::default();
            self.read_from(&file)?;
        }
        if self.broken.is_some() {
            self.broken_stamp = Some(stamp);
        }
        Ok(())
    }

    fn read_from(&mut self, mut file: &File) -> io::Result<()> {
        file.seek(SeekFrom::Start(self.offset))?;
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut line = Vec::new();
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line)? == 0 || line.last() != Some(&b'\n') {
                return Ok(());
            }
            match std::str::from_utf8(&line) {
                Ok(text) => self.feed(text),
                Err(_) => {
                    self.broken = Some(format!(
                        "line {}: not text (the file was damaged)",
                        self.records + 1
                    ));
                }
            }
            if self.broken.is_some() {
                return Ok(());
            }
        }
    }

    /// Matching sessions, newest first, `per_page` to a page.
    pub fn query(&self, filter: &Filter, per_page: usize) -> Page<'_> {
        let f = filter.lowered();
        let per_page = per_page.max(1);
        let want = filter.page.unwrap_or(1).max(1);
        let skip = (want - 1).saturating_mul(per_page);
        let mut rows = Vec::new();
        let mut total = 0;
        for s in self.summaries.rows().iter().rev() {
            if f.matches(s) {
                if total >= skip && rows.len() < per_page {
                    rows.push(s);
                }
                total += 1;
            }
        }
        Page {
            rows,
            total,
            page: want,
            pages: total.div_ceil(per_page).max(1),
        }
    }

    /// Records of no session, newest first, of one kind (all when
    /// `kind` is empty): one page of them, how many in all.
    pub fn events(&self, kind: &str, page: usize, per_page: usize) -> (Vec<Span>, usize) {
        let per_page = per_page.max(1);
        let skip = page.max(1).saturating_sub(1).saturating_mul(per_page);
        let matching = self
            .others
            .iter()
            .rev()
            .filter(|(_, k)| kind.is_empty() || *k == kind);
        let total = matching.clone().count();
        let spans = matching
            .skip(skip)
            .take(per_page)
            .map(|(s, _)| *s)
            .collect();
        (spans, total)
    }

    /// A session's summary and where its records are.
    pub fn session(&self, id: &str) -> Option<(&SessionSummary, &[Span])> {
        let (i, s) = self.summaries.get(id)?;
        Some((s, self.spans.get(i).map_or(&[][..], Vec::as_slice)))
    }

    /// When the technician last started a session.
    pub fn last_use(&self, technician: &str) -> Option<&str> {
        self.last_use.get(technician).map(String::as_str)
    }

    /// Records read.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Sessions known.
    pub fn sessions(&self) -> usize {
        self.summaries.rows().len()
    }

    /// Why reading stopped early, naming the first bad record.
    pub fn broken(&self) -> Option<&str> {
        self.broken.as_deref()
    }
}

/// Reads records back from the log, each checked against its own hash:
/// `Err` says what is wrong with one that no longer matches.
pub fn read_back(path: &Path, spans: &[Span]) -> io::Result<Vec<Result<Record, String>>> {
    let mut file = File::open(path)?;
    let mut out = Vec::with_capacity(spans.len());
    for s in spans {
        file.seek(SeekFrom::Start(s.offset))?;
        let mut buf = Vec::with_capacity(s.len as usize);
        (&mut file).take(u64::from(s.len)).read_to_end(&mut buf)?;
        let r = std::str::from_utf8(&buf)
            .map_err(|_| format!("record {}: not text", s.seq))
            .and_then(|line| {
                check_line(line, usize::try_from(s.seq).unwrap_or(usize::MAX))
                    .map(|v| v.record)
                    .map_err(|e| e.to_string())
            })
            .and_then(|r| {
                if r.seq == s.seq {
                    Ok(r)
                } else {
                    Err(format!("record {} moved: the log was edited", s.seq))
                }
            });
        out.push(r);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
