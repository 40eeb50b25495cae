//! Files only their owner may read (keys, certificates, the trust anchor):
//! created with mode 0600 on Unix from the first byte (never written open
//! and narrowed afterwards); on Windows a user's profile is theirs by its
//! ACLs.

use std::io::Write;
use std::path::Path;

/// Writes `bytes` to a new file at `path`, readable by its owner only; an
/// existing file is an error ([`std::io::ErrorKind::AlreadyExists`]) and
/// is left as it was.
pub fn create_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    owner_only(&mut opts);
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Replaces the file at `path` with `bytes`, readable by its owner only:
/// written beside it and renamed over it, so a reader sees the old file or
/// the new one, whole.
pub fn replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.new"));
    let _ = std::fs::remove_file(&tmp);
    create_new(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

#[cfg(unix)]
fn owner_only(opts: &mut std::fs::OpenOptions) {
    std::os::unix::fs::OpenOptionsExt::mode(opts, 0o600);
}

#[cfg(not(unix))]
fn owner_only(_opts: &mut std::fs::OpenOptions) {}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn files_are_the_owners_alone_and_never_overwritten_by_create() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        create_new(&path, b"one").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = create_new(&path, b"two").unwrap_err();
        assert_eq!(again.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&path).unwrap(), b"one");
        replace(&path, b"three").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"three");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
