//! Where the relay is and whom to trust, settled once: the command line,
//! else the user's saved `~/.config/lifeline/host.toml` (`--save`), else
//! what the organisation built into this binary (`LIFELINE_RELAY`,
//! `LIFELINE_CA` at build time, see `build.rs`). So a user runs one file
//! with no options, or types the relay once.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtin.rs"));
}

/// What the build put in (`None`: nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Builtin {
    pub relay: Option<&'static str>,
    pub ca: Option<&'static str>,
}

impl Builtin {
    /// This binary's.
    pub fn this() -> Self {
        Self {
            relay: builtin::BUILTIN_RELAY,
            ca: builtin::BUILTIN_CA,
        }
    }
}

/// Whom the connection to the relay trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// The system's roots (a relay with a certificate from a public CA).
    System,
    /// A CA file (the relay's own `ca.pem`).
    File(PathBuf),
    /// The CA built into this binary.
    Builtin(&'static str),
}

impl Trust {
    /// The QUIC client configuration that trusts this.
    pub fn client_config(&self) -> Result<quinn::ClientConfig, lifeline_common::tls::TlsError> {
        use lifeline_common::tls::{client_config, client_config_with};
        match self {
            Trust::System => client_config(None),
            Trust::File(path) => client_config(Some(path)),
            Trust::Builtin(pem) => {
                let source = Path::new("the CA built into lifeline-host");
                client_config_with(lifeline_certs::roots_from_pem(pem.as_bytes(), source)?)
            }
        }
    }
}

/// The relay settings in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub relay: String,
    pub trust: Trust,
}

/// What `--save` keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Saved {
    pub relay: Option<String>,
    pub ca: Option<PathBuf>,
}

/// Settings that cannot be found, read or written.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "no relay given: run lifeline-host --relay HOST:PORT --ca ca.pem (your IT team tells you which), and add --save to remember it"
    )]
    NoRelay,
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not valid settings ({why}); fix or delete it")]
    Parse { path: PathBuf, why: String },
    #[error("cannot save the settings to {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot save the settings: no home folder ($HOME is not set)")]
    NoHome,
    #[error("the CA file {path} cannot be used: {source}")]
    Ca {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The user's `lifeline` folder of one XDG kind: `$VAR/lifeline`, else
/// `~/FALLBACK/lifeline`; `%APPDATA%\Lifeline` on Windows; `None`
/// without either.
pub fn user_dir(var: &str, fallback: &str) -> Option<PathBuf> {
    lifeline_common::folders::this().lifeline(var, fallback)
}

/// `$XDG_CONFIG_HOME/lifeline/host.toml`, else `~/.config/lifeline/host.toml`
/// (`%APPDATA%\Lifeline\host.toml` on Windows).
pub fn saved_path() -> Option<PathBuf> {
    Some(user_dir("XDG_CONFIG_HOME", ".config")?.join("host.toml"))
}

/// The saved settings; none when the file does not exist.
pub fn load(path: &Path) -> Result<Option<Saved>, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    toml::from_str(&text)
        .map(Some)
        .map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            why: e.message().to_owned(),
        })
}

/// Saves `relay` and `ca` (made absolute, so it works from any folder)
/// for the next runs; written whole to a temporary file, then renamed.
pub fn save(path: &Path, relay: &str, ca: Option<&Path>) -> Result<Saved, ConfigError> {
    let ca = ca
        .map(|c| {
            std::fs::canonicalize(c).map_err(|source| ConfigError::Ca {
                path: c.to_owned(),
                source,
            })
        })
        .transpose()?;
    let saved = Saved {
        relay: Some(relay.to_owned()),
        ca,
    };
    let write = |source| ConfigError::Write {
        path: path.to_owned(),
        source,
    };
    let text = toml::to_string(&saved).map_err(|e| write(std::io::Error::other(e.to_string())))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(write)?;
    }
    let temp = path.with_extension("toml.tmp");
    std::fs::write(&temp, text).map_err(write)?;
    std::fs::rename(&temp, path).map_err(write)?;
    Ok(saved)
}

/// The relay and trust in use. The CA goes with the relay it came with: a
/// relay named on the command line trusts `--ca` (or the system), never a
/// CA saved or built in for another relay.
pub fn resolve(
    relay: Option<String>,
    ca: Option<PathBuf>,
    saved: Option<Saved>,
    built: Builtin,
) -> Result<Settings, ConfigError> {
    if let Some(relay) = relay {
        let trust = ca.map_or(Trust::System, Trust::File);
        return Ok(Settings { relay, trust });
    }
    if let Some(Saved {
        relay: Some(relay),
        ca: saved_ca,
    }) = saved
    {
        let trust = ca.or(saved_ca).map_or(Trust::System, Trust::File);
        return Ok(Settings { relay, trust });
    }
    if let Some(relay) = built.relay {
        let trust = match (ca, built.ca) {
            (Some(file), _) => Trust::File(file),
            (None, Some(pem)) => Trust::Builtin(pem),
            (None, None) => Trust::System,
        };
        return Ok(Settings {
            relay: relay.to_owned(),
            trust,
        });
    }
    Err(ConfigError::NoRelay)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: Builtin = Builtin {
        relay: None,
        ca: None,
    };
    const ORG: Builtin = Builtin {
        relay: Some("relay.org:4433"),
        ca: Some("-----BEGIN CERTIFICATE-----"),
    };

    fn saved(relay: &str, ca: &str) -> Option<Saved> {
        Some(Saved {
            relay: Some(relay.into()),
            ca: Some(ca.into()),
        })
    }

    #[test]
    fn the_command_line_then_the_saved_file_then_the_build() {
        let cli = resolve(Some("a:1".into()), None, saved("b:2", "/b.pem"), ORG).unwrap();
        assert_eq!(cli.relay, "a:1");
        assert_eq!(cli.trust, Trust::System, "never another relay's CA");
        let file = resolve(None, None, saved("b:2", "/b.pem"), ORG).unwrap();
        assert_eq!(
            file,
            Settings {
                relay: "b:2".into(),
                trust: Trust::File("/b.pem".into())
            }
        );
        let built = resolve(None, None, None, ORG).unwrap();
        assert_eq!(built.relay, "relay.org:4433");
        assert_eq!(built.trust, Trust::Builtin("-----BEGIN CERTIFICATE-----"));
        let override_ca = resolve(None, Some("/mine.pem".into()), None, ORG).unwrap();
        assert_eq!(override_ca.trust, Trust::File("/mine.pem".into()));
        let e = resolve(None, None, None, NONE).unwrap_err();
        assert!(e.to_string().contains("--relay HOST:PORT"), "{e}");
        let empty = Some(Saved::default());
        assert!(matches!(
            resolve(None, None, empty, NONE),
            Err(ConfigError::NoRelay)
        ));
    }

    #[test]
    fn saved_settings_round_trip_with_an_absolute_ca() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cfg/lifeline/host.toml");
        assert_eq!(load(&path).unwrap(), None, "nothing saved yet");
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "pem").unwrap();
        let saved = save(&path, "relay.example.com:4433", Some(&ca)).unwrap();
        assert_eq!(load(&path).unwrap(), Some(saved.clone()));
        assert!(saved.ca.unwrap().is_absolute());
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("relay = \"relay.example.com:4433\""),
            "{text}"
        );
        // A missing CA is said, and nothing is written.
        let e = save(&path, "x:1", Some(&dir.path().join("nope.pem"))).unwrap_err();
        assert!(e.to_string().contains("nope.pem"), "{e}");
        std::fs::write(&path, "relay = [").unwrap();
        let e = load(&path).unwrap_err();
        assert!(e.to_string().contains("fix or delete it"), "{e}");
    }

    #[test]
    fn the_build_checks_what_it_builds_in() {
        use crate::builtin_source::source;
        let src = source(
            Some("relay.org:4433"),
            Some("-----BEGIN CERTIFICATE-----\nAA\n"),
        )
        .unwrap();
        assert!(src.contains("Some(\"relay.org:4433\")"), "{src}");
        assert!(src.contains("BEGIN CERTIFICATE-----\\nAA\\n"), "{src}");
        assert!(
            source(None, None)
                .unwrap()
                .contains("BUILTIN_RELAY: Option<&str> = None")
        );
        assert!(
            source(Some("relay.org"), None)
                .unwrap_err()
                .contains("HOST:PORT")
        );
        assert!(source(Some("r:0"), None).is_err());
        assert!(
            source(None, Some("not a cert"))
                .unwrap_err()
                .contains("no PEM")
        );
    }
}
