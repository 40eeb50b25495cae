//! The markdown table: medians (min–max) side by side, and their ratio.

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

pub(crate) fn report(life: &[RunFigures], vnc: &[RunFigures]) {
    println!("| workload | measure | Lifeline | x11vnc | Lifeline / x11vnc |");
    println!("|---|---|---|---|---|");
    let row = |w: &str, m: &str, f: &dyn Fn(&RunFigures) -> Option<f64>, unit: &str, d: usize| {
        let a: Vec<f64> = life.iter().filter_map(f).collect();
        let b: Vec<f64> = vnc.iter().filter_map(f).collect();
        println!(
            "| {w} | {m} | {} | {} | {} |",
            cell(&a, unit, d),
            cell(&b, unit, d),
            ratio(&a, &b)
        );
    };
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
        let lost: (usize, usize) = (
            life.iter().map(|r| pick(r).lost).sum(),
            vnc.iter().map(|r| pick(r).lost).sum(),
        );
        if lost != (0, 0) {
            println!(
                "| {name} | keys whose effect never showed (all runs) | {} | {} | |",
                lost.0, lost.1
            );
        }
    }
}
