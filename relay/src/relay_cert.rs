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
    /// The files as read for `live`, for [`watch`] to compare with.
    pub(crate) seen: Seen,
    /// When `live` stops being valid.
    pub(crate) not_after: SystemTime,
    /// The relay's own was reissued now (it was due or lacked a name).
    pub(crate) reissued: bool,
}

/// Loads the certificate at start, making or reissuing the relay's own
/// first when it is missing, lacks a name, or is due.
pub(crate) fn load(source: &Source) -> anyhow::Result<Loaded> {
    let mut reissued = false;
    let ca_note = match source {
        Source::Files { .. } => None,
        Source::OwnCa { dir, names } => {
            let ensured = lifeline_certs::ensure_relay_certs(dir, names)?;
            reissued = ensured.cert_created && !ensured.ca_created;
            Some((
                RelayFiles::in_dir(dir).ca_cert,
                ensured.ca_fingerprint,
                ensured.ca_created,
            ))
        }
    };
    let seen = read(source)?;
    let (chain, key, validity) = seen.parse(source)?;
    let live = LiveCert::new(chain, key)?;
    Ok(Loaded {
        live,
        ca_note,
        seen,
        not_after: validity.not_after,
        reissued,
    })
}

/// The files' contents as read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Seen {
    cert: Vec<u8>,
    key: Vec<u8>,
}

type Pair = (
    Vec<rustls::pki_types::CertificateDer<'static>>,
    rustls::pki_types::PrivateKeyDer<'static>,
    Validity,
);

impl Seen {
    /// The chain, key and what the certificate says of itself.
    fn parse(&self, source: &Source) -> anyhow::Result<Pair> {
        let (cert, key) = source.paths();
        let chain = lifeline_certs::certs_from_pem(&self.cert, &cert)?;
        let validity = Validity::of(chain[0].as_ref())?;
        Ok((
            chain,
            lifeline_certs::key_from_pem(&self.key, &key)?,
            validity,
        ))
    }
}

fn read(source: &Source) -> anyhow::Result<Seen> {
    let (cert, key) = source.paths();
    let read = |p: &PathBuf| {
        std::fs::read(p).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", p.display()))
    };
    Ok(Seen {
        cert: read(&cert)?,
        key: read(&key)?,
    })
}

/// Watches the certificate until the process ends (see the module's
/// documentation), on a thread of its own: reading files and making keys
/// never hold up the relay's runtime. `expires` hears when the
/// certificate presented stops being valid, at each change.
pub(crate) fn watch(
    source: Source,
    loaded: &Loaded,
    expires: impl Fn(SystemTime) + Send + 'static,
) -> anyhow::Result<()> {
    expires(loaded.not_after);
    let mut watcher = Watcher {
        source,
        live: loaded.live.clone(),
        used: loaded.seen.clone(),
        not_after: loaded.not_after,
        pending: None,
        reissue_tried: None,
        warned_due: None,
        expires: Box::new(expires),
    };
    std::thread::Builder::new()
        .name("cert-watch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(WATCH_EVERY);
                watcher.tick(SystemTime::now());
            }
        })?;
    Ok(())
}

/// A reissue that failed is tried again, and a certificate due that the
/// relay cannot renew itself is warned of again, this much later.
const RETRY: Duration = Duration::from_secs(3600);

/// What a look at the files found: their contents, or why they could not
/// be read.
type Found = Result<Seen, String>;

struct Watcher {
    source: Source,
    live: LiveCert,
    /// The files' contents presented now, and when that stops being valid.
    used: Seen,
    not_after: SystemTime,
    /// Changed files that could not be used, and whether that was reported.
    pending: Option<(Found, bool)>,
    reissue_tried: Option<SystemTime>,
    warned_due: Option<SystemTime>,
    expires: Box<dyn Fn(SystemTime) + Send>,
}

impl Watcher {
    fn tick(&mut self, now: SystemTime) {
        self.renew_if_due(now);
        let found: Found = read(&self.source).map_err(|e| e.to_string());
        if found.as_ref() == Ok(&self.used) {
            self.pending = None;
            return;
        }
        if matches!(&self.pending, Some((p, true)) if *p == found) {
            return;
        }
        let used = match &found {
            Ok(seen) => self.take(seen, now),
            Err(why) => Err(anyhow::anyhow!("{why}")),
        };
        match used {
            Ok(seen) => {
                println!(
                    "Certificate reloaded from {}; valid until {}",
                    self.where_from(),
                    humantime::format_rfc3339_seconds(self.not_after)
                );
                self.used = seen;
                self.pending = None;
            }
            // A certificate and key written one after the other are seen
            // half-written for a moment: what cannot be used is reported
            // only when a second look finds the same.
            Err(e) => {
                let second_look = matches!(&self.pending, Some((p, false)) if *p == found);
                if second_look {
                    tracing::warn!(
                        "cannot use the certificate in {} ({e:#}); still presenting the previous one",
                        self.where_from()
                    );
                }
                self.pending = Some((found, second_look));
            }
        }
    }

    /// Presents `seen` if it is a usable pair: readable, the key the
    /// certificate's, not expired.
    fn take(&mut self, seen: &Seen, now: SystemTime) -> anyhow::Result<Seen> {
        let (chain, key, validity) = seen.parse(&self.source)?;
        if validity.left(now).is_zero() {
            anyhow::bail!(
                "it expired at {}",
                humantime::format_rfc3339_seconds(validity.not_after)
            );
        }
        self.live.replace(chain, key)?;
        self.not_after = validity.not_after;
        (self.expires)(validity.not_after);
        Ok(seen.clone())
    }

    /// When the certificate presented has less than
    /// [`lifeline_certs::RENEW_BEFORE`] left: the relay's own is reissued
    /// from its CA (the next look presents it); of the operator's files
    /// it warns, once an hour.
    fn renew_if_due(&mut self, now: SystemTime) {
        let left = self.not_after.duration_since(now).unwrap_or_default();
        if left >= lifeline_certs::RENEW_BEFORE {
            return;
        }
        let Source::OwnCa { dir, names } = &self.source else {
            if self.warned_due.is_none_or(|t| waited(t, now)) {
                self.warned_due = Some(now);
                tracing::warn!(
                    "the certificate in {} expires at {}: renew it (the relay takes the new files as they are written)",
                    self.where_from(),
                    humantime::format_rfc3339_seconds(self.not_after)
                );
            }
            return;
        };
        if self.reissue_tried.is_some_and(|t| !waited(t, now)) {
            return;
        }
        self.reissue_tried = Some(now);
        match lifeline_certs::issue_relay_cert(dir, names, lifeline_certs::RELAY_CERT_DAYS) {
            Ok(()) => println!("Certificate reissued by the relay's CA: the one presented was due"),
            Err(e) => tracing::warn!("cannot reissue the relay's certificate: {e}"),
        }
    }

    fn where_from(&self) -> String {
        match &self.source {
            Source::Files { cert, key } => format!("{} and {}", cert.display(), key.display()),
            Source::OwnCa { dir, .. } => format!("the data directory {}", dir.display()),
        }
    }
}

/// Whether [`RETRY`] has passed since `then`.
fn waited(then: SystemTime, now: SystemTime) -> bool {
    now.duration_since(then).unwrap_or_default() >= RETRY
}
