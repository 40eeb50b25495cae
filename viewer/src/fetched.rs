//! Where a fetched file is written on the technician's computer: its
//! folder is opened once, and the temporary part file and the final name
//! are used beneath it (cap-std), never through a link. The part file is
//! created new (a link or any other file planted under its name is not
//! written through: a plain leftover of an earlier fetch is removed and
//! created again, anything else is refused), and the finished file is
//! renamed onto the name, which replaces a link there rather than
//! following it.

use std::ffi::OsString;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cap_std::ambient_authority;
use cap_std::fs::{Dir, OpenOptions};

/// Why a fetch's file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error("{0} has no file name")]
    NoName(PathBuf),
    #[error("cannot open the folder {path}: {source}")]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {0}: something that is not a plain file is there (a link?); remove it")]
    NotPlain(PathBuf),
}

/// A fetch's place: the folder, opened; the final and the part name.
#[derive(Debug, Clone)]
pub struct Target {
    dir: Arc<Dir>,
    folder: PathBuf,
    name: OsString,
    part: OsString,
}

impl Target {
    /// Opens the folder of `local` and creates its part file there
    /// (`NAME.lifeline-part`), new and empty.
    pub fn create(local: &Path) -> Result<(Self, std::fs::File), SaveError> {
        let name = local
            .file_name()
            .ok_or_else(|| SaveError::NoName(local.to_owned()))?
            .to_owned();
        let folder = match local.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        let dir = Dir::open_ambient_dir(&folder, ambient_authority()).map_err(|source| {
            SaveError::Folder {
                path: folder.clone(),
                source,
            }
        })?;
        let mut part = name.clone();
        part.push(".lifeline-part");
        let t = Self {
            dir: Arc::new(dir),
            folder,
            name,
            part,
        };
        let file = t.create_part()?;
        Ok((t, file))
    }

    /// The part file's path, for messages.
    pub fn part_path(&self) -> PathBuf {
        self.folder.join(&self.part)
    }

    /// The final path.
    pub fn path(&self) -> PathBuf {
        self.folder.join(&self.name)
    }

    fn create_part(&self) -> Result<std::fs::File, SaveError> {
        let write = |source| SaveError::Write {
            path: self.part_path(),
            source,
        };
        let mut opts = OpenOptions::new();
        opts.write(true).create_new(true);
        match self.dir.open_with(&self.part, &opts) {
            Ok(f) => return Ok(f.into_std()),
            Err(e) if e.kind() != ErrorKind::AlreadyExists => return Err(write(e)),
            Err(_) => {}
        }
        // Something is there already: a plain file is an earlier fetch's
        // leftover (unlinking it never touches another file); anything
        // else was planted.
        let meta = self.dir.symlink_metadata(&self.part).map_err(write)?;
        if !meta.is_file() {
            return Err(SaveError::NotPlain(self.part_path()));
        }
        self.dir.remove_file(&self.part).map_err(write)?;
        self.dir
            .open_with(&self.part, &opts)
            .map(cap_std::fs::File::into_std)
            .map_err(write)
    }

    /// Puts the finished part file under the final name.
    pub fn finish(&self) -> Result<(), SaveError> {
        self.dir
            .rename(&self.part, &self.dir, &self.name)
            .map_err(|source| SaveError::Write {
                path: self.path(),
                source,
            })
    }

    /// Removes the part file (a failed or cancelled fetch).
    pub fn discard(&self) {
        if let Err(e) = self.dir.remove_file(&self.part) {
            tracing::debug!(error = %e, part = %self.part_path().display(), "part file not removed");
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_planted_link_is_never_written_through() {
        let root = tempfile::tempdir().unwrap();
        let (dl, outside) = (root.path().join("dl"), root.path().join("secret"));
        std::fs::create_dir(&dl).unwrap();
        std::fs::write(&outside, "keep").unwrap();
        std::os::unix::fs::symlink(&outside, dl.join("a.txt.lifeline-part")).unwrap();
        std::os::unix::fs::symlink(&outside, dl.join("b.txt")).unwrap();
        // A link under the part name: refused, the target untouched.
        let e = Target::create(&dl.join("a.txt")).unwrap_err();
        assert!(matches!(e, SaveError::NotPlain(_)), "{e}");
        // A link under the final name is replaced, not followed.
        let (t, mut f) = Target::create(&dl.join("b.txt")).unwrap();
        f.write_all(b"fetched").unwrap();
        t.finish().unwrap();
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep");
        assert_eq!(
            std::fs::read_to_string(dl.join("b.txt")).unwrap(),
            "fetched"
        );
        assert!(!dl.join("b.txt").symlink_metadata().unwrap().is_symlink());
        // A plain leftover part file is replaced by a new one.
        std::fs::write(dl.join("c.txt.lifeline-part"), "old").unwrap();
        let (t, mut f) = Target::create(&dl.join("c.txt")).unwrap();
        f.write_all(b"new").unwrap();
        t.finish().unwrap();
        assert_eq!(std::fs::read_to_string(dl.join("c.txt")).unwrap(), "new");
    }
}
