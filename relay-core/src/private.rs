//! The data directory and the audit log are private to the relay's user:
//! the log names hosts, OS users, IP addresses and technicians.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Creates `dir` (and its parents) if missing, and makes it `0700`.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
}

/// Writes `bytes` as `path`, whole or not at all: a `0600` file beside it
/// (its folder made private), synced, then renamed over it.
pub fn replace_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write as _;
    let dir = path.parent().unwrap_or(Path::new("."));
    private_dir(dir)?;
    // tempfile makes its files 0600.
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Makes an existing file `0600`.
pub fn private_file(path: &Path) -> io::Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
}

/// The relay's stateless-reset key, `reset.key` in the data directory
/// (made once, readable by the relay's user only): kept across restarts so
/// that peers of the last run learn at their next packet that their
/// connection is gone.
pub fn reset_key(dir: &Path) -> io::Result<[u8; 32]> {
    let path = dir.join("reset.key");
    match std::fs::read(&path) {
        Ok(bytes) => bytes.try_into().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} is not 32 bytes: delete it to make a new one",
                    path.display()
                ),
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let mut key = [0u8; 32];
            rand::Rng::fill(&mut rand::rng(), &mut key);
            replace_file(&path, &key)?;
            Ok(key)
        }
        Err(e) => Err(e),
    }
}

/// Whether `dir` takes a new file (written, synced, removed): a file of
/// each check's own, so that checks at once do not trip on each other
/// (`/readyz`, `lifeline-relay check`).
pub fn writable(dir: &Path) -> io::Result<()> {
    use std::io::Write as _;
    let mut probe = tempfile::Builder::new()
        .prefix(".ready-check")
        .tempfile_in(dir)?;
    probe.write_all(b"ready\n")?;
    probe.as_file().sync_all()?;
    probe.close()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dirs_and_files_end_private_whatever_they_were() {
        let top = tempfile::tempdir().unwrap();
        let dir = top.path().join("a/b");
        private_dir(&dir).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700, "an existing open directory is closed");
        let f = dir.join("f");
        fs::write(&f, "x").unwrap();
        private_file(&f).unwrap();
        assert_eq!(mode(&f), 0o600);
        let g = top.path().join("c/g.json");
        replace_file(&g, b"one").unwrap();
        replace_file(&g, b"two").unwrap();
        assert_eq!(fs::read(&g).unwrap(), b"two");
        assert_eq!(mode(&g), 0o600);
        assert_eq!(mode(&top.path().join("c")), 0o700);
    }

    #[test]
    fn the_reset_key_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let a = super::reset_key(dir.path()).unwrap();
        assert_eq!(super::reset_key(dir.path()).unwrap(), a);
        std::fs::write(dir.path().join("reset.key"), b"short").unwrap();
        assert!(
            super::reset_key(dir.path()).is_err(),
            "a damaged key is said, not replaced"
        );
    }
}
