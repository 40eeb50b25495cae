//! Issue #33, `lifeline-relay check`: the real binary's exit status and
//! lines for a relay not started yet, one that has run, and each thing
//! that can be wrong: settings, data directory, a certificate close to
//! its end or not matching its key, a tampered audit log.

use std::path::Path;

use lifeline_certs::RelayFiles;
use lifeline_tests::{RelayProcess, relay_cli};

/// `lifeline-relay check ARGS… --data-dir DIR`: exit code and stdout.
fn check(dir: &Path, args: &[&str]) -> (i32, String) {
    let mut all = vec!["check", "--data-dir", dir.to_str().unwrap()];
    all.extend_from_slice(args);
    let (code, out, err) = relay_cli(&all);
    assert!(err.is_empty() || code != 0, "{err}");
    (code, out)
}

/// Whether a FAILED line says `what`.
fn failed(out: &str, what: &str) -> bool {
    out.lines()
        .any(|l| l.starts_with("FAILED") && l.contains(what))
}

#[tokio::test]
async fn check_passes_for_a_good_relay_and_names_what_is_wrong_otherwise() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("relay");
    let (code, out) = check(&data, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("(not made yet: serve makes it)"), "{out}");
    assert!(out.contains("none in"), "{out}");
    assert!(out.contains("All 4 checks passed."), "{out}");

    // A relay that has run: its CA, certificate and audit log (a
    // technician added: a record).
    let relay = RelayProcess::start(&data, &[]);
    let (added, _, _) = relay_cli(&[
        "technician",
        "add",
        "bob",
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert_eq!(added, 0);
    drop(relay);
    let (code, out) = check(&data, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ok      the relay's CA"), "{out}");
    assert!(out.contains("ok      the relay's certificate"), "{out}");
    assert!(
        out.contains("verifies: ") && !out.contains("verifies: 0 records"),
        "{out}"
    );
    assert!(out.contains("All 5 checks passed."), "{out}");

    // Settings serve would refuse.
    let (code, out) = check(&data, &["--recording", "required"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        failed(&out, "settings: --recording needs an auditor"),
        "{out}"
    );
    assert!(out.contains("1 of 5 checks failed."), "{out}");

    // A data directory that cannot be written (under a file).
    let file = root.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let (code, out) = check(&file.join("relay"), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(failed(&out, "is a file"), "{out}");

    // The operator's certificate: fewer days left than --days asks, and a
    // key that is not its own.
    let other = root.path().join("other");
    lifeline_certs::ensure_relay_certs(&other, &["localhost".to_owned()]).unwrap();
    lifeline_certs::issue_relay_cert(&other, &["localhost".to_owned()], 20).unwrap();
    let f = RelayFiles::in_dir(&other);
    let (cert, key) = (f.cert.to_str().unwrap(), f.key.to_str().unwrap());
    let (code, out) = check(&data, &["--cert", cert, "--key", key]);
    assert_eq!(code, 1, "{out}");
    assert!(failed(&out, "days left"), "{out}");
    assert!(failed(&out, "under --days 30"), "{out}");
    let (code, out) = check(&data, &["--cert", cert, "--key", key, "--days", "7"]);
    assert_eq!(code, 0, "{out}");
    let own_key = RelayFiles::in_dir(&data).key;
    let (code, out) = check(&data, &["--cert", cert, "--key", own_key.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(failed(&out, "cannot be used together"), "{out}");

    // The relay's own certificate expired: serve reissues it, so check
    // passes saying so; without the CA's key it could not, and check fails.
    lifeline_certs::issue_relay_cert(&data, &["localhost".to_owned()], -1).unwrap();
    let (code, out) = check(&data, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("has expired: serve reissues it"), "{out}");
    let ca_key = RelayFiles::in_dir(&data).ca_key;
    let kept = std::fs::read(&ca_key).unwrap();
    std::fs::remove_file(&ca_key).unwrap();
    let (code, out) = check(&data, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(failed(&out, "ca-key.pem is missing"), "{out}");
    std::fs::write(&ca_key, kept).unwrap();

    // A tampered audit log.
    let log = lifeline_relay_core::audit::log_path(&data);
    let text = std::fs::read_to_string(&log).unwrap();
    std::fs::write(&log, text.replacen("\"seq\":1", "\"seq\":7", 1)).unwrap();
    let (code, out) = check(&data, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(failed(&out, "failed verification"), "{out}");
}
