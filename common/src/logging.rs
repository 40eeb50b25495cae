//! Diagnostics for all three binaries: to stderr, filtered by
//! `LIFELINE_LOG` (tracing's env-filter syntax), else by `default`; as
//! text, as JSON lines (one object per event), or, under systemd, to the
//! journal with its fields (priority, target, source location and each
//! event's own fields), as [`LogFormat`] says.

use std::str::FromStr;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
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
    let asked = std::env::var("LIFELINE_LOG_FORMAT").ok();
    let parsed = asked.as_deref().map(str::parse::<LogFormat>);
    init_as(
        default,
        parsed
            .as_ref()
            .and_then(|p| p.as_ref().ok())
            .copied()
            .unwrap_or_default(),
    );
    if let Some(Err(e)) = parsed {
        tracing::warn!("LIFELINE_LOG_FORMAT: {e}; logging as auto");
    }
}

/// Libraries that log what passes through them below errors (enigo: the
/// text it types): their events are dropped whatever `LIFELINE_LOG` asks
/// (even of one of their modules), so no log names what was typed.
const QUIET: &[&str] = &["enigo"];

/// Whether an event of `meta` may be logged at all ([`QUIET`]).
fn speakable(meta: &tracing::Metadata<'_>) -> bool {
    *meta.level() <= tracing::Level::ERROR
        || !QUIET.iter().any(|q| {
            meta.target()
                .strip_prefix(q)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
        })
}

/// The filter: `LIFELINE_LOG`, else `default`; a `LIFELINE_LOG` it cannot
/// read is said once logging is up (the second value).
fn filter(default: &str) -> (EnvFilter, Option<String>) {
    match std::env::var("LIFELINE_LOG") {
        Err(_) => (EnvFilter::new(default), None),
        Ok(spec) => match EnvFilter::try_new(&spec) {
            Ok(f) => (f, None),
            Err(e) => (
                EnvFilter::new(default),
                Some(format!(
                    "LIFELINE_LOG={spec:?} is not a filter ({e}); using {default:?}"
                )),
            ),
        },
    }
}

/// Installs the logger in `format`. A journal that cannot be reached
/// falls back to text on stderr, saying so.
pub fn init_as(default: &str, format: LogFormat) {
    let (filter, unread) = filter(default);
    let quiet = tracing_subscriber::filter::filter_fn(speakable);
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
            let _ = registry.with(json.with_filter(quiet)).try_init();
        }
        LogFormat::Journal => match journal() {
            Ok(layer) => {
                let _ = registry.with(layer.with_filter(quiet)).try_init();
            }
            Err(e) => {
                let _ = registry.with(text().with_filter(quiet)).try_init();
                tracing::warn!("cannot write to the journal ({e}); logging to stderr");
            }
        },
        LogFormat::Auto | LogFormat::Text => {
            let _ = registry.with(text().with_filter(quiet)).try_init();
        }
    }
    if let Some(why) = unread {
        tracing::warn!("{why}");
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
        use tracing::Level;
        let event = |target: &'static str, level: Level| -> bool {
            struct Cs;
            impl tracing::Callsite for Cs {
                fn set_interest(&self, _: tracing::subscriber::Interest) {}
                fn metadata(&self) -> &tracing::Metadata<'_> {
                    unreachable!()
                }
            }
            static CS: Cs = Cs;
            let meta = tracing::Metadata::new(
                "event",
                target,
                level,
                None,
                None,
                None,
                tracing::field::FieldSet::new(&[], tracing::callsite::Identifier(&CS)),
                tracing::metadata::Kind::EVENT,
            );
            speakable(&meta)
        };
        assert!(!event("enigo", Level::DEBUG));
        assert!(!event("enigo::platform", Level::TRACE));
        assert!(!event("enigo::linux::x11", Level::WARN));
        assert!(event("enigo", Level::ERROR));
        assert!(event("enigmatic", Level::TRACE));
        assert!(event("lifeline_host", Level::TRACE));
    }

    #[test]
    fn a_journal_stream_that_is_not_stderr_is_not_taken() {
        assert!(!same_file_as_stderr("1:2"));
        assert!(!same_file_as_stderr("garbage"));
    }
}
