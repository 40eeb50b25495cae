//! The portal's restore token, kept between sessions: a desktop that was
//! told to remember the user's choice shares again without its dialog when
//! handed the token of the last session. A token is good once; each
//! session stores the one it gets back.

use std::io::Write as _;
use std::path::PathBuf;

/// `$XDG_STATE_HOME/lifeline/portal-restore-token`, else under
/// `~/.local/state`; `None` without either.
pub fn path() -> Option<PathBuf> {
    Some(crate::config::user_dir("XDG_STATE_HOME", ".local/state")?.join("portal-restore-token"))
}

/// The stored token, if any. One that cannot be read is as none: the
/// desktop then asks again, which is what a lost token means.
pub fn load() -> Option<String> {
    let path = path()?;
    match std::fs::read_to_string(&path) {
        Ok(t) if !t.trim().is_empty() => Some(t.trim().to_owned()),
        Ok(_) => None,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot read the portal's restore token");
            None
        }
    }
}

/// Stores `token` for the next session, readable by this user only.
pub fn save(token: &str) -> std::io::Result<PathBuf> {
    let path =
        path().ok_or_else(|| std::io::Error::other("neither XDG_STATE_HOME nor HOME is set"))?;
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("the token's path has no folder"))?;
    std::fs::create_dir_all(dir)?;
    // tempfile creates with mode 600; the rename makes the swap whole.
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(token.as_bytes())?;
    file.persist(&path).map_err(|e| e.error)?;
    Ok(path)
}
