//! The markdown table: medians (min–max) side by side, and their ratio.

use crate::video::VideoFigures;
use crate::workloads::{Figures, RunFigures};

/// Median, min and max.
pub(crate) fn stats(v: &[f64]) -> (f64, f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    (s[s.len() / 2], s[0], s[s.len() - 1])
}

pub(crate) fn cell(v: &[f64], unit: &str, digits: usize) -> String {
    if v.is_empty() {
        return "–".into();
    }
    let (m, lo, hi) = stats(v);
    format!("**{m:.digits$}** {unit} ({lo:.digits$}–{hi:.digits$})")
}

pub(crate) fn ratio(a: &[f64], b: &[f64]) -> String {
    if a.is_empty() || b.is_empty() {
        return "–".into();
    }
    let (ma, mb) = (stats(a).0, stats(b).0);
    if mb == 0.0 {
        if ma == 0.0 {
            "both 0".into()
        } else {
            "x11vnc 0".into()
        }
    } else {
        format!("{:.2}", ma / mb)
    }
}

type Measure<'a> = &'a dyn Fn(&RunFigures) -> Option<f64>;

/// One row: a measure's medians (min–max) for both systems, and their ratio.
fn row(
    life: &[RunFigures],
    vnc: &[RunFigures],
    w: &str,
    m: &str,
    f: Measure<'_>,
    unit: &str,
    d: usize,
) {
    let a: Vec<f64> = life.iter().filter_map(f).collect();
    let b: Vec<f64> = vnc.iter().filter_map(f).collect();
    println!(
        "| {w} | {m} | {} | {} | {} |",
        cell(&a, unit, d),
        cell(&b, unit, d),
        ratio(&a, &b)
    );
}

/// A row of keys whose effect never showed, when any did not.
fn lost_row(
    life: &[RunFigures],
    vnc: &[RunFigures],
    name: &str,
    pick: &dyn Fn(&RunFigures) -> usize,
) {
    let lost: (usize, usize) = (life.iter().map(pick).sum(), vnc.iter().map(pick).sum());
    if lost != (0, 0) {
        println!(
            "| {name} | keys whose effect never showed (all runs) | {} | {} | |",
            lost.0, lost.1
        );
    }
}

pub(crate) fn report(life: &[RunFigures], vnc: &[RunFigures]) {
    println!("| workload | measure | Lifeline | x11vnc | Lifeline / x11vnc |");
    println!("|---|---|---|---|---|");
    let row =
        |w: &str, m: &str, f: Measure<'_>, unit: &str, d: usize| row(life, vnc, w, m, f, unit, d);
    row(
        "join",
        "to first whole screen",
        &|r| Some(r.join_ms),
        "ms",
        0,
    );
    row(
        "join",
        "to the first exact screen",
        &|r| Some(r.exact_join_ms),
        "ms",
        0,
    );
    let j = "typing at join";
    row(j, "latency p50", &|r| r.typing_at_join.p50_ms, "ms", 1);
    row(j, "latency p99", &|r| r.typing_at_join.p99_ms, "ms", 1);
    row(
        j,
        "ended before the first exact screen by",
        &|r| r.typed_before_exact_ms,
        "ms",
        0,
    );
    lost_row(life, vnc, j, &|r| r.typing_at_join.lost);
    row(
        "pictures stop",
        "until the screen is exact",
        &|r| Some(r.exact_ms),
        "ms",
        0,
    );
    row(
        "whole run",
        "host's most bytes in flight",
        &|r| r.max_in_flight.map(|b| b / 1e3),
        "kB",
        0,
    );
    type Pick = fn(&RunFigures) -> &Figures;
    let loads: [(&str, Pick); 4] = [
        ("idle", |r| &r.idle),
        ("typing", |r| &r.typing),
        ("scrolling", |r| &r.scrolling),
        ("pictures", |r| &r.pictures),
    ];
    for (name, pick) in loads {
        row(name, "updates/s", &|r| Some(pick(r).updates_per_s), "", 1);
        row(name, "bytes", &|r| Some(pick(r).bytes / 1e3), "kB", 1);
        row(name, "host CPU", &|r| Some(pick(r).cpu_s), "s", 2);
        row(name, "latency p50", &|r| pick(r).p50_ms, "ms", 1);
        row(name, "latency p99", &|r| pick(r).p99_ms, "ms", 1);
        lost_row(life, vnc, name, &|r| pick(r).lost);
    }
    if life.iter().chain(vnc).any(|r| r.video.is_some()) {
        video_rows(life, vnc);
    }
}

/// The video workload's rows.
fn video_rows(life: &[RunFigures], vnc: &[RunFigures]) {
    let row = |w: &str, m: &str, f: &dyn Fn(&VideoFigures) -> Option<f64>, unit: &str, d: usize| {
        row(life, vnc, w, m, &|r| r.video.as_ref().and_then(f), unit, d);
    };
    let v = "video";
    row(v, "frames shown/s", &|v| Some(v.shown_per_s), "", 1);
    row(
        v,
        "frames drawn on the X server/s",
        &|v| Some(v.drawn_per_s),
        "",
        1,
    );
    row(v, "updates/s", &|v| Some(v.during.updates_per_s), "", 1);
    row(v, "bytes", &|v| Some(v.during.bytes / 1e3), "kB", 1);
    row(
        v,
        "bitrate",
        &|v| Some(v.during.bytes * 8.0 / v.secs / 1e6),
        "Mbit/s",
        2,
    );
    row(v, "SSIM median", &|v| v.ssim_median, "", 3);
    row(v, "SSIM p10", &|v| v.ssim_p10, "", 3);
    row(v, "host CPU", &|v| Some(v.during.cpu_s), "s", 2);
    row(
        v,
        "host CPU per frame shown",
        &|v| v.cpu_ms_per_frame,
        "ms",
        1,
    );
    let t = "typing during the video";
    row(t, "latency p50", &|v| v.typing.p50_ms, "ms", 1);
    row(t, "latency p99", &|v| v.typing.p99_ms, "ms", 1);
    lost_row(life, vnc, t, &|r| {
        r.video.as_ref().map_or(0, |v| v.typing.lost)
    });
    row(
        "video stops",
        "until the screen is exact",
        &|v| Some(v.exact_ms),
        "ms",
        0,
    );
}
