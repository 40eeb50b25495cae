//! `lifeline-viewer devices`: the machines enrolled at a relay, as its
//! list says (name, group, policy, online, last seen, key). The list comes
//! from the relay; a device's key shown here is what a technician pins
//! and compares, not something the relay can vouch for.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use lifeline_proto::devices::key_fingerprint;
use serde_json::json;

use crate::shown::shown;

/// `lifeline-viewer devices`.
#[derive(clap::Parser, Debug)]
#[command(
    name = "lifeline-viewer devices",
    about = "List the machines enrolled at a relay for unattended access."
)]
pub struct DevicesCli {
    /// The relay, HOST:PORT.
    #[arg(long)]
    relay: String,
    /// The relay's CA certificate (ca.pem), if it runs its own.
    #[arg(long)]
    ca: Option<PathBuf>,
    /// Your technician token; else $LIFELINE_TOKEN, else --token-file,
    /// else ~/.config/lifeline/token.
    #[arg(long, env = "LIFELINE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Read your technician token from this file (yours alone, chmod 600).
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// One JSON object a line.
    #[arg(long)]
    json: bool,
}

/// Runs `lifeline-viewer devices`.
pub async fn run(cli: &DevicesCli) -> anyhow::Result<ExitCode> {
    let token = crate::token::find(cli.token_file.as_deref(), cli.token.as_deref())?
        .context("no technician token: give --token or --token-file")?;
    let answer = lifeline_net::enroll::devices(&cli.relay, cli.ca.as_deref(), &token)
        .await
        .context("cannot reach the relay")?;
    let list = match answer {
        Ok(list) => list,
        Err(refusal) => bail!("the relay refused: {refusal}"),
    };
    for d in &list {
        let key = key_fingerprint(&d.key);
        let seen = d.last_seen.as_deref().unwrap_or("never");
        if cli.json {
            println!(
                "{}",
                json!({
                    "name": d.name, "group": d.group, "policy": d.policy.as_str(),
                    "online": d.online, "last_seen": d.last_seen, "key": key,
                    "disabled": d.disabled,
                })
            );
        } else {
            println!(
                "{}\tgroup={}\tpolicy={}\t{}\tlast seen {}\tkey={}{}",
                shown(&d.name),
                shown(&d.group),
                d.policy.as_str(),
                if d.online { "online" } else { "offline" },
                shown(seen),
                key,
                if d.disabled { "\tdisabled" } else { "" }
            );
        }
    }
    if list.is_empty() && !cli.json {
        eprintln!("No device is enrolled at this relay yet.");
    }
    Ok(ExitCode::SUCCESS)
}
