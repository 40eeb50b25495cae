//! Diagnostics for all three binaries: to stderr, filtered by
//! `LIFELINE_LOG` (tracing's env-filter syntax), else by `default`; as
//! text, as JSON lines (one object per event), or, under systemd, to the
//! journal with its fields (priority, target, source location and each
//! event's own fields), as [`LogFormat`] says.

use std::str::FromStr;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// How diagnostics are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// The journal when stderr is the journal's (systemd says so in
    /// `JOURNAL_STREAM`), else text.
    #[default]
    Auto,
    /// Human-readable lines.
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `fields`.
    Json,
    /// Straight to the journal, each field a journal field.
    Journal,
}

/// A log format's name that is none of them.
#[derive(Debug, thiserror::Error)]
#[error("unknown log format {0:?}: use auto, text, json or journal")]
pub struct UnknownFormat(String);

impl FromStr for LogFormat {
    type Err = UnknownFormat;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Self::Auto),
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            "journal" => Ok(Self::Journal),
            other => Err(UnknownFormat(other.to_owned())),
        }
    }
}

/// Installs the logger in the format `LIFELINE_LOG_FORMAT` names (else
/// [`LogFormat::Auto`]); `default` applies when `LIFELINE_LOG` is unset.
pub fn init(default: &str) {
    let format = std::env::var("LIFELINE_LOG_FORMAT")
        .ok()
        .and_then(|f| f.parse().ok())
        .unwrap_or_default();
    init_as(default, format);
}

/// Libraries that log what passes through them at their debug and trace
/// levels (enigo: the text it types), held at warnings whatever
/// `LIFELINE_LOG` asks: no log names what the technician typed.
const QUIET: &[&str] = &["enigo=error"];

/// The filter: `LIFELINE_LOG`, else `default`, then [`QUIET`].
fn filter(default: &str) -> EnvFilter {
    quieted(EnvFilter::try_from_env("LIFELINE_LOG").unwrap_or_else(|_| EnvFilter::new(default)))
}

/// `filter` with [`QUIET`] over whatever it says of those libraries.
fn quieted(mut filter: EnvFilter) -> EnvFilter {
    for quiet in QUIET {
        if let Ok(d) = quiet.parse() {
            filter = filter.add_directive(d);
        }
    }
    filter
}

/// Installs the logger in `format`. A journal that cannot be reached
/// falls back to text on stderr, saying so.
pub fn init_as(default: &str, format: LogFormat) {
    let filter = filter(default);
    let format = match format {
        LogFormat::Auto if stderr_is_journal() => LogFormat::Journal,
        LogFormat::Auto => LogFormat::Text,
        f => f,
    };
    let registry = tracing_subscriber::registry().with(filter);
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let text = || {
        tracing_subscriber::fmt::layer()
            .with_ansi(ansi)
            .with_writer(std::io::stderr)
    };
    match format {
        LogFormat::Json => {
            let json = tracing_subscriber::fmt::layer()
                .json()
                .with_writer(std::io::stderr);
            let _ = registry.with(json).try_init();
        }
        LogFormat::Journal => match journal() {
            Ok(layer) => {
                let _ = registry.with(layer).try_init();
            }
            Err(e) => {
                let _ = registry.with(text()).try_init();
                tracing::warn!("cannot write to the journal ({e}); logging to stderr");
            }
        },
        LogFormat::Auto | LogFormat::Text => {
            let _ = registry.with(text()).try_init();
        }
    }
}

#[cfg(unix)]
fn journal() -> std::io::Result<tracing_journald::Layer> {
    tracing_journald::layer()
}

#[cfg(not(unix))]
fn journal() -> std::io::Result<tracing_subscriber::layer::Identity> {
    Err(std::io::Error::other("no journal on this system"))
}

/// Whether stderr is the journal's stream: `JOURNAL_STREAM` (set by
/// systemd as `DEVICE:INODE`) names the file stderr is.
fn stderr_is_journal() -> bool {
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    same_file_as_stderr(&stream.to_string_lossy())
}

#[cfg(unix)]
fn same_file_as_stderr(stream: &str) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    let Some((dev, ino)) = stream.split_once(':') else {
        return false;
    };
    let Ok(meta) = std::fs::metadata("/proc/self/fd/2") else {
        return false;
    };
    dev.parse() == Ok(meta.dev()) && ino.parse() == Ok(meta.ino())
}

#[cfg(not(unix))]
fn same_file_as_stderr(_stream: &str) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_by_name_and_an_unknown_one_is_named() {
        assert_eq!("json".parse::<LogFormat>().unwrap(), LogFormat::Json);
        assert_eq!("journal".parse::<LogFormat>().unwrap(), LogFormat::Journal);
        let e = "xml".parse::<LogFormat>().unwrap_err().to_string();
        assert!(e.contains("\"xml\"") && e.contains("json"), "{e}");
    }

    #[test]
    fn what_is_typed_stays_out_of_the_log_at_any_level() {
        let f = quieted(EnvFilter::new("trace,enigo=trace")).to_string();
        assert!(f.contains("enigo=error"), "{f}");
        assert!(!f.contains("enigo=trace"), "{f}");
    }

    #[test]
    fn a_journal_stream_that_is_not_stderr_is_not_taken() {
        assert!(!same_file_as_stderr("1:2"));
        assert!(!same_file_as_stderr("garbage"));
    }
}
