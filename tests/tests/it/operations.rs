//! Issue #33, running the relay for real: `serve --metrics` scraped
//! during a real session through the real relay binary (in a cluster, on
//! a real PostgreSQL), checked for its counters and for naming no one;
//! `/healthz`; `/readyz` ready, then not while the relay drains.

use std::io::{Read as _, Write as _};
use std::time::Duration;

use lifeline_tests::relay_cli;

use super::cluster::Cluster;

/// A plain HTTP GET to `addr`: the status code and the body.
pub(super) fn get(addr: &str, path: &str) -> (u16, String) {
    let mut tcp = std::net::TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        tcp,
        "GET {path} HTTP/1.1\r\nHost: metrics\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    tcp.read_to_string(&mut text).unwrap();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_owned())
}

/// The value of the sample named exactly `name` (labels included).
pub(super) fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no sample {name} in\n{text}"))
}

/// Every label value in a scrape.
fn label_values(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| Some(l.split_once('{')?.1.split_once('}')?.0.to_owned()))
        .flat_map(|labels| {
            labels
                .split(',')
                .filter_map(|kv| Some(kv.split_once('=')?.1.trim_matches('"').to_owned()))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test]
async fn the_metrics_count_a_session_and_name_no_one_and_readiness_flips_while_draining() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let at = format!("127.0.0.1:{port}");
    let Some(c) = Cluster::start(1, &["--metrics", &at]) else {
        return;
    };
    let token = c.add_technician("gwen");
    assert_eq!(get(&at, "/healthz"), (200, "ok\n".into()));
    assert_eq!(get(&at, "/readyz"), (200, "ready\n".into()));
    assert_eq!(get(&at, "/other").0, 404);

    // A session, and 100,000 bytes from the viewer to the host in it.
    let (host, viewer, reg) = c.paired(0, 0, &token).await;
    let mut send = viewer.conn.open_uni().await.unwrap();
    send.write_all(&[7u8; 100_000]).await.unwrap();
    send.finish().unwrap();
    let mut recv = host.conn.accept_uni().await.unwrap();
    assert_eq!(recv.read_to_end(200_000).await.unwrap().len(), 100_000);
    // And 50,000 the other way.
    let mut send = host.conn.open_uni().await.unwrap();
    send.write_all(&[9u8; 50_000]).await.unwrap();
    send.finish().unwrap();
    let mut recv = viewer.conn.accept_uni().await.unwrap();
    assert_eq!(recv.read_to_end(100_000).await.unwrap().len(), 50_000);

    let (status, text) = get(&at, "/metrics");
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        sample(&text, r#"lifeline_joins_total{outcome="admitted"}"#),
        1.0
    );
    assert_eq!(sample(&text, "lifeline_sessions_active"), 1.0);
    assert_eq!(sample(&text, "lifeline_sessions_started_total"), 1.0);
    // The host here reports no mode granted.
    assert_eq!(
        sample(&text, r#"lifeline_sessions_by_mode{mode="none"}"#),
        1.0
    );
    assert_eq!(
        sample(&text, r#"lifeline_sessions_by_mode{mode="control"}"#),
        0.0
    );
    assert_eq!(sample(&text, "lifeline_waiting_hosts"), 0.0);
    assert_eq!(sample(&text, "lifeline_draining"), 0.0);
    // One relay in its cluster: its database answers, no link is open.
    assert_eq!(sample(&text, "lifeline_cluster_database_up"), 1.0);
    assert_eq!(sample(&text, "lifeline_cluster_links"), 0.0);
    assert!(sample(&text, "lifeline_connections") >= 2.0, "{text}");
    assert!(
        sample(
            &text,
            r#"lifeline_forwarded_bytes_total{direction="viewer_to_host"}"#
        ) >= 100_000.0
    );
    let to_viewer = r#"lifeline_forwarded_bytes_total{direction="host_to_viewer"}"#;
    assert!(sample(&text, to_viewer) >= 50_000.0, "{text}");
    assert!(
        sample(&text, "lifeline_audit_write_seconds_count") >= 3.0,
        "{text}"
    );
    assert!(
        sample(&text, "lifeline_process_resident_bytes") > 1e6,
        "{text}"
    );
    // No one named: every label a fixed word; no token, session, name.
    for value in label_values(&text) {
        let words = [
            lifeline_relay_core::metrics::JOIN_OUTCOMES,
            lifeline_relay_core::metrics::RESUME_OUTCOMES,
            lifeline_relay_core::metrics::LOGIN_OUTCOMES,
            lifeline_relay_core::metrics::SIGN_IN_OUTCOMES,
            &[
                "host_to_viewer",
                "viewer_to_host",
                "view",
                "control",
                "none",
            ],
        ]
        .concat();
        assert!(
            words.contains(&value.as_str()) || value.parse::<f64>().is_ok() || value == "+Inf",
            "label value {value:?} in\n{text}"
        );
    }
    for secret in [token.as_str(), reg.session.as_str(), "gwen", "pc", "ann"] {
        let named = text
            .split(|ch: char| !ch.is_ascii_alphanumeric() && ch != '_' && ch != '-')
            .any(|word| word == secret);
        assert!(!named, "{secret} in\n{text}");
    }
    assert!(!text.contains(&reg.locator.to_string()), "{text}");
    dashboard_names_only_what_the_relay_exports(&text);

    // Draining with the session still on: not ready, saying why.
    let (dir, url) = (c.dir(0), c.url.clone());
    let drain = tokio::task::spawn_blocking(move || {
        let dir = dir.to_str().unwrap().to_owned();
        relay_cli(&["drain", "--data-dir", &dir, "--database", &url])
    });
    let polled = at.clone();
    let (status, body) = tokio::task::spawn_blocking(move || {
        lifeline_tests::wait_for("the relay not ready while draining", || {
            let (status, body) = get(&polled, "/readyz");
            (status != 200).then_some((status, body))
        })
    })
    .await
    .unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("draining"), "{body}");
    let (_, text) = get(&at, "/metrics");
    assert_eq!(sample(&text, "lifeline_draining"), 1.0);
    viewer.end("done").await;
    drop(host);
    let (rc, _, said) = drain.await.unwrap();
    assert_eq!(rc, 0, "{said}");
}

/// docs/grafana-relay.json's queries name only metrics a scrape has.
fn dashboard_names_only_what_the_relay_exports(scrape: &str) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/grafana-relay.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let panels = dashboard["panels"].as_array().unwrap();
    assert!(panels.len() >= 8, "{dashboard}");
    for panel in panels {
        let expr = panel["targets"][0]["expr"].as_str().unwrap();
        let names: Vec<&str> = expr
            .split(|ch: char| !ch.is_ascii_alphanumeric() && ch != '_')
            .filter(|w| w.starts_with("lifeline_"))
            .collect();
        assert!(!names.is_empty(), "{expr}");
        for name in names {
            // A family with no sample yet still has its TYPE line.
            let family = ["_bucket", "_count", "_sum", "_total"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(name);
            let typed = format!("# TYPE {family} ");
            assert!(
                scrape.lines().any(|l| l.starts_with(&typed)),
                "{name} (in {expr}) is not in a scrape:\n{scrape}"
            );
        }
    }
}
