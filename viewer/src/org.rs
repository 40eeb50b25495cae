//! The organisation's side of unattended access, run by an admin on a
//! machine of their own (never the relay): `lifeline-viewer org init`
//! makes the organisation's signing key, `org anchor` prints the anchor
//! devices pin, `org vouch` signs a technician's handshake key for a few
//! days, `org revoke` signs a new revocation list. And the technician's
//! side: `lifeline-viewer unattended key` makes their handshake key and
//! prints its public half for the admin, `unattended cert` keeps the
//! certificate the admin signed. Every secret is written readable by its
//! owner only; nothing here talks to a relay.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use lifeline_trust::creds::{DEFAULT_VALIDITY_S, Revocations, TechnicianCert, new_serial};
use lifeline_trust::handshake::{StaticKey, key_fingerprint, key_from_text, key_to_text};
use lifeline_trust::org::{OrgKey, Signed};

/// How a certificate reads as text.
pub const CERT_PREFIX: &str = "lifeline-cert:";
/// How a revocation list reads as text.
pub use lifeline_trust::creds::REVOCATIONS_PREFIX;

/// `lifeline-viewer org …`.
#[derive(clap::Parser, Debug)]
#[command(
    name = "lifeline-viewer org",
    about = "The organisation's signing key for unattended access: run by an admin, away from the relay."
)]
pub struct OrgCli {
    /// Where the organisation's key and lists are kept (default:
    /// ~/.config/lifeline/org).
    #[arg(long, global = true)]
    dir: Option<PathBuf>,
    #[command(subcommand)]
    command: OrgCommand,
}

#[derive(clap::Subcommand, Debug)]
enum OrgCommand {
    /// Make the organisation's signing key (once) and print its anchor.
    Init,
    /// Print the anchor enrolled devices pin, and its fingerprint.
    Anchor,
    /// Sign a technician's handshake key (`lifeline-viewer unattended key`
    /// prints it): prints the certificate to hand back.
    Vouch {
        /// The technician's name, as devices show it.
        name: String,
        /// Their key, `lifeline-key:…`.
        #[arg(long)]
        key: String,
        /// Days the certificate is valid (1 to 31).
        #[arg(long, default_value_t = DEFAULT_VALIDITY_S / (24 * 3600))]
        days: u64,
    },
    /// Sign a new revocation list: a technician's certificate (by serial)
    /// or a device (by key) no longer counts; prints the list.
    Revoke {
        #[arg(long)]
        serial: Vec<u64>,
        /// A device's key, `lifeline-key:…`.
        #[arg(long)]
        device: Vec<String>,
    },
}

/// `lifeline-viewer unattended …`.
#[derive(clap::Parser, Debug)]
#[command(
    name = "lifeline-viewer unattended",
    about = "Your handshake key and certificate for reaching enrolled machines."
)]
pub struct UnattendedCli {
    /// Where your key and certificate are kept (default:
    /// ~/.config/lifeline/unattended).
    #[arg(long, global = true)]
    dir: Option<PathBuf>,
    #[command(subcommand)]
    command: UnattendedCommand,
}

#[derive(clap::Subcommand, Debug)]
enum UnattendedCommand {
    /// Make your handshake key (once) and print its public half for the
    /// admin who vouches for you.
    Key,
    /// Keep the certificate the admin signed for your key.
    Cert {
        /// `lifeline-cert:…`, as `org vouch` printed it.
        cert: String,
    },
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn dir_or(dir: &Option<PathBuf>, leaf: &str) -> anyhow::Result<PathBuf> {
    let dir = match dir {
        Some(d) => d.clone(),
        None => lifeline_common::folders::this()
            .config()
            .context("no home folder: give --dir")?
            .join(leaf),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// Runs `lifeline-viewer org`, printing what it made.
pub fn org(cli: &OrgCli) -> anyhow::Result<()> {
    let dir = dir_or(&cli.dir, "org")?;
    let key_path = dir.join("org.key");
    if let OrgCommand::Init = cli.command {
        let key = OrgKey::generate()?;
        lifeline_common::private::create_new(&key_path, key.to_pkcs8()).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                anyhow::anyhow!(
                    "{} exists: the organisation already has a key (a new one would orphan every enrolled device)",
                    key_path.display()
                )
            } else {
                anyhow::Error::new(e).context(format!("cannot write {}", key_path.display()))
            }
        })?;
        print_anchor(&key);
        return Ok(());
    }
    let bytes = std::fs::read(&key_path).with_context(|| {
        format!(
            "cannot read {} (run `lifeline-viewer org init` first)",
            key_path.display()
        )
    })?;
    let key = OrgKey::from_pkcs8(&bytes).with_context(|| format!("{}", key_path.display()))?;
    match &cli.command {
        OrgCommand::Init => unreachable!("handled above"),
        OrgCommand::Anchor => print_anchor(&key),
        OrgCommand::Vouch {
            name,
            key: tech,
            days,
        } => {
            if !(1..=31).contains(days) {
                bail!("--days must be 1 to 31 (certificates are short-lived by design)");
            }
            let tech = key_from_text(tech).context("--key is not a `lifeline-key:…`")?;
            let start = now();
            let cert = TechnicianCert {
                serial: new_serial()?,
                name: name.clone(),
                key: tech,
                not_before: start,
                not_after: start + days * 24 * 3600,
            };
            let signed = cert.sign(&key)?;
            append_issued(&dir, &cert)?;
            println!("{}", signed.to_text(CERT_PREFIX));
            eprintln!(
                "Certificate {} for {name} ({}), valid {days} day(s).",
                cert.serial,
                key_fingerprint(&tech)
            );
        }
        OrgCommand::Revoke { serial, device } => {
            revoke(&dir, &key, serial, device)?;
        }
    }
    Ok(())
}

fn print_anchor(key: &OrgKey) {
    let anchor = key.anchor();
    println!("{}", anchor.to_text());
    eprintln!("Organisation anchor {}", anchor.fingerprint());
}

/// Adds one line to `issued.log`: what was signed, for the admin's records.
fn append_issued(dir: &Path, cert: &TechnicianCert) -> anyhow::Result<()> {
    use std::io::Write;
    let path = dir.join("issued.log");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    writeln!(
        f,
        "{} serial={} name={:?} key={} until={}",
        cert.not_before,
        cert.serial,
        cert.name,
        key_fingerprint(&cert.key),
        cert.not_after
    )?;
    Ok(())
}

/// Signs the next revocation list: the last one's entries and these.
fn revoke(dir: &Path, key: &OrgKey, serials: &[u64], devices: &[String]) -> anyhow::Result<()> {
    if serials.is_empty() && devices.is_empty() {
        bail!(
            "name what to revoke: --serial N (a certificate) or --device lifeline-key:… (a device)"
        );
    }
    let path = dir.join("revocations");
    let mut list = match std::fs::read_to_string(&path) {
        Ok(text) => {
            let signed = Signed::from_text(&text, REVOCATIONS_PREFIX)
                .with_context(|| format!("{} is damaged", path.display()))?;
            Revocations::open(&key.anchor(), &signed)
                .with_context(|| format!("{} is not this organisation's", path.display()))?
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Revocations::default(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    for d in devices {
        let k = key_from_text(d).with_context(|| format!("{d:?} is not a `lifeline-key:…`"))?;
        if !list.devices.contains(&k) {
            list.devices.push(k);
        }
    }
    for s in serials {
        if !list.technicians.contains(s) {
            list.technicians.push(*s);
        }
    }
    list.seq += 1;
    list.issued = now();
    let text = list.sign(key)?.to_text(REVOCATIONS_PREFIX);
    lifeline_common::private::replace(&path, text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!("{text}");
    eprintln!(
        "Revocation list {}: {} certificate(s), {} device(s).",
        list.seq,
        list.technicians.len(),
        list.devices.len()
    );
    Ok(())
}

/// The technician's key and certificate files in `dir`.
pub fn unattended_paths(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join("key"), dir.join("cert"))
}

/// Runs `lifeline-viewer unattended`.
pub fn unattended(cli: &UnattendedCli) -> anyhow::Result<()> {
    let dir = dir_or(&cli.dir, "unattended")?;
    let (key_path, cert_path) = unattended_paths(&dir);
    match &cli.command {
        UnattendedCommand::Key => {
            let key = match std::fs::read(&key_path) {
                Ok(bytes) => StaticKey::from_bytes(&bytes)
                    .with_context(|| format!("{} is damaged", key_path.display()))?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    let key = StaticKey::generate()?;
                    lifeline_common::private::create_new(&key_path, &key.to_bytes())
                        .with_context(|| format!("cannot write {}", key_path.display()))?;
                    key
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot read {}", key_path.display()));
                }
            };
            println!("{}", key_to_text(&key.public()));
            eprintln!(
                "Your key {}: give the line above to your admin (`lifeline-viewer org vouch NAME --key …`).",
                key_fingerprint(&key.public())
            );
        }
        UnattendedCommand::Cert { cert } => {
            let bytes = std::fs::read(&key_path).with_context(|| {
                format!(
                    "cannot read {} (run `lifeline-viewer unattended key` first)",
                    key_path.display()
                )
            })?;
            let key = StaticKey::from_bytes(&bytes)
                .with_context(|| format!("{} is damaged", key_path.display()))?;
            let signed = Signed::from_text(cert, CERT_PREFIX)
                .context("not a certificate (`lifeline-cert:…`, as `org vouch` prints it)")?;
            // The signature is the devices' to check (they pin the anchor);
            // here: that it is for this key, and still valid.
            let body: TechnicianCert = postcard_cert(&signed)?;
            if body.key != key.public() {
                bail!(
                    "this certificate is for key {}, not yours ({})",
                    key_fingerprint(&body.key),
                    key_fingerprint(&key.public())
                );
            }
            if body.not_after < now() {
                bail!("this certificate has expired: ask your admin for a new one");
            }
            lifeline_common::private::replace(&cert_path, cert.trim().as_bytes())
                .with_context(|| format!("cannot write {}", cert_path.display()))?;
            eprintln!(
                "Certificate {} for {} kept in {}; valid for {} more hour(s).",
                body.serial,
                body.name,
                cert_path.display(),
                (body.not_after - now()) / 3600
            );
        }
    }
    Ok(())
}

/// A certificate's body, unchecked (devices check the signature).
fn postcard_cert(signed: &Signed) -> anyhow::Result<TechnicianCert> {
    TechnicianCert::unchecked(signed).context("not a certificate")
}

/// The technician's side of a device session, from their unattended
/// folder (default `~/.config/lifeline/unattended`): the key, the
/// certificate the organisation signed for it, and where device keys are
/// pinned.
pub fn device_target(
    dir: &Option<PathBuf>,
    relay: &str,
    name: &str,
    reason: &str,
) -> anyhow::Result<crate::session::DeviceTarget> {
    let dir = dir_or(dir, "unattended")?;
    let (key_path, cert_path) = unattended_paths(&dir);
    let bytes = std::fs::read(&key_path).with_context(|| {
        format!(
            "cannot read {} (run `lifeline-viewer unattended key`, and have your admin vouch for it)",
            key_path.display()
        )
    })?;
    let key = StaticKey::from_bytes(&bytes)
        .with_context(|| format!("{} is damaged", key_path.display()))?;
    let text = std::fs::read_to_string(&cert_path).with_context(|| {
        format!(
            "cannot read {} (keep your admin's certificate with `lifeline-viewer unattended cert`)",
            cert_path.display()
        )
    })?;
    let cert = Signed::from_text(&text, CERT_PREFIX)
        .with_context(|| format!("{} is damaged", cert_path.display()))?;
    let body = postcard_cert(&cert)?;
    if body.not_after < now() {
        bail!(
            "your certificate has expired: ask your admin for a new one (`lifeline-viewer unattended cert`)"
        );
    }
    Ok(crate::session::DeviceTarget {
        name: name.into(),
        reason: reason.into(),
        key,
        cert,
        pins: dir.join("known-devices"),
        relay: relay.into(),
    })
}
