//! Issue #33, the Windows installers: `scripts/windows msi` (wixl) makes
//! an MSI for each .exe; under Wine's own msiexec each installs its .exe
//! (the very bytes built) into `Program Files\Lifeline`, which then runs,
//! with a Start menu entry, and uninstalls taking both away. Built and run
//! by `scripts/windows test`; elsewhere SKIPPED as the other Windows tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use lifeline_tests::wine::{Wine, skip_without_wine, win_exe, win_path};

/// Where `scripts/windows msi` left the installers.
fn msi_dir() -> Option<PathBuf> {
    match std::env::var_os("LIFELINE_MSI_DIR") {
        Some(d) => Some(PathBuf::from(d)),
        None => {
            assert!(
                std::env::var_os("LIFELINE_REQUIRE_WINE").is_none(),
                "LIFELINE_REQUIRE_WINE is set but LIFELINE_MSI_DIR is not"
            );
            eprintln!(
                "SKIPPED: no installers (scripts/windows msi --debug, then LIFELINE_MSI_DIR)"
            );
            None
        }
    }
}

/// `cmd`'s exit status was success, and its stdout.
fn ok(mut cmd: Command) -> String {
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The shortcuts `NAME.lnk` anywhere under `dir`.
fn shortcuts(dir: &Path, name: &str) -> Vec<PathBuf> {
    let file = format!("{name}.lnk");
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|f| f.to_string_lossy() == file) {
                found.push(p);
            }
        }
    }
    found
}

#[test]
fn each_msi_installs_its_exe_with_a_menu_entry_and_uninstalls_cleanly() {
    let apps = [
        ("lifeline-host", "Lifeline - get help"),
        ("lifeline-viewer", "Lifeline viewer"),
    ];
    if skip_without_wine(&["lifeline-host.exe", "lifeline-viewer.exe"]) {
        return;
    }
    let Some(dir) = msi_dir() else { return };
    let wine = Wine::start(640, 480);
    let version = env!("CARGO_PKG_VERSION");
    let folder = wine.prefix.path().join("drive_c/Program Files/Lifeline");
    for (app, title) in apps {
        let msi = dir.join(format!("{app}-{version}.msi"));
        assert!(msi.is_file(), "no {}", msi.display());
        let mut install = wine.command("msiexec");
        install.args(["/i", &win_path(&msi), "/qn"]);
        ok(install);
        let exe = folder.join(format!("{app}.exe"));
        let built = std::fs::read(win_exe(&format!("{app}.exe"))).unwrap();
        assert!(
            std::fs::read(&exe).is_ok_and(|b| b == built),
            "{} is the .exe as built",
            exe.display()
        );
        let mut run = wine.command(exe.to_str().unwrap());
        run.arg("--version");
        assert_eq!(ok(run).trim(), format!("{app} {version}"));
        let drive = wine.prefix.path().join("drive_c");
        assert!(
            !shortcuts(&drive, title).is_empty(),
            "no Start menu entry {title}"
        );

        let mut remove = wine.command("msiexec");
        remove.args(["/x", &win_path(&msi), "/qn"]);
        ok(remove);
        assert!(!exe.exists(), "{} left behind", exe.display());
        assert!(
            shortcuts(&drive, title).is_empty(),
            "{title}'s entry left behind"
        );
    }
}
