//! The account files of a relay's data directory (technicians, auditors,
//! console users): each one JSON array, read whole (no file is an empty
//! list) and written whole, atomically and private to the relay's user
//! ([`crate::private::replace_file`]). One place for what the three
//! stores share, so a fix to how one is read or saved reaches them all.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why an account file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid {what} file ({why}); restore it from a backup")]
    Corrupt {
        path: PathBuf,
        what: &'static str,
        why: String,
    },
}

/// One account file: a JSON array of `T`.
#[derive(Debug, Clone)]
pub struct JsonFile {
    path: PathBuf,
    /// What the file holds, for its error ("technician", "auditor").
    what: &'static str,
}

impl JsonFile {
    /// The file `name` in the data directory `dir`, holding `what`.
    pub fn in_dir(dir: &Path, name: &str, what: &'static str) -> Self {
        Self {
            path: dir.join(name),
            what,
        }
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's problem `why`, as its error.
    pub fn corrupt(&self, why: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            what: self.what,
            why: why.into(),
        }
    }

    /// Holds the file's lock (`NAME.lock` beside it, an advisory lock)
    /// while a change reads, changes and writes it whole: another thread,
    /// or a command run beside the relay, waits its turn instead of
    /// writing over the change (a revocation undone by a sign-in).
    pub fn lock_for_change(&self) -> Result<std::fs::File, StoreError> {
        let path = self.path.with_extension("lock");
        let io = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io)?;
        f.lock().map_err(io)?;
        Ok(f)
    }

    pub(crate) fn io(&self, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: self.path.clone(),
            source,
        }
    }

    /// Every entry; empty when the file does not exist.
    pub fn read<T: DeserializeOwned>(&self) -> Result<Vec<T>, StoreError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| self.corrupt(e.to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(self.io(e)),
        }
    }

    /// Replaces the file with `all`, whole or not at all.
    pub fn write<T: Serialize>(&self, all: &[T]) -> Result<(), StoreError> {
        let text = serde_json::to_vec_pretty(all).map_err(|e| self.corrupt(e.to_string()))?;
        crate::private::replace_file(&self.path, &text).map_err(|e| self.io(e))
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn no_file_is_an_empty_list_and_what_is_written_reads_back_private() {
        let dir = tempfile::tempdir().unwrap();
        let file = JsonFile::in_dir(dir.path(), "things.json", "thing");
        assert!(file.read::<String>().unwrap().is_empty());
        file.write(&["a".to_owned(), "b".to_owned()]).unwrap();
        assert_eq!(file.read::<String>().unwrap(), ["a", "b"]);
        let mode = std::fs::metadata(file.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_damaged_file_is_named_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let file = JsonFile::in_dir(dir.path(), "things.json", "thing");
        std::fs::write(file.path(), b"[\"a\", ").unwrap();
        let e = file.read::<String>().unwrap_err();
        assert!(
            matches!(e, StoreError::Corrupt { what: "thing", .. }),
            "{e}"
        );
        let shown = e.to_string();
        assert!(shown.contains("is not a valid thing file"), "{shown}");
        assert_eq!(std::fs::read(file.path()).unwrap(), b"[\"a\", ");
    }

    #[test]
    fn an_unreadable_file_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file should be cannot be read as one.
        std::fs::create_dir(dir.path().join("things.json")).unwrap();
        let file = JsonFile::in_dir(dir.path(), "things.json", "thing");
        assert!(matches!(file.read::<String>(), Err(StoreError::Io { .. })));
    }
}
