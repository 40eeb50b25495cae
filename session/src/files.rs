//! File transfer between viewer and host: what the two say on a
//! transfer's own stream, and the rules for names the technician sends
//! (plain names inside the user's download folder, never a path out of
//! it, never overwriting). Pure: the host and viewer do the disk work.
//!
//! Every transfer is started by the viewer on a new stream, sealed with
//! keys of its own ([`crate::e2e::transfer_keys`]). A *put* sends the
//! user a file; a *get* fetches one the technician names. Either way the
//! data goes as [`FileMsg::Chunk`]s and ends with the SHA-256 of the whole,
//! which the receiver checks before the file takes its final name.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Bytes of file data in one chunk.
pub const CHUNK: usize = 64 * 1024;

/// Largest message on a transfer stream: a chunk and its framing.
pub const MAX_FILE_FRAME: usize = CHUNK + 1024;

/// Longest name or path a transfer may carry, in bytes.
pub const MAX_NAME: usize = 4096;

/// A message on a transfer stream, either way. Variant order is part of
/// the wire format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FileMsg {
    /// Viewer → host: a file for the user, `name` relative to their
    /// download folder (a folder's files carry their sub-folders).
    Put {
        name: String,
        size: u64,
    },
    /// Viewer → host: send the file at `path` on the user's machine.
    Get {
        path: String,
    },
    /// Host → viewer: go ahead with the put.
    Ready,
    /// Host → viewer: the fetched file's name and size; chunks follow.
    Offer {
        name: String,
        size: u64,
    },
    Chunk(Vec<u8>),
    /// The last message of the data: the SHA-256 of all of it.
    End {
        sha256: [u8; 32],
    },
    /// Host → viewer: the put file is saved, under this path.
    Saved {
        path: String,
    },
    /// Either way: the transfer is refused or failed, and why.
    Refused(String),
    /// Viewer → host, first on a new stream after a lost link: continue
    /// put `id` (the transfer the link cut).
    Continue {
        id: u32,
    },
    /// Host → viewer: this much of that put is saved; send the rest.
    Have {
        bytes: u64,
    },
    /// Viewer → host, first on a new stream after a lost link: continue
    /// fetch `id` from byte `from` (the viewer has the bytes before it).
    /// The host answers with the [`FileMsg::Offer`] again and the rest.
    ContinueGet {
        id: u32,
        from: u64,
    },
}

/// Why a transfer stopped at someone's request: sent in a
/// [`FileMsg::Refused`], sealed like the data, so only the two ends can
/// cancel (a relay can only cut, and a cut may be continued).
pub const CANCELLED_BY_TECHNICIAN: &str = "cancelled by the technician";
/// See [`CANCELLED_BY_TECHNICIAN`].
pub const CANCELLED_BY_USER: &str = "cancelled by the user";

/// How far a transfer is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// Technician → user.
    pub to_host: bool,
    pub name: String,
    pub bytes: u64,
    pub of: u64,
}

/// When progress is worth telling: at most once per `every`, and always
/// at the end (time is passed in).
#[derive(Debug, Clone)]
pub struct Pace {
    every: Duration,
    last: Instant,
}

impl Pace {
    pub fn new(now: Instant, every: Duration) -> Self {
        Self { every, last: now }
    }

    /// Whether to tell `bytes` of `of` now.
    pub fn due(&mut self, now: Instant, bytes: u64, of: u64) -> bool {
        let due = bytes >= of || now.duration_since(self.last) >= self.every;
        if due {
            self.last = now;
        }
        due
    }
}

/// Why a name the technician sent is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("the file name is empty")]
    Empty,
    #[error("the file name is longer than {MAX_NAME} bytes")]
    TooLong,
    #[error(
        "the file name {0:?} is a path out of the download folder; only plain names (and sub-folders) are accepted"
    )]
    Escapes(String),
    #[error("the file name {0:?} holds control characters or backslashes")]
    Odd(String),
}

/// Checks a put's name: one or more plain components joined by `/`, none
/// empty, `.` or `..`, no absolute path, no backslash or control
/// character. Returns the relative path to save under.
pub fn check_name(name: &str) -> Result<PathBuf, NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME {
        return Err(NameError::TooLong);
    }
    if name.chars().any(|c| c.is_control() || c == '\\') {
        return Err(NameError::Odd(name.to_owned()));
    }
    let escapes = || NameError::Escapes(name.to_owned());
    if name.starts_with('/') {
        return Err(escapes());
    }
    let mut rel = PathBuf::new();
    for part in name.split('/') {
        if part.is_empty() || part == "." || part == ".." {
            return Err(escapes());
        }
        rel.push(part);
    }
    Ok(rel)
}

/// The path in `dir` to save `rel` under without overwriting anything:
/// `rel` itself if free, else `stem (1).ext`, `stem (2).ext`, …
pub fn unique_path(dir: &Path, rel: &Path, exists: impl Fn(&Path) -> bool) -> PathBuf {
    let first = dir.join(rel);
    if !exists(&first) {
        return first;
    }
    let stem = first
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = first
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    let parent = first.parent().map(Path::to_path_buf).unwrap_or_default();
    (1..)
        .map(|n| parent.join(format!("{stem} ({n}){ext}")))
        .find(|p| !exists(p))
        .unwrap_or(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::MAX_SESSION_FRAME;
    use lifeline_proto::frame::{decode, encode};

    #[test]
    fn plain_names_and_subfolders_pass_paths_out_do_not() {
        assert_eq!(check_name("setup.exe").unwrap(), PathBuf::from("setup.exe"));
        assert_eq!(
            check_name("logs/today.txt").unwrap(),
            PathBuf::from("logs/today.txt")
        );
        for bad in [
            "../../etc/passwd",
            "/etc/passwd",
            "a/../../b",
            "./x",
            "a//b",
            "a/",
        ] {
            assert!(
                matches!(check_name(bad), Err(NameError::Escapes(_))),
                "{bad}"
            );
        }
        assert!(matches!(check_name("a\\b"), Err(NameError::Odd(_))));
        assert!(matches!(check_name("a\nb"), Err(NameError::Odd(_))));
        assert_eq!(check_name(""), Err(NameError::Empty));
        assert_eq!(check_name(&"x".repeat(5000)), Err(NameError::TooLong));
    }

    #[test]
    fn progress_is_told_once_a_second_and_at_the_end() {
        let t = Instant::now();
        let mut p = Pace::new(t, Duration::from_secs(1));
        assert!(!p.due(t + Duration::from_millis(500), 10, 100));
        assert!(p.due(t + Duration::from_millis(1000), 20, 100));
        assert!(!p.due(t + Duration::from_millis(1500), 30, 100));
        assert!(p.due(t + Duration::from_millis(1600), 100, 100), "the end");
    }

    #[test]
    fn nothing_is_overwritten() {
        let taken = ["/d/a.txt", "/d/a (1).txt", "/d/noext"];
        let exists = |p: &Path| taken.iter().any(|t| Path::new(t) == p);
        let d = Path::new("/d");
        assert_eq!(unique_path(d, Path::new("b.txt"), exists), d.join("b.txt"));
        assert_eq!(
            unique_path(d, Path::new("a.txt"), exists),
            d.join("a (2).txt")
        );
        assert_eq!(
            unique_path(d, Path::new("noext"), exists),
            d.join("noext (1)")
        );
    }

    #[test]
    fn messages_pin() {
        let cases: [(FileMsg, &str); 11] = [
            (FileMsg::Continue { id: 3 }, "000000020803"),
            (
                FileMsg::ContinueGet { id: 3, from: 300 },
                "000000040a03ac02",
            ),
            (FileMsg::Have { bytes: 300 }, "0000000309ac02"),
            (
                FileMsg::Put {
                    name: "a".into(),
                    size: 300,
                },
                "000000050001 61ac02",
            ),
            (FileMsg::Get { path: "/p".into() }, "000000040102 2f70"),
            (FileMsg::Ready, "0000000102"),
            (
                FileMsg::Offer {
                    name: "b".into(),
                    size: 1,
                },
                "00000004030162 01",
            ),
            (FileMsg::Chunk(vec![9, 9]), "0000000404020909"),
            (
                FileMsg::End { sha256: [1; 32] },
                "0000002105 0101010101010101010101010101010101010101010101010101010101010101",
            ),
            (FileMsg::Saved { path: "s".into() }, "00000003060173"),
            (FileMsg::Refused("no".into()), "0000000407026e6f"),
        ];
        for (m, hex_bytes) in cases {
            let bytes = encode(&m, MAX_SESSION_FRAME).unwrap();
            assert_eq!(hex::encode(&bytes), hex_bytes.replace(' ', ""), "{m:?}");
            assert_eq!(decode::<FileMsg>(&bytes[4..]).unwrap(), m);
        }
    }
}
