//! The technician's token, from a file rather than the command line
//! (where `ps` shows it to every user of the machine): `--token-file
//! PATH`, or the default `~/.config/lifeline/token`. A file that others
//! may read is refused, with the command that fixes it.

use std::path::{Path, PathBuf};

/// Why a token file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    #[error("cannot read the token file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the token file {path} can be read by other users (mode {mode:o}); make it yours alone: chmod 600 {path}"
    )]
    Open { path: PathBuf, mode: u32 },
    #[error("the token file {path} is empty")]
    Empty { path: PathBuf },
}

/// The token from `file` (named with --token-file, read strictly), else
/// `given` (--token or $LIFELINE_TOKEN), else the default token file
/// (`~/.config/lifeline/token`), if any.
pub fn find(file: Option<&Path>, given: Option<&str>) -> Result<Option<String>, TokenFileError> {
    if let Some(path) = file {
        return read(path, true);
    }
    if let Some(t) = given {
        return Ok(Some(t.trim().to_owned()));
    }
    match default_path() {
        Some(path) => read(&path, false),
        None => Ok(None),
    }
}

/// The token file read when none is named: `~/.config/lifeline/token`
/// (where `lifeline-viewer login` keeps its credential).
pub fn default_path() -> Option<PathBuf> {
    lifeline_common::folders::this()
        .config()
        .map(|dir| dir.join("token"))
}

/// The token in `path`, trimmed; refused if others may read the file
/// (`strict`), or only warned of (the default file, which older setups
/// made with the usual permissions). `None`: there is no such file and
/// it was not named (`strict` is false).
pub fn read(path: &Path, strict: bool) -> Result<Option<String>, TokenFileError> {
    let read_err = |source| TokenFileError::Read {
        path: path.to_owned(),
        source,
    };
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if !strict && e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(read_err(e)),
    };
    if let Some(mode) = open_mode(&meta) {
        let e = TokenFileError::Open {
            path: path.to_owned(),
            mode,
        };
        if strict {
            return Err(e);
        }
        eprintln!("lifeline-viewer: warning: {e}");
    }
    let text = std::fs::read_to_string(path).map_err(read_err)?;
    match text.trim() {
        "" if strict => Err(TokenFileError::Empty {
            path: path.to_owned(),
        }),
        "" => Ok(None),
        t => Ok(Some(t.to_owned())),
    }
}

/// The file's permission bits if its group or others have any.
#[cfg(unix)]
fn open_mode(meta: &std::fs::Metadata) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then_some(mode)
}

/// Windows keeps access in ACLs (a user's profile is theirs by default).
#[cfg(not(unix))]
fn open_mode(_meta: &std::fs::Metadata) -> Option<u32> {
    None
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_file_others_can_read_is_refused_and_a_private_one_read_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "  secret-token\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = read(&path, true).unwrap_err();
        assert!(matches!(e, TokenFileError::Open { mode: 0o644, .. }), "{e}");
        assert!(e.to_string().contains("chmod 600"), "{e}");
        // The default file is only warned of.
        assert_eq!(read(&path, false).unwrap().as_deref(), Some("secret-token"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read(&path, true).unwrap().as_deref(), Some("secret-token"));
        // A named file must exist and hold a token; the default may not.
        let gone = dir.path().join("gone");
        assert!(matches!(
            read(&gone, true),
            Err(TokenFileError::Read { .. })
        ));
        assert!(read(&gone, false).unwrap().is_none());
        std::fs::write(&path, "\n").unwrap();
        assert!(matches!(
            read(&path, true),
            Err(TokenFileError::Empty { .. })
        ));
    }
}
