//! The certificate the relay presents: the operator's `--cert/--key`
//! files, or its own, issued by its CA (made on first start). Held in one
//! [`LiveCert`] that every listener resolves through, and watched while
//! the relay runs ([`watch`]): the files are read again when they change
//! (an ACME client such as certbot or lego rotates them), and the relay's
//! own certificate is reissued from its CA before it expires. Sessions
//! already open keep the certificate they began with.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use lifeline_certs::{RelayFiles, Validity};
use lifeline_common::tls::LiveCert;

/// How often the certificate files are looked at.
pub(crate) const WATCH_EVERY: Duration = Duration::from_secs(2);

/// Where the certificate comes from.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// The operator's files (`--cert`, `--key`).
    Files { cert: PathBuf, key: PathBuf },
    /// The relay's own, issued by its CA in `dir` for `names`.
    OwnCa { dir: PathBuf, names: Vec<String> },
}

impl Source {
    fn paths(&self) -> (PathBuf, PathBuf) {
        match self {
            Self::Files { cert, key } => (cert.clone(), key.clone()),
            Self::OwnCa { dir, .. } => {
                let f = RelayFiles::in_dir(dir);
                (f.cert, f.key)
            }
        }
    }
}

/// What the operator is told about the relay's own CA: its file, its
/// fingerprint, whether it was made now.
pub(crate) type CaNote = (PathBuf, String, bool);

/// The certificate loaded at start, and, for the relay's own, its CA.
pub(crate) struct Loaded {
    pub(crate) live: LiveCert,
    pub(crate) ca_note: Option<CaNote>,
}

/// Loads the certificate at start, making or reissuing the relay's own
/// first when it is missing, lacks a name, or is due.
pub(crate) fn load(source: &Source) -> anyhow::Result<Loaded> {
    let ca_note = match source {
        Source::Files { .. } => None,
        Source::OwnCa { dir, names } => {
            let ensured = lifeline_certs::ensure_relay_certs(dir, names)?;
            Some((
                RelayFiles::in_dir(dir).ca_cert,
                ensured.ca_fingerprint,
                ensured.ca_created,
            ))
        }
    };
    let (cert, key) = source.paths();
    let live = LiveCert::new(
        lifeline_certs::load_certs(&cert)?,
        lifeline_certs::load_key(&key)?,
    )?;
    Ok(Loaded { live, ca_note })
}

/// The files' contents as last read.
#[derive(Debug, Default, PartialEq, Eq)]
struct Seen {
    cert: Vec<u8>,
    key: Vec<u8>,
}

fn read(source: &Source) -> Option<Seen> {
    let (cert, key) = source.paths();
    Some(Seen {
        cert: std::fs::read(cert).ok()?,
        key: std::fs::read(key).ok()?,
    })
}

/// Watches the certificate for as long as the runtime runs: see the
/// module's documentation.
pub(crate) fn watch(source: Source, live: LiveCert) {
    tokio::spawn(async move {
        let mut watcher = Watcher {
            used: read(&source).unwrap_or_default(),
            pending: None,
            reissue_tried: None,
            source,
            live,
        };
        let mut tick = tokio::time::interval(WATCH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            watcher.tick(SystemTime::now());
        }
    });
}

/// A reissue that failed is tried again this much later.
const REISSUE_RETRY: Duration = Duration::from_secs(3600);

struct Watcher {
    source: Source,
    live: LiveCert,
    /// The files' contents presented now.
    used: Seen,
    /// Changed files that could not be used, and whether that was reported.
    pending: Option<(Seen, bool)>,
    reissue_tried: Option<SystemTime>,
}

impl Watcher {
    fn tick(&mut self, now: SystemTime) {
        self.reissue_if_due(now);
        let Some(found) = read(&self.source) else {
            return;
        };
        if found == self.used {
            self.pending = None;
            return;
        }
        if matches!(&self.pending, Some((p, true)) if *p == found) {
            return;
        }
        match self.use_files(now) {
            Ok(until) => {
                println!(
                    "Certificate reloaded from {}; valid until {until}",
                    self.where_from()
                );
                self.used = found;
                self.pending = None;
            }
            // A certificate and key written one after the other are seen
            // half-written for a moment: a pair is reported only when a
            // second look finds it the same and still unusable.
            Err(e) => {
                let second_look = matches!(&self.pending, Some((p, false)) if *p == found);
                if second_look {
                    tracing::warn!(
                        "cannot use the certificate in {} ({e}); still presenting the previous one",
                        self.where_from()
                    );
                }
                self.pending = Some((found, second_look));
            }
        }
    }

    /// Reissues the relay's own certificate from its CA when the one
    /// presented has less than [`lifeline_certs::RENEW_BEFORE`] left; the
    /// next look at the files presents it.
    fn reissue_if_due(&mut self, now: SystemTime) {
        let Source::OwnCa { dir, names } = &self.source else {
            return;
        };
        let due = self
            .live
            .leaf()
            .and_then(|leaf| Validity::of(leaf.as_ref()).ok())
            .is_some_and(|v| v.due(now));
        let waited = self
            .reissue_tried
            .is_none_or(|t| now.duration_since(t).unwrap_or_default() >= REISSUE_RETRY);
        if !due || !waited {
            return;
        }
        self.reissue_tried = Some(now);
        match lifeline_certs::issue_relay_cert(dir, names, lifeline_certs::RELAY_CERT_DAYS) {
            Ok(()) => println!("Certificate reissued by the relay's CA: the one presented was due"),
            Err(e) => tracing::warn!("cannot reissue the relay's certificate: {e}"),
        }
    }

    fn use_files(&self, now: SystemTime) -> anyhow::Result<String> {
        let (cert, key) = self.source.paths();
        let chain = lifeline_certs::load_certs(&cert)?;
        let validity = Validity::of(chain[0].as_ref())?;
        if validity.left(now).is_zero() {
            anyhow::bail!("it has expired");
        }
        self.live.replace(chain, lifeline_certs::load_key(&key)?)?;
        Ok(humantime::format_rfc3339_seconds(validity.not_after).to_string())
    }

    fn where_from(&self) -> String {
        match &self.source {
            Source::Files { cert, key } => format!("{} and {}", cert.display(), key.display()),
            Source::OwnCa { dir, .. } => format!("the data directory {}", dir.display()),
        }
    }
}
