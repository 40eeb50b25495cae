//! Issue #32's trust model, first part: the organisation's key and the
//! technician's, made and signed by the real `lifeline-viewer org` and
//! `lifeline-viewer unattended` commands, then checked the way an
//! enrolled device checks them (`lifeline-trust`'s handshake): a vouched
//! technician is admitted, the same one after `org revoke` is not, and
//! every key is its owner's alone on disk.

use std::path::Path;

use lifeline_tests::run_cli;
use lifeline_trust::TrustError;
use lifeline_trust::creds::{Revocations, TechnicianCert};
use lifeline_trust::handshake::{Device, StaticKey, Technician};
use lifeline_trust::org::{Anchor, Signed};

/// Runs `lifeline-viewer ARGS…`: exit code, stdout, stderr.
fn viewer(args: &[&str]) -> (i32, String, String) {
    run_cli("lifeline-viewer", args)
}

fn ok(args: &[&str]) -> String {
    let (rc, out, err) = viewer(args);
    assert_eq!(rc, 0, "lifeline-viewer {}: {err}", args.join(" "));
    out.trim().to_owned()
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The device's side of a handshake with the technician whose key is in
/// `key_file` and certificate is `cert`.
fn device_admits(
    anchor: Anchor,
    key_file: &Path,
    cert: &str,
    revoked: Option<&Revocations>,
) -> Result<TechnicianCert, TrustError> {
    let tech = StaticKey::from_bytes(&std::fs::read(key_file).unwrap()).unwrap();
    let device = StaticKey::generate().unwrap();
    let cert = Signed::from_text(cert, "lifeline-cert:").unwrap();
    let (mut t, first) = Technician::start(&tech, cert, "u-1", "INC-1")?;
    let mut d = Device::new(&device, anchor, revoked, "u-1", "desk")?;
    t.read_device(&d.read_hello(&first)?)?;
    let (last, _) = t.finish()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    Ok(d.read_proof(&last, now, revoked)?.cert)
}

#[test]
fn an_admin_vouches_for_a_technician_and_revokes_them() {
    let dir = tempfile::tempdir().unwrap();
    let org = dir.path().join("org");
    let me = dir.path().join("me");
    let (org, me) = (org.to_str().unwrap(), me.to_str().unwrap());

    let anchor = ok(&["org", "init", "--dir", org]);
    let anchor = Anchor::from_text(&anchor).unwrap();
    assert_eq!(ok(&["org", "anchor", "--dir", org]), anchor.to_text());
    // A second init would orphan every device: refused, the key kept.
    let key_before = std::fs::read(Path::new(org).join("org.key")).unwrap();
    let (rc, _, err) = viewer(&["org", "init", "--dir", org]);
    assert_ne!(rc, 0);
    assert!(err.contains("already has a key"), "{err}");
    assert_eq!(
        std::fs::read(Path::new(org).join("org.key")).unwrap(),
        key_before
    );

    let key = ok(&["unattended", "key", "--dir", me]);
    assert!(key.starts_with("lifeline-key:"), "{key}");
    assert_eq!(ok(&["unattended", "key", "--dir", me]), key, "made once");
    let cert = ok(&[
        "org", "vouch", "bob", "--key", &key, "--days", "2", "--dir", org,
    ]);
    assert!(cert.starts_with("lifeline-cert:"), "{cert}");
    ok(&["unattended", "cert", &cert, "--dir", me]);
    assert_eq!(
        std::fs::read_to_string(Path::new(me).join("cert")).unwrap(),
        cert
    );
    #[cfg(unix)]
    for file in ["org/org.key", "org/revocations", "me/key", "me/cert"] {
        let path = dir.path().join(file);
        if path.exists() {
            assert_eq!(mode(&path), 0o600, "{file}");
        }
    }

    let key_file = Path::new(me).join("key");
    let admitted = device_admits(anchor, &key_file, &cert, None).unwrap();
    assert_eq!(admitted.name, "bob");
    assert!(admitted.not_after - admitted.not_before == 2 * 24 * 3600);

    // Revoked: the list the admin signs turns the same certificate away.
    let list = ok(&[
        "org",
        "revoke",
        "--serial",
        &admitted.serial.to_string(),
        "--dir",
        org,
    ]);
    let list = Revocations::open(
        &anchor,
        &Signed::from_text(&list, "lifeline-revocations:").unwrap(),
    )
    .unwrap();
    assert_eq!(
        (list.seq, list.technicians.clone()),
        (1, vec![admitted.serial])
    );
    assert_eq!(
        device_admits(anchor, &key_file, &cert, Some(&list)).unwrap_err(),
        TrustError::Revoked
    );
    // Another organisation's device does not know bob at all.
    let other = dir.path().join("other");
    let other_anchor = ok(&["org", "init", "--dir", other.to_str().unwrap()]);
    assert_eq!(
        device_admits(
            Anchor::from_text(&other_anchor).unwrap(),
            &key_file,
            &cert,
            None
        )
        .unwrap_err(),
        TrustError::BadSignature
    );
}

#[test]
fn bad_input_is_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let org = dir.path().join("org");
    let me = dir.path().join("me");
    let (org, me) = (org.to_str().unwrap(), me.to_str().unwrap());
    let refused = |args: &[&str], says: &str| {
        let (rc, out, err) = viewer(args);
        assert_ne!(rc, 0, "{}: {out}", args.join(" "));
        assert!(err.contains(says), "{}: {err}", args.join(" "));
    };
    refused(
        &["org", "vouch", "bob", "--key", "x", "--dir", org],
        "org init",
    );
    ok(&["org", "init", "--dir", org]);
    refused(
        &[
            "org",
            "vouch",
            "bob",
            "--key",
            "lifeline-key:AAAA",
            "--dir",
            org,
        ],
        "lifeline-key",
    );
    let key = ok(&["unattended", "key", "--dir", me]);
    refused(
        &[
            "org", "vouch", "bob", "--key", &key, "--days", "90", "--dir", org,
        ],
        "1 to 31",
    );
    refused(
        &["org", "vouch", "a\u{1b}b", "--key", &key, "--dir", org],
        "control characters",
    );
    refused(&["org", "revoke", "--dir", org], "name what to revoke");
    refused(
        &["unattended", "cert", "lifeline-cert:AAAA", "--dir", me],
        "not a certificate",
    );
    // A certificate for someone else's key is not kept.
    let theirs = ok(&[
        "unattended",
        "key",
        "--dir",
        dir.path().join("them").to_str().unwrap(),
    ]);
    let cert = ok(&["org", "vouch", "eve", "--key", &theirs, "--dir", org]);
    refused(&["unattended", "cert", &cert, "--dir", me], "not yours");
    assert!(!Path::new(me).join("cert").exists());
}
