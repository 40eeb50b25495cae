//! The console's pages: pure functions from what to show to HTML. maud
//! escapes every value it interpolates, so a host name like `<script>`
//! reaches the browser as text.

use lifeline_proto::audit::Record;
use maud::{DOCTYPE, Markup, html};

use super::index::{Filter, Page};
use super::users::Role;
use lifeline_relay_core::integrity::Integrity;
use lifeline_relay_core::report::{Outcome, SessionSummary};

pub mod receipts;
pub mod signin;

/// The stylesheet, served as `/console.css` (the policy allows no inline style).
pub const CSS: &str = include_str!("console.css");

/// Who is looking, for the navigation bar and every form's CSRF token.
#[derive(Debug, Clone)]
pub struct Viewer<'a> {
    pub user: &'a str,
    pub role: Role,
    pub csrf: &'a str,
}

/// A technician as the page lists them.
#[derive(Debug, Clone)]
pub struct TechnicianRow {
    pub name: String,
    pub added: String,
    pub revoked: Option<String>,
    pub last_use: Option<String>,
    /// A credential from a sign-in: when it ends, and the provider's
    /// subject it is bound to.
    pub expires: Option<String>,
    pub expired: bool,
    pub subject: Option<String>,
    /// Sessions of theirs forwarding now.
    pub live: usize,
}

/// An enrolled device as the page lists it.
#[derive(Debug, Clone)]
pub struct DeviceRow {
    pub name: String,
    pub group: String,
    pub policy: String,
    pub approval: bool,
    pub online: bool,
    pub last_seen: Option<String>,
    pub disabled: bool,
    pub enrolled: String,
    pub key: String,
    /// Sessions with it in the log.
    pub sessions: usize,
}

/// An enrollment ticket just made, shown once.
#[derive(Debug, Clone)]
pub struct IssuedTicket {
    pub group: String,
    pub ticket: String,
}

/// A device session waiting for an approver, and the seconds before it
/// lapses.
pub type ApprovalRow = (lifeline_relay_core::approvals::Request, u64);

/// What the sealed record says of a recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingMeta {
    pub session: String,
    pub file: String,
    pub chunks: u64,
    pub bytes: u64,
    pub sha256: String,
    pub sealed: String,
    /// Still on disk (not expired or deleted).
    pub present: bool,
    /// Earlier copies: when, by whom, to where.
    pub fetches: Vec<(String, String, String)>,
}

fn csrf_field(csrf: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(csrf); }
}

/// The frame every page shares.
pub fn layout(
    title: &str,
    viewer: Option<&Viewer<'_>>,
    banner: Option<&str>,
    body: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Lifeline console" }
                link rel="stylesheet" href="/console.css";
            }
            body {
                header {
                    span.brand { "Lifeline" }
                    @if let Some(v) = viewer {
                        nav {
                            a href="/sessions" { "Sessions" }
                            a href="/events" { "Events" }
                            a href="/integrity" { "Integrity" }
                            a href="/receipts" { "Receipts" }
                            a href="/technicians" { "Technicians" }
                            a href="/devices" { "Devices" }
                            a href="/approvals" { "Approvals" }
                            a href="/password" { "Password" }
                        }
                        form.logout method="post" action="/logout" {
                            span.who { (v.user) " (" (v.role.as_str()) ")" }
                            (csrf_field(v.csrf))
                            button type="submit" { "Log out" }
                        }
                    }
                }
                @if let Some(b) = banner {
                    p.banner.bad id="banner" { (b) }
                }
                main { h1 { (title) } (body) }
            }
        }
    }
}

/// The login form; `csrf` is the login cookie's value.
pub fn login(csrf: &str, error: Option<&str>, provider: bool) -> Markup {
    let body = html! {
        @if let Some(e) = error { p.error id="error" { (e) } }
        @if provider {
            p { a.button id="oidc" href="/login/oidc" { "Sign in with your organisation" } }
            p { "Or with a console account:" }
        }
        form.login method="post" action="/login" {
            (csrf_field(csrf))
            label { "Name" input name="user" autocomplete="username" required autofocus; }
            label { "Password" input name="password" type="password" autocomplete="current-password" required; }
            label { "Code from your authenticator (if you set one up)"
                input name="code" inputmode="numeric" autocomplete="one-time-code"; }
            button type="submit" { "Log in" }
        }
    };
    layout("Log in", None, None, body)
}

/// Choosing a new password; `forced` after a one-time password.
pub fn password(v: &Viewer<'_>, forced: bool, error: Option<&str>, done: bool) -> Markup {
    let body = html! {
        @if forced { p { "You logged in with a one-time password. Choose your own to go on." } }
        @if done { p.good id="done" { "Password changed." } }
        @if let Some(e) = error { p.error id="error" { (e) } }
        form method="post" action="/password" {
            (csrf_field(v.csrf))
            label { "Current password" input name="current" type="password" autocomplete="current-password" required; }
            label { "New password (at least " (super::users::MIN_PASSWORD) " characters)"
                input name="new" type="password" autocomplete="new-password" required; }
            label { "New password again" input name="repeat" type="password" autocomplete="new-password" required; }
            button type="submit" { "Change password" }
        }
    };
    layout("Password", if forced { None } else { Some(v) }, None, body)
}

fn opt(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("–")
}

fn seconds(ms: Option<u64>) -> String {
    match ms {
        None => "–".into(),
        Some(ms) if ms < 10_000 => format!("{:.1} s", ms as f64 / 1000.0),
        Some(ms) if ms < 3_600_000 => format!("{} min {} s", ms / 60_000, ms / 1000 % 60),
        Some(ms) => format!("{} h {} min", ms / 3_600_000, ms / 60_000 % 60),
    }
}

fn bytes(b: Option<u64>) -> String {
    match b {
        None => "–".into(),
        Some(b) if b < 10_000 => format!("{b} B"),
        Some(b) if b < 10_000_000 => format!("{} kB", b / 1000),
        Some(b) => format!("{} MB", b / 1_000_000),
    }
}

fn page_link(f: &Filter, page: usize) -> String {
    let pairs = [
        ("technician", &f.technician),
        ("host", &f.host),
        ("from", &f.from),
        ("to", &f.to),
        ("outcome", &f.outcome),
        ("mode", &f.mode),
        ("q", &f.q),
    ];
    let mut q: Vec<String> = pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", url_escape(v)))
        .collect();
    q.push(format!("page={page}"));
    format!("/sessions?{}", q.join("&"))
}

/// Percent-encodes a query value.
fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn filter_form(f: &Filter) -> Markup {
    html! {
        form.filter method="get" action="/sessions" {
            label { "Technician (name, e-mail or subject)" input name="technician" value=(f.technician); }
            label { "Host" input name="host" value=(f.host); }
            label { "From" input name="from" type="date" value=(f.from); }
            label { "To" input name="to" type="date" value=(f.to); }
            label { "Outcome" select name="outcome" {
                option value="" { "any" }
                @for o in Outcome::ALL {
                    option value=(o.as_str()) selected[f.outcome == o.as_str()] { (o.as_str().replace('_', " ")) }
                }
            } }
            label { "Mode" select name="mode" {
                option value="" { "any" }
                @for m in ["view", "control"] { option value=(m) selected[f.mode == m] { (m) } }
            } }
            label { "Search" input name="q" type="search" value=(f.q); }
            button type="submit" { "Filter" }
        }
    }
}

/// The sessions list.
pub fn sessions(
    v: &Viewer<'_>,
    banner: Option<&str>,
    f: &Filter,
    found: Result<&Page<'_>, &str>,
) -> Markup {
    let body = html! {
        (filter_form(f))
        @match found {
            Err(e) => p.error id="error" { (e) },
            Ok(p) => {
                p.count id="count" { (p.total) " sessions" @if p.pages > 1 { ", page " (p.page) " of " (p.pages) } }
                table.sessions {
                    thead { tr {
                        th { "Code issued" } th { "Host" } th { "User" } th { "Technician" }
                        th { "Mode" } th { "Outcome" } th { "Duration" } th { "Ended" }
                    } }
                    tbody {
                        @for s in &p.rows {
                            tr {
                                td { a href=(format!("/sessions/{}", url_escape(&s.session))) { (s.code_issued) } }
                                td.host { (s.host_name) br; small { (s.host_ip) } }
                                td { (s.os_user) }
                                td { (opt(&s.technician)) }
                                td { (opt(&s.mode)) }
                                td { span class=(format!("outcome {}", s.outcome().as_str())) { (s.outcome().as_str().replace('_', " ")) } }
                                td { (seconds(s.duration_ms)) }
                                td { (opt(&s.end_reason)) }
                            }
                        }
                    }
                }
                nav.pager {
                    @if p.page > 1 { a rel="prev" href=(page_link(f, p.page - 1)) { "← Newer" } }
                    @if p.page < p.pages { a rel="next" href=(page_link(f, p.page + 1)) { "Older →" } }
                }
            }
        }
    };
    layout("Sessions", Some(v), banner, body)
}

/// A record's event name and fields (the session's id is the page's title).
fn fields(r: &Record) -> (String, Vec<(String, String)>) {
    let (event, rest) = lifeline_relay_core::report::fields(&r.event);
    let rest = rest
        .into_iter()
        .filter(|(k, _)| k != "session")
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => (k, s),
            other => (k, other.to_string()),
        })
        .collect();
    (event.replace('_', " "), rest)
}

/// Records as a numbered list, each with its fields; one that no longer
/// matches its hash says so.
fn record_list(records: &[Result<Record, String>]) -> Markup {
    html! {
        ol.timeline {
            @for r in records {
                @match r {
                    Ok(r) => {
                        @let (event, rest) = fields(r);
                        li {
                            span.ts { (r.ts) } " " span.event { (event) }
                            @if !rest.is_empty() {
                                dl.fields { @for (k, v) in &rest { dt { (k) } dd { (v) } } }
                            }
                        }
                    }
                    Err(e) => li.bad { "This record no longer matches its hash: " (e) }
                }
            }
        }
    }
}

/// The kinds of record that belong to no session.
pub const EVENT_KINDS: [&str; 7] = [
    "console_login",
    "console_action",
    "admin_action",
    "join_attempt",
    "token_suspended",
    "relay_started",
    "relay_stopped",
];

/// One page of the records of no session, newest first.
#[derive(Debug)]
pub struct EventsPage<'a> {
    pub kind: &'a str,
    pub page: usize,
    pub pages: usize,
    pub total: usize,
    pub records: &'a [Result<Record, String>],
}

/// Logins, changes, refused joins on no code, relay runs.
pub fn events(v: &Viewer<'_>, banner: Option<&str>, e: &EventsPage<'_>) -> Markup {
    let link = |page: usize| format!("/events?kind={}&page={page}", url_escape(e.kind));
    let body = html! {
        form.filter method="get" action="/events" {
            label { "Kind" select name="kind" {
                option value="" { "any" }
                @for k in EVENT_KINDS {
                    option value=(k) selected[e.kind == k] { (k.replace('_', " ")) }
                }
            } }
            button type="submit" { "Show" }
        }
        p.count id="count" { (e.total) " records" @if e.pages > 1 { ", page " (e.page) " of " (e.pages) } }
        (record_list(e.records))
        nav.pager {
            @if e.page > 1 { a rel="prev" href=(link(e.page - 1)) { "← Newer" } }
            @if e.page < e.pages { a rel="next" href=(link(e.page + 1)) { "Older →" } }
        }
    };
    layout("Events", Some(v), banner, body)
}

/// One session's records.
pub fn timeline(
    v: &Viewer<'_>,
    banner: Option<&str>,
    s: &SessionSummary,
    records: &[Result<Record, String>],
) -> Markup {
    let body = html! {
        dl.summary {
            dt { "Host" } dd.host { (s.host_name) " (" (s.host_ip) "), user " (s.os_user) }
            dt { "Technician" } dd { (opt(&s.technician)) " " small { (opt(&s.viewer_ip)) } }
            @if let Some(subject) = &s.subject { dt { "Subject" } dd.subject { (subject) } }
            dt { "Mode" } dd { (opt(&s.mode)) }
            dt { "Outcome" } dd { (s.outcome().as_str().replace('_', " ")) ": " (opt(&s.end_reason)) }
            dt { "Duration" } dd { (seconds(s.duration_ms)) }
            dt { "Bytes" } dd { "host → viewer " (bytes(s.bytes_host_to_viewer)) ", viewer → host " (bytes(s.bytes_viewer_to_host)) }
            @if let Some(r) = &s.recording {
                dt { "Recording" } dd {
                    @if !r.is_kept() { (r) }
                    @else { a href=(format!("/sessions/{}/recording", url_escape(&s.session))) { "details and download" } }
                }
            }
        }
        (record_list(records))
    };
    layout(&format!("Session {}", s.session), Some(v), banner, body)
}

/// The integrity check's result.
pub fn integrity(v: &Viewer<'_>, found: &Integrity, checked_at: &str) -> Markup {
    let body = html! {
        @if found.intact() {
            p.verdict.good id="verdict" {
                "Intact: " (found.records) " records chain correctly"
                @if found.recordings > 0 { ", and " (found.recordings) " recordings match their records" }
                "."
            }
        } @else {
            p.verdict.bad id="verdict" {
                "FAILED: "
                @if let Some(c) = &found.chain { (c) }
                @for r in &found.bad_recordings { br; "recording: " (r) }
            }
        }
        p { "Checked " (checked_at) ". Reload the page to check again." }
    };
    layout("Integrity", Some(v), None, body)
}

/// Technicians, with forms for admins.
pub fn technicians(
    v: &Viewer<'_>,
    rows: &[TechnicianRow],
    added: Option<(&str, &str)>,
    error: Option<&str>,
) -> Markup {
    let admin = v.role == Role::Admin;
    let body = html! {
        @if let Some((name, token)) = added {
            p.good id="token" { "Technician " (name) " added. Their token, shown only now: " code { (token) } }
        }
        @if let Some(e) = error { p.error id="error" { (e) } }
        table.technicians {
            thead { tr { th { "Name" } th { "Signed in as" } th { "Added" } th { "State" } th { "Last session" } th { "Live" } @if admin { th {} } } }
            tbody {
                @for t in rows {
                    tr {
                        td.name { (t.name) }
                        td.subject { (opt(&t.subject)) }
                        td { (t.added) }
                        td { @if let Some(r) = &t.revoked { "revoked " (r) }
                             @else if let Some(e) = &t.expires { @if t.expired { "expired " (e) } @else { "until " (e) } }
                             @else { "active" } }
                        td { (opt(&t.last_use)) }
                        td.live { (t.live) }
                        @if admin {
                            td { @if t.revoked.is_none() && (!t.expired || t.live > 0) {
                                form method="post" action=(format!("/technicians/{}/revoke", url_escape(&t.name))) {
                                    (csrf_field(v.csrf))
                                    button.danger type="submit" { "Revoke and end sessions" }
                                }
                            } }
                        }
                    }
                }
            }
        }
        @if admin {
            h2 { "Add a technician" }
            form method="post" action="/technicians" {
                (csrf_field(v.csrf))
                label { "Name" input name="name" required; }
                button type="submit" { "Add" }
            }
        }
    };
    layout("Technicians", Some(v), None, body)
}

/// The enrolled devices; admins make tickets and change devices.
pub fn devices(
    v: &Viewer<'_>,
    rows: &[DeviceRow],
    issued: Option<&IssuedTicket>,
    error: Option<&str>,
) -> Markup {
    let admin = v.role == Role::Admin;
    let body = html! {
        @if let Some(t) = issued {
            p.good id="ticket" { "Enrollment ticket for group " (t.group) ", valid 24 hours, shown only now (one machine: "
                code { "lifeline-host enroll --ticket …" } "): " code { (t.ticket) } }
        }
        @if let Some(e) = error { p.error id="error" { (e) } }
        table.devices {
            thead { tr { th { "Device" } th { "Group" } th { "Policy" } th { "State" } th { "Last seen" }
                th { "Sessions" } th { "Key" } @if admin { th {} } } }
            tbody {
                @for d in rows {
                    tr {
                        td { (d.name) }
                        td { (d.group) }
                        td { (d.policy) @if d.approval { ", approval" } }
                        td { @if d.disabled { "disabled" } @else if d.online { "online" } @else { "offline" } }
                        td { (opt(&d.last_seen)) }
                        td { a href=(format!("/sessions?host={}", url_escape(&d.name))) { (d.sessions) } }
                        td { code { (d.key) } }
                        @if admin {
                            td {
                                @let what = if d.disabled { "enable" } else { "disable" };
                                form method="post" action=(format!("/devices/{}/{what}", url_escape(&d.name))) {
                                    (csrf_field(v.csrf))
                                    button type="submit" { (if d.disabled { "Enable" } else { "Disable" }) }
                                }
                                form method="post" action=(format!("/devices/{}/remove", url_escape(&d.name))) {
                                    (csrf_field(v.csrf))
                                    button.danger type="submit" { "Remove" }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if rows.is_empty() { p { "No device is enrolled yet." } }
        @if admin {
            h2 { "Enroll a machine" }
            p { "Disabling here stops this relay calling a device; to stop it even through a relay you do not trust, revoke its key in the organisation's list ("
                code { "lifeline-viewer org revoke --device" } ", then " code { "lifeline-relay device revocations" } ")." }
            form method="post" action="/devices/tickets" {
                (csrf_field(v.csrf))
                label { "Group" input name="group" required; }
                label { "Policy" select name="policy" { option value="attended" { "attended" } option value="unattended" { "unattended" } } }
                label { input type="checkbox" name="approval" value="yes"; " needs an approver" }
                label { "Organisation anchor" input name="anchor" required placeholder="lifeline-anchor:…"; }
                button type="submit" { "Make a ticket" }
            }
        }
    };
    layout("Devices", Some(v), None, body)
}

/// Device sessions waiting for a second person; approvers decide.
pub fn approvals(v: &Viewer<'_>, rows: &[ApprovalRow], error: Option<&str>) -> Markup {
    let approver = v.role == Role::Approver;
    let body = html! {
        @if let Some(e) = error { p.error id="error" { (e) } }
        @if rows.is_empty() { p id="none" { "No device session is waiting for approval." } }
        @else {
            table.approvals {
                thead { tr { th { "Asked" } th { "Technician" } th { "Device" } th { "Group" } th { "Reason" } th { "Lapses in" } @if approver { th {} } } }
                tbody {
                    @for (r, left_s) in rows {
                        tr {
                            td { (r.asked) }
                            td { (r.technician) }
                            td { (r.device) }
                            td { (r.group) }
                            td { (r.reason) }
                            td { (left_s) " s" }
                            @if approver {
                                td {
                                    form method="post" action=(format!("/approvals/{}/approve", url_escape(&r.session))) {
                                        (csrf_field(v.csrf))
                                        button type="submit" { "Approve" }
                                    }
                                    form method="post" action=(format!("/approvals/{}/refuse", url_escape(&r.session))) {
                                        (csrf_field(v.csrf))
                                        button.danger type="submit" { "Refuse" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if !approver { p { "Only a console user with the approver role decides these." } }
    };
    layout("Approvals", Some(v), None, body)
}

/// A recording's facts and its download button.
pub fn recording(v: &Viewer<'_>, m: &RecordingMeta) -> Markup {
    let body = html! {
        dl.summary {
            dt { "Session" } dd { a href=(format!("/sessions/{}", url_escape(&m.session))) { (m.session) } }
            dt { "Sealed" } dd { (m.sealed) }
            dt { "File" } dd { (m.file) }
            dt { "Size" } dd { (bytes(Some(m.bytes))) " in " (m.chunks) " chunks" }
            dt { "SHA-256 chain end" } dd { code { (m.sha256) } }
        }
        @if m.present {
            form method="post" action=(format!("/sessions/{}/recording", url_escape(&m.session))) {
                (csrf_field(v.csrf))
                p { "The file is sealed to the auditors' keys; open it with "
                    code { "lifeline-viewer play FILE --identity KEY" } ". Each download is written to the audit log first." }
                button type="submit" { "Download" }
            }
        } @else {
            p { "The file is no longer on the relay." }
        }
        h2 { "Copies taken" }
        @if m.fetches.is_empty() { p { "None yet." } }
        ul { @for (ts, by, to) in &m.fetches { li { (ts) ": " (by) " → " (to) } } }
    };
    layout("Recording", Some(v), None, body)
}

/// An error page (403, 404, 429, …).
pub fn error(v: Option<&Viewer<'_>>, title: &str, message: &str) -> Markup {
    layout(title, v, None, html! { p.error id="error" { (message) } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped() {
        let s = SessionSummary {
            session: "s1".into(),
            host_name: "<script>alert(1)</script>".into(),
            ..Default::default()
        };
        let v = Viewer {
            user: "ann\"><b>",
            role: Role::Auditor,
            csrf: "t",
        };
        let html = timeline(&v, None, &s, &[]).into_string();
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
        assert!(!html.contains("<script>"));
        assert!(!html.contains("ann\"><b>"));
    }

    #[test]
    fn page_links_keep_the_filter() {
        let f = Filter {
            host: "a b&c".into(),
            ..Default::default()
        };
        assert_eq!(page_link(&f, 2), "/sessions?host=a%20b%26c&page=2");
    }
}
