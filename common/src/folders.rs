//! The user's folders, by each system's convention: on Linux the home
//! folder is `$HOME`, settings go under `$XDG_CONFIG_HOME` (else
//! `~/.config`); on Windows the home folder is `%USERPROFILE%` and
//! settings go under `%APPDATA%`. Downloads are `Downloads` in the home
//! folder on both. The rules are pure functions of the environment (so
//! the Windows ones are tested on Linux too); [`System::THIS`] picks
//! this build's.

use std::ffi::OsString;
use std::path::PathBuf;

/// Which system's conventions to follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum System {
    Unix,
    Windows,
}

impl System {
    /// The system this program was built for.
    pub const THIS: System = if cfg!(windows) {
        System::Windows
    } else {
        System::Unix
    };
}

/// The folders of one user, read from an environment.
#[derive(Debug, Clone, Copy)]
pub struct Folders<E> {
    system: System,
    env: E,
}

/// This user's folders on this system.
pub fn this() -> Folders<fn(&str) -> Option<OsString>> {
    Folders::new(System::THIS, |name| std::env::var_os(name))
}

impl<E: Fn(&str) -> Option<OsString>> Folders<E> {
    /// The folders `env` describes under `system`'s conventions.
    pub fn new(system: System, env: E) -> Self {
        Self { system, env }
    }

    fn var(&self, name: &str) -> Option<PathBuf> {
        (self.env)(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    }

    /// The home folder: `$HOME`, or `%USERPROFILE%` on Windows.
    pub fn home(&self) -> Option<PathBuf> {
        match self.system {
            System::Unix => self.var("HOME"),
            System::Windows => self.var("USERPROFILE"),
        }
    }

    /// Lifeline's folder of one kind of per-user file: on Linux
    /// `$XDG_VAR/lifeline`, else `~/FALLBACK/lifeline`; on Windows
    /// `%APPDATA%\Lifeline` for every kind (settings and state alike).
    pub fn lifeline(&self, xdg_var: &str, fallback: &str) -> Option<PathBuf> {
        match self.system {
            System::Unix => {
                let base = self
                    .var(xdg_var)
                    .or_else(|| Some(self.home()?.join(fallback)))?;
                Some(base.join("lifeline"))
            }
            System::Windows => Some(self.var("APPDATA")?.join("Lifeline")),
        }
    }

    /// Lifeline's settings folder.
    pub fn config(&self) -> Option<PathBuf> {
        self.lifeline("XDG_CONFIG_HOME", ".config")
    }

    /// The user's downloads: `Downloads` in the home folder.
    pub fn downloads(&self) -> Option<PathBuf> {
        Some(self.home()?.join("Downloads"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn folders(
        system: System,
        vars: &[(&str, &str)],
    ) -> Folders<impl Fn(&str) -> Option<OsString>> {
        let map: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), OsString::from(v)))
            .collect();
        Folders::new(system, move |name| map.get(name).cloned())
    }

    #[test]
    fn linux_follows_xdg_then_home() {
        let f = folders(System::Unix, &[("HOME", "/home/ann")]);
        assert_eq!(f.config(), Some("/home/ann/.config/lifeline".into()));
        assert_eq!(f.downloads(), Some("/home/ann/Downloads".into()));
        let f = folders(
            System::Unix,
            &[("HOME", "/home/ann"), ("XDG_CONFIG_HOME", "/cfg")],
        );
        assert_eq!(f.config(), Some("/cfg/lifeline".into()));
        let f = folders(System::Unix, &[("HOME", ""), ("USERPROFILE", "C:\\x")]);
        assert_eq!(f.config(), None, "an empty HOME is no home");
        assert_eq!(f.downloads(), None);
    }

    #[test]
    fn windows_uses_the_profile_and_appdata_never_home() {
        let f = folders(
            System::Windows,
            &[
                ("HOME", "/home/ann"),
                ("USERPROFILE", "C:\\Users\\ann"),
                ("APPDATA", "C:\\Users\\ann\\AppData\\Roaming"),
                ("XDG_CONFIG_HOME", "/cfg"),
            ],
        );
        assert_eq!(
            f.config(),
            Some(PathBuf::from("C:\\Users\\ann\\AppData\\Roaming").join("Lifeline"))
        );
        assert_eq!(
            f.downloads(),
            Some(PathBuf::from("C:\\Users\\ann").join("Downloads"))
        );
        let f = folders(System::Windows, &[("USERPROFILE", "C:\\Users\\ann")]);
        assert_eq!(f.config(), None, "no APPDATA, no settings folder");
    }
}
