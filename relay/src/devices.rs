//! `lifeline-relay device …`: enrollment tickets and the device list, in
//! the data directory (a relay of a cluster keeps its own for now). A
//! ticket is made audited first (`admin_action`), like every change of who
//! may do what; it carries the organisation's anchor for the machine to
//! pin, and the relay keeps only its secret's hash.

use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use clap::Subcommand;
use lifeline_proto::devices::{DevicePolicy, Ticket, anchor_part, fingerprint, key_fingerprint};
use lifeline_relay_core::devices::DeviceStore;

use crate::DataDir;
use crate::audited::{LogAt, admin};

#[derive(Subcommand, Debug)]
pub(crate) enum DeviceCmd {
    /// Make a one-use enrollment ticket for a group; prints it (the only
    /// line on stdout) for `lifeline-host enroll --ticket`.
    Ticket {
        /// The group the device joins.
        #[arg(long)]
        group: String,
        /// attended (the user must accept) or unattended.
        #[arg(long)]
        policy: String,
        /// The organisation's anchor (`lifeline-viewer org anchor`), which
        /// the device pins: it accepts only technicians the organisation
        /// vouches for.
        #[arg(long)]
        anchor: String,
        /// Each session with the group's devices waits for a console user
        /// with the approver role to approve it.
        #[arg(long)]
        approval: bool,
        /// How long the ticket enrolls (1m to 30d).
        #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
        valid: Duration,
        #[command(flatten)]
        dir: DataDir,
    },
    /// Disable a device: it stays listed, is not called and cannot come
    /// online. (To stop it even through a relay you do not trust, revoke
    /// its key in the organisation's list: `lifeline-viewer org revoke
    /// --device`, then `device revocations`.)
    Disable {
        /// The device's name.
        name: String,
        #[command(flatten)]
        dir: DataDir,
    },
    /// Enable a disabled device again.
    Enable {
        name: String,
        #[command(flatten)]
        dir: DataDir,
    },
    /// Remove a device: its name may then be enrolled again.
    Remove {
        name: String,
        #[command(flatten)]
        dir: DataDir,
    },
    /// Publish the organisation's signed revocation list (the file
    /// `lifeline-viewer org revoke` wrote): a device gets it before its
    /// next call and whenever it comes online, keeps it if the
    /// organisation signed it and it is newer than its own, and from then
    /// on refuses what it names.
    Revocations {
        /// The list's file (`lifeline-revocations:…`).
        file: std::path::PathBuf,
        #[command(flatten)]
        dir: DataDir,
    },
    /// List the enrolled devices.
    List {
        #[command(flatten)]
        dir: DataDir,
        /// One JSON object a line.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn run(cmd: DeviceCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        DeviceCmd::Ticket {
            group,
            policy,
            anchor,
            approval,
            valid,
            dir,
        } => {
            let policy = DevicePolicy::from_word(&policy)
                .with_context(|| format!("--policy is attended or unattended, not {policy:?}"))?;
            let anchor = anchor_part(&anchor)?.to_owned();
            let store = DeviceStore::new(&dir.data_dir);
            let log = LogAt::Dir(&dir.data_dir);
            let target = format!(
                "group {group} ({}{})",
                policy.as_str(),
                if approval { ", approval" } else { "" }
            );
            let (secret, record) = admin(&log, "device ticket", &target, || {
                Ok(store.make_ticket(&group, (policy, approval), valid, SystemTime::now())?)
            })?;
            let ticket = Ticket { secret, anchor };
            println!("{}", ticket.to_text());
            eprintln!(
                "Enrollment ticket for group {:?} ({}), valid {}; organisation anchor {}. \
                 Give it to the machine's admin privately: it enrolls one machine.",
                record.group,
                record.policy.as_str(),
                humantime::format_duration(valid),
                anchor_fingerprint(&ticket)
            );
            Ok(ExitCode::SUCCESS)
        }
        DeviceCmd::Disable { name, dir } => change(&dir, "device disable", &name, |store| {
            store
                .set_disabled(&name, true)
                .map(|found| found.then_some(()))
        }),
        DeviceCmd::Enable { name, dir } => change(&dir, "device enable", &name, |store| {
            store
                .set_disabled(&name, false)
                .map(|found| found.then_some(()))
        }),
        DeviceCmd::Remove { name, dir } => change(&dir, "device remove", &name, |store| {
            store.remove(&name).map(|gone| gone.map(|_| ()))
        }),
        DeviceCmd::Revocations { file, dir } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let store = DeviceStore::new(&dir.data_dir);
            let log = LogAt::Dir(&dir.data_dir);
            admin(
                &log,
                "device revocations",
                &file.display().to_string(),
                || Ok(store.publish_revocations(&text)?),
            )?;
            eprintln!(
                "Published: each device gets it before its next call, or when it next comes online."
            );
            Ok(ExitCode::SUCCESS)
        }
        DeviceCmd::List { dir, json } => {
            let store = DeviceStore::new(&dir.data_dir);
            for d in store.devices()? {
                let entry = d.entry(false, None);
                let key = key_fingerprint(&entry.key);
                if json {
                    println!(
                        "{}",
                        serde_json::json!({
                            "name": d.name, "group": d.group, "policy": d.policy.as_str(),
                            "key": key, "enrolled": d.enrolled, "disabled": d.disabled,
                        })
                    );
                } else {
                    println!(
                        "{}\tgroup={}\tpolicy={}\tkey={}\tenrolled={}{}",
                        d.name,
                        d.group,
                        d.policy.as_str(),
                        key,
                        d.enrolled,
                        if d.disabled { "\tdisabled" } else { "" }
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// An audited change of one device; `None` from `f` when no device has
/// that name (exit status 1, the log says the change failed).
fn change(
    dir: &DataDir,
    action: &str,
    name: &str,
    f: impl FnOnce(&DeviceStore) -> Result<Option<()>, lifeline_relay_core::store::StoreError>,
) -> anyhow::Result<ExitCode> {
    let store = DeviceStore::new(&dir.data_dir);
    let log = LogAt::Dir(&dir.data_dir);
    admin(&log, action, name, || match f(&store)? {
        Some(()) => Ok(()),
        None => {
            anyhow::bail!("no enrolled device is named {name:?}: see `lifeline-relay device list`")
        }
    })?;
    eprintln!("Done: {action} {name}.");
    Ok(ExitCode::SUCCESS)
}

/// The ticket's anchor's fingerprint, as the device will show it.
fn anchor_fingerprint(ticket: &Ticket) -> String {
    use base64::Engine as _;
    let key = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&ticket.anchor)
        .unwrap_or_default();
    fingerprint(b"lifeline anchor", &key)
}
