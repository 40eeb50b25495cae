//! The download folder as a capability (cap-std): everything a put writes
//! is opened beneath it, so no link planted inside (a temporary name, a
//! subfolder, the final name) leads a write outside. The temporary file is
//! created exclusively (`.lifeline-ID.part`, or a fresh random name when
//! that is taken: a link already there is never followed), subfolders are made beneath the folder (a link that
//! leads out is refused), and the finished file gets its final name by a
//! hard link that fails rather than replace anything (so a name taken
//! meanwhile, even by a dangling link, is skipped for the next free one).
//! cap-std does the same on Windows.

use std::io;
use std::path::{Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::{Dir, OpenOptions};
use lifeline_session::files::unique_path;

/// Why a file could not be saved, in words for the technician and the user.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error("cannot open the download folder {folder}: {source}")]
    Folder {
        folder: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "cannot save {name} inside the download folder (a link there leads elsewhere, or it is not a folder): {source}"
    )]
    Beneath {
        name: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot save the file: {0}")]
    Io(#[from] io::Error),
}

/// How many fresh temporary names are tried before giving up.
const TEMP_TRIES: usize = 16;

/// The download folder, opened once per put.
#[derive(Debug)]
pub struct Downloads {
    dir: Dir,
    path: PathBuf,
}

impl Downloads {
    /// Opens (making it first if need be) the folder the user chose.
    pub fn open(path: &Path) -> Result<Self, SaveError> {
        let folder = |source| SaveError::Folder {
            folder: path.display().to_string(),
            source,
        };
        std::fs::create_dir_all(path).map_err(folder)?;
        let dir = Dir::open_ambient_dir(path, ambient_authority()).map_err(folder)?;
        Ok(Self {
            dir,
            path: path.to_owned(),
        })
    }

    /// Creates a new hidden temporary file for transfer `id`: its name in
    /// the folder and the file, open for writing.
    pub fn create_temp(&self, id: u32) -> Result<(PathBuf, std::fs::File), SaveError> {
        use rand::Rng;
        let mut last = io::Error::from(io::ErrorKind::AlreadyExists);
        for n in 0..TEMP_TRIES {
            // The plain name first; a fresh random one if that is taken
            // (by a link planted there, say).
            let name = if n == 0 {
                PathBuf::from(format!(".lifeline-{id}.part"))
            } else {
                let salt: u64 = rand::rng().random();
                PathBuf::from(format!(".lifeline-{id}-{salt:016x}.part"))
            };
            let mut how = OpenOptions::new();
            how.write(true).create_new(true);
            match self.dir.open_with(&name, &how) {
                Ok(f) => return Ok((name, f.into_std())),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = e,
                Err(e) => return Err(e.into()),
            }
        }
        Err(last.into())
    }

    /// Removes a temporary file (best effort: it may be gone already).
    pub fn remove(&self, name: &Path) {
        if let Err(e) = self.dir.remove_file(name) {
            tracing::debug!(error = %e, name = %name.display(), "temporary file not removed");
        }
    }

    /// Gives the finished temporary file `temp` its final name: `rel`, or
    /// the next free `stem (n).ext`; never replaces anything. The full
    /// path it was saved as.
    pub fn place(&self, temp: &Path, rel: &Path) -> Result<PathBuf, SaveError> {
        let shown = || rel.display().to_string();
        if let Some(parent) = rel.parent().filter(|p| !p.as_os_str().is_empty()) {
            self.dir
                .create_dir_all(parent)
                .map_err(|source| SaveError::Beneath {
                    name: shown(),
                    source,
                })?;
        }
        loop {
            let taken = |p: &Path| self.dir.symlink_metadata(p).is_ok();
            let dest = unique_path(Path::new(""), rel, taken);
            match self.dir.hard_link(temp, &self.dir, &dest) {
                Ok(()) => {
                    self.remove(temp);
                    return Ok(self.path.join(dest));
                }
                // Taken meanwhile: the next free name.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) if e.kind() == io::ErrorKind::Unsupported => {
                    // No hard links here (FAT): a rename to a name seen free.
                    self.dir
                        .rename(temp, &self.dir, &dest)
                        .map_err(SaveError::Io)?;
                    return Ok(self.path.join(dest));
                }
                Err(source) => {
                    return Err(SaveError::Beneath {
                        name: shown(),
                        source,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn put(d: &Downloads, rel: &str, body: &[u8]) -> Result<PathBuf, SaveError> {
        let (temp, mut f) = d.create_temp(7)?;
        f.write_all(body)?;
        drop(f);
        d.place(&temp, Path::new(rel))
    }

    #[test]
    fn a_planted_link_never_leads_a_write_outside() {
        let root = tempfile::tempdir().unwrap();
        let outside = root.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        let victim = outside.join("victim.txt");
        std::fs::write(&victim, b"precious").unwrap();
        let folder = root.path().join("downloads");
        std::fs::create_dir(&folder).unwrap();
        let link = |name: &str, to: &Path| std::os::unix::fs::symlink(to, folder.join(name));
        // A link at the final name, one as a subfolder, one as every
        // temporary name a predictable scheme would use.
        link("report.txt", &victim).unwrap();
        link("logs", &outside).unwrap();
        for id in 0..8 {
            link(&format!(".lifeline-{id}.part"), &victim).unwrap();
        }
        let d = Downloads::open(&folder).unwrap();
        let saved = put(&d, "report.txt", b"from the technician").unwrap();
        assert_eq!(saved, folder.join("report (1).txt"));
        assert_eq!(std::fs::read(&saved).unwrap(), b"from the technician");
        let err = put(&d, "logs/victim.txt", b"evil").unwrap_err();
        assert!(matches!(err, SaveError::Beneath { .. }), "{err}");
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 1);
    }

    #[test]
    fn subfolders_are_made_beneath_and_names_never_replace() {
        let root = tempfile::tempdir().unwrap();
        let d = Downloads::open(&root.path().join("new")).unwrap();
        let a = put(&d, "logs/a.txt", b"1").unwrap();
        let b = put(&d, "logs/a.txt", b"2").unwrap();
        assert_eq!(a, root.path().join("new/logs/a.txt"));
        assert_eq!(b, root.path().join("new/logs/a (1).txt"));
        assert_eq!(std::fs::read(&a).unwrap(), b"1");
        let left: Vec<_> = std::fs::read_dir(root.path().join("new"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["logs"], "no temporary file left behind");
    }
}
