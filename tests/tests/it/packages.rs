//! Issue #33, the Debian packages, as `scripts/package` makes them (in CI
//! `scripts/package --smoke`, from the debug binaries): each one's fields,
//! files, owners and modes, conffiles and maintainer scripts; the
//! binaries run from the unpacked packages; every systemd unit passes
//! `systemd-analyze verify` without a warning (the relay's also `security`
//! at an exposure of 2.0 or less); every desktop entry passes
//! `desktop-file-validate`. Installing the relay's package on a fresh
//! Debian 12 and starting its service: `scripts/package --install-test`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where `scripts/package` left the packages; `None` (the test skips)
/// when they were not built and the run does not require them.
fn debs() -> Option<PathBuf> {
    match std::env::var_os("LIFELINE_PACKAGES_DIR") {
        Some(d) => Some(PathBuf::from(d)),
        None if std::env::var_os("LIFELINE_REQUIRE_PACKAGES").is_some() => {
            panic!("LIFELINE_REQUIRE_PACKAGES is set but LIFELINE_PACKAGES_DIR is not")
        }
        None => {
            eprintln!("SKIPPED: no packages (scripts/package --smoke, then LIFELINE_PACKAGES_DIR)");
            None
        }
    }
}

/// The package file of `name` in `dir`.
fn deb(dir: &Path, name: &str) -> PathBuf {
    let version = env!("CARGO_PKG_VERSION");
    let path = dir.join(format!("{name}_{version}-1_amd64.deb"));
    assert!(path.is_file(), "no {}", path.display());
    path
}

/// Runs `cmd`: (success, stdout, stderr).
fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(cmd: &mut Command) -> String {
    let (good, out, err) = run(cmd);
    assert!(good, "{cmd:?} failed: {err}{out}");
    out
}

/// Every file in the package: its path (from `/`) to its mode and owner.
fn files(deb: &Path) -> BTreeMap<String, (String, String)> {
    ok(Command::new("dpkg-deb").arg("-c").arg(deb))
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let path = f.get(5)?.trim_start_matches('.');
            (!path.ends_with('/')).then(|| (path.to_owned(), (f[0].to_owned(), f[1].to_owned())))
        })
        .collect()
}

fn field(deb: &Path, name: &str) -> String {
    ok(Command::new("dpkg-deb").arg("-f").arg(deb).arg(name))
        .trim()
        .to_owned()
}

/// `deb` unpacked into `root`.
fn unpack(deb: &Path, root: &Path) {
    ok(Command::new("dpkg-deb").arg("-x").arg(deb).arg(root));
}

/// Checks every file is root's, none writable but by its owner, no
/// set-id bits, and that each of `want` is there with `mode`.
fn check_files(deb: &Path, want: &[(&str, &str)]) {
    let all = files(deb);
    for (path, (mode, owner)) in &all {
        assert!(
            owner == "0/0" || owner == "root/root",
            "{path} is {owner}'s"
        );
        let bits: Vec<char> = mode.chars().collect();
        assert!(bits[5] != 'w' && bits[8] != 'w', "{path} is {mode}");
        assert!(
            !mode.contains('s') && !mode.contains('S'),
            "{path} is {mode}"
        );
    }
    for (path, mode) in want {
        let got = all.get(*path).map(|(m, _)| m.as_str());
        assert_eq!(got, Some(*mode), "{path} in {}", deb.display());
    }
}

/// The binary unpacked in `root` runs and says its version.
fn runs(root: &Path, bin: &str) {
    let out = ok(Command::new(root.join("usr/bin").join(bin)).arg("--version"));
    assert_eq!(out.trim(), format!("{bin} {}", env!("CARGO_PKG_VERSION")));
}

/// The man pages and completions made from `bin`'s options.
fn docs(bin: &str, pages: &[&str]) -> Vec<(String, &'static str)> {
    let mut want: Vec<(String, &str)> = pages
        .iter()
        .map(|p| (format!("/usr/share/man/man1/{p}.1"), "-rw-r--r--"))
        .collect();
    for c in [
        format!("/usr/share/bash-completion/completions/{bin}"),
        format!("/usr/share/zsh/vendor-completions/_{bin}"),
        format!("/usr/share/fish/vendor_completions.d/{bin}.fish"),
    ] {
        want.push((c, "-rw-r--r--"));
    }
    want
}

fn check_with(deb: &Path, want: &[(String, &str)], more: &[(&str, &str)]) {
    let mut all: Vec<(&str, &str)> = want.iter().map(|(p, m)| (p.as_str(), *m)).collect();
    all.extend_from_slice(more);
    check_files(deb, &all);
}

/// `systemd-analyze verify` passes on `unit` and says nothing.
fn verify(cmd: &mut Command) {
    let (good, out, err) = run(cmd.arg("--man=no"));
    assert!(good && err.trim().is_empty(), "{cmd:?}: {err}{out}");
}

#[test]
fn the_relay_package_holds_its_binary_docs_hardened_unit_and_settings() {
    let Some(dir) = debs() else { return };
    let deb = deb(&dir, "lifeline-relay");
    assert_eq!(field(&deb, "Package"), "lifeline-relay");
    assert!(field(&deb, "Depends").contains("adduser"));
    let pages = [
        "lifeline-relay",
        "lifeline-relay-serve",
        "lifeline-relay-check",
    ];
    check_with(
        &deb,
        &docs("lifeline-relay", &pages),
        &[
            ("/usr/bin/lifeline-relay", "-rwxr-xr-x"),
            (
                "/usr/lib/systemd/system/lifeline-relay.service",
                "-rw-r--r--",
            ),
            ("/etc/default/lifeline-relay", "-rw-r--r--"),
            ("/usr/share/lifeline/web/index.html", "-rw-r--r--"),
            (
                "/usr/share/doc/lifeline-relay/grafana-relay.json",
                "-rw-r--r--",
            ),
        ],
    );
    let control = tempfile::tempdir().unwrap();
    ok(Command::new("dpkg-deb")
        .arg("-e")
        .arg(&deb)
        .arg(control.path()));
    let read = |f: &str| std::fs::read_to_string(control.path().join(f)).unwrap();
    assert_eq!(read("conffiles").trim(), "/etc/default/lifeline-relay");
    let postinst = read("postinst");
    assert!(postinst.contains("adduser --system"), "{postinst}");
    assert!(
        postinst.contains("deb-systemd-helper enable lifeline-relay.service"),
        "{postinst}"
    );

    let root = tempfile::tempdir().unwrap();
    unpack(&deb, root.path());
    runs(root.path(), "lifeline-relay");
    let serve_page = root
        .path()
        .join("usr/share/man/man1/lifeline-relay-serve.1");
    let page = std::fs::read_to_string(serve_page).unwrap();
    assert!(
        page.contains("metrics") && page.contains("log\\-format"),
        "{page}"
    );
    let unit_path = root
        .path()
        .join("usr/lib/systemd/system/lifeline-relay.service");
    let unit = std::fs::read_to_string(unit_path).unwrap();
    for line in [
        "User=lifeline",
        "StateDirectory=lifeline",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=\n",
        "AmbientCapabilities=\n",
    ] {
        assert!(unit.contains(line), "the unit lacks {line:?}");
    }
    // The unit among systemd's own (for its targets), as on a machine.
    let units = root.path().join("usr/lib/systemd/system");
    ok(Command::new("cp")
        .args(["-rn", "/usr/lib/systemd/system/."])
        .arg(&units));
    verify(
        Command::new("systemd-analyze")
            .arg("verify")
            .arg(format!("--root={}", root.path().display()))
            .arg("lifeline-relay.service"),
    );
    let security = ok(Command::new("systemd-analyze")
        .args(["security", "--offline=yes"])
        .arg(format!("--root={}", root.path().display()))
        .arg("lifeline-relay.service"));
    let exposure: f64 = security
        .lines()
        .find_map(|l| l.split("lifeline-relay.service: ").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in {security}"));
    assert!(exposure <= 2.0, "exposure {exposure}:\n{security}");
}

#[test]
fn the_host_and_viewer_packages_hold_their_binaries_docs_units_and_desktop_entries() {
    let Some(dir) = debs() else { return };
    let host = deb(&dir, "lifeline-host");
    let viewer = deb(&dir, "lifeline-viewer");
    let host_pages = [
        "lifeline-host",
        "lifeline-host-enroll",
        "lifeline-host-service",
    ];
    check_with(
        &host,
        &docs("lifeline-host", &host_pages),
        &[
            ("/usr/bin/lifeline-host", "-rwxr-xr-x"),
            ("/usr/lib/systemd/user/lifeline-host.service", "-rw-r--r--"),
            (
                "/usr/share/applications/lifeline-host.desktop",
                "-rw-r--r--",
            ),
            (
                "/usr/share/icons/hicolor/scalable/apps/lifeline-host.svg",
                "-rw-r--r--",
            ),
        ],
    );
    let viewer_pages = [
        "lifeline-viewer",
        "lifeline-viewer-devices",
        "lifeline-viewer-play",
    ];
    check_with(
        &viewer,
        &docs("lifeline-viewer", &viewer_pages),
        &[
            ("/usr/bin/lifeline-viewer", "-rwxr-xr-x"),
            (
                "/usr/share/applications/lifeline-viewer.desktop",
                "-rw-r--r--",
            ),
            (
                "/usr/share/icons/hicolor/scalable/apps/lifeline-viewer.svg",
                "-rw-r--r--",
            ),
        ],
    );
    let root = tempfile::tempdir().unwrap();
    unpack(&host, root.path());
    unpack(&viewer, root.path());
    runs(root.path(), "lifeline-host");
    runs(root.path(), "lifeline-viewer");
    for entry in ["lifeline-host.desktop", "lifeline-viewer.desktop"] {
        let path = root.path().join("usr/share/applications").join(entry);
        let (good, out, err) = run(Command::new("desktop-file-validate").arg(&path));
        assert!(
            good && out.is_empty() && err.is_empty(),
            "{entry}: {out}{err}"
        );
    }
    // `systemd-analyze --user` takes no --root: the user unit is checked
    // as it is but for ExecStart, pointed at the unpacked binary.
    let unit = root
        .path()
        .join("usr/lib/systemd/user/lifeline-host.service");
    let text = std::fs::read_to_string(&unit).unwrap();
    assert!(
        text.contains("ExecStart=/usr/bin/lifeline-host service"),
        "{text}"
    );
    let bin = root.path().join("usr/bin/lifeline-host");
    let here = tempfile::tempdir().unwrap();
    let copy = here.path().join("lifeline-host.service");
    let pointed = text.replace("/usr/bin/lifeline-host", bin.to_str().unwrap());
    std::fs::write(&copy, pointed).unwrap();
    let runtime = tempfile::tempdir().unwrap();
    verify(
        Command::new("systemd-analyze")
            .env("XDG_RUNTIME_DIR", runtime.path())
            .args(["--user", "verify"])
            .arg(&copy),
    );
}
