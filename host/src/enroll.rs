//! `lifeline-host enroll`: makes this machine an enrolled device. It makes
//! its own handshake key, registers it with the relay by the ticket an
//! admin made, and pins the organisation's anchor the ticket carries, so
//! that it will admit only technicians the organisation vouches for,
//! whatever the relay says. Everything is kept in one folder (default
//! `~/.config/lifeline/device`), the key and the anchor readable by this
//! user only.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use lifeline_proto::devices::{EnrollRequest, Ticket, valid_device_name};
use lifeline_trust::handshake::{StaticKey, key_fingerprint};
use lifeline_trust::org::Anchor;
use serde::{Deserialize, Serialize};

/// `lifeline-host enroll`.
#[derive(clap::Parser, Debug)]
#[command(
    name = "lifeline-host enroll",
    about = "Enroll this machine for unattended access, with a ticket from your admin."
)]
pub struct EnrollCli {
    /// The relay, HOST:PORT.
    #[arg(long)]
    pub relay: String,
    /// The relay's CA certificate (ca.pem), if it runs its own.
    #[arg(long)]
    pub ca: Option<PathBuf>,
    /// The ticket (`lifeline-ticket:…`, from `lifeline-relay device ticket`).
    #[arg(long)]
    pub ticket: String,
    /// The name technicians see (default: this machine's name).
    #[arg(long)]
    pub name: Option<String>,
    /// Where the device's key, anchor and settings are kept.
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// What an enrolled device remembers besides its key and anchor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceFile {
    pub name: String,
    pub group: String,
    pub policy: String,
    pub relay: String,
    pub ca: Option<PathBuf>,
    /// The device's own secret for coming online at the relay.
    pub token: String,
}

/// The device folder's files: key, anchor, settings.
pub fn paths(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    (dir.join("key"), dir.join("anchor"), dir.join("device.json"))
}

/// The device folder when none is given: `~/.config/lifeline/device`.
pub(crate) fn default_dir() -> anyhow::Result<PathBuf> {
    Ok(lifeline_common::folders::this()
        .config()
        .context("no home folder: give --dir")?
        .join("device"))
}

/// Runs `lifeline-host enroll`; the sentence to print on success.
pub async fn enroll(cli: &EnrollCli, host_name: &str) -> anyhow::Result<String> {
    let ticket = Ticket::from_text(&cli.ticket)?;
    let anchor = Anchor::from_text(&ticket.anchor_text())
        .context("the ticket's organisation anchor is damaged")?;
    let name = match &cli.name {
        Some(n) => n.clone(),
        None => host_name.to_owned(),
    };
    if !valid_device_name(&name) {
        bail!("a device name is 1 to 64 letters, digits, '.', '_' or '-': give one with --name");
    }
    let dir = match &cli.dir {
        Some(d) => d.clone(),
        None => default_dir()?,
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let (key_path, anchor_path, file_path) = paths(&dir);
    if file_path.exists() {
        bail!(
            "this machine is already enrolled ({}); remove that folder to enroll it again",
            dir.display()
        );
    }
    let key = StaticKey::generate()?;
    // The key is on disk before the relay knows it: an enrollment is never
    // left without the key that goes with it.
    let _ = std::fs::remove_file(&key_path);
    lifeline_common::private::create_new(&key_path, &key.to_bytes())
        .with_context(|| format!("cannot write {}", key_path.display()))?;
    let req = EnrollRequest {
        ticket: ticket.secret,
        name: name.clone(),
        key: key.public(),
    };
    let answer = lifeline_net::enroll::enroll(&cli.relay, cli.ca.as_deref(), req).await;
    let enrolled = match answer {
        Ok(Ok(e)) => e,
        Ok(Err(refusal)) => {
            let _ = std::fs::remove_file(&key_path);
            bail!("the relay did not enroll this machine: {refusal}");
        }
        Err(e) => {
            let _ = std::fs::remove_file(&key_path);
            return Err(e).context("cannot reach the relay");
        }
    };
    lifeline_common::private::replace(&anchor_path, anchor.to_text().as_bytes())
        .with_context(|| format!("cannot write {}", anchor_path.display()))?;
    let ca = cli
        .ca
        .as_ref()
        .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()));
    let file = DeviceFile {
        name: enrolled.device.clone(),
        group: enrolled.group.clone(),
        policy: enrolled.policy.as_str().into(),
        relay: cli.relay.clone(),
        ca,
        token: enrolled.token.clone(),
    };
    let json = serde_json::to_vec_pretty(&file)?;
    lifeline_common::private::replace(&file_path, &json)
        .with_context(|| format!("cannot write {}", file_path.display()))?;
    Ok(format!(
        "Enrolled as {:?} in group {:?} ({}).\nThis device's key: {}\nOrganisation anchor: {} (check it with your admin)",
        enrolled.device,
        enrolled.group,
        enrolled.policy.as_str(),
        key_fingerprint(&key.public()),
        anchor.fingerprint()
    ))
}
