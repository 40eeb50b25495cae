//! `lifeline-viewer login --relay HOST:PORT`: signs the technician in
//! with the relay's identity provider (the device flow, run by the
//! relay): shows where to go and the code to enter, waits, and keeps the
//! credential the relay issues in the token file (yours alone), where
//! every later `lifeline-viewer` finds it without `--token`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use serde_json::json;

use crate::shown::shown;

/// `lifeline-viewer login`.
#[derive(clap::Parser, Debug)]
#[command(
    name = "lifeline-viewer login",
    about = "Sign in with your organisation's identity provider; the relay gives you a credential for the day."
)]
pub struct LoginCli {
    /// The relay, HOST:PORT.
    #[arg(long)]
    relay: String,
    /// The relay's CA certificate (ca.pem), if it runs its own.
    #[arg(long)]
    ca: Option<PathBuf>,
    /// Where to keep the credential (default ~/.config/lifeline/token,
    /// which `lifeline-viewer` reads when no --token is given).
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// One JSON object a line: `login_code` (uri, user_code), then
    /// `logged_in` (name, expires_in_s, token_file).
    #[arg(long)]
    json: bool,
}

/// The token file the credential goes to.
fn target(cli: &LoginCli) -> anyhow::Result<PathBuf> {
    if let Some(p) = &cli.token_file {
        return Ok(p.clone());
    }
    crate::token::default_path()
        .context("no configuration folder for the token file: give --token-file")
}

/// Runs `lifeline-viewer login`.
pub async fn run(cli: &LoginCli) -> anyhow::Result<ExitCode> {
    let file = target(cli)?;
    let started = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        lifeline_net::login::start(&cli.relay, cli.ca.as_deref()),
    )
    .await
    .map_err(|_| anyhow::anyhow!("{}", crate::words::SIGN_IN_NO_CODE))?
    .context("cannot reach the relay")?;
    let (code, pending) = match started {
        Ok(s) => s,
        Err(refusal) => bail!("{refusal}"),
    };
    if cli.json {
        println!(
            "{}",
            json!({"event": "login_code", "uri": code.uri, "uri_complete": code.uri_complete,
                   "user_code": code.user_code, "expires_in_s": code.expires_in_s})
        );
    } else {
        println!(
            "{}",
            crate::words::sign_in_at(&shown(&code.uri), &shown(&code.user_code))
        );
        if let Some(full) = &code.uri_complete {
            println!("{}", crate::words::sign_in_link(&shown(full)));
        }
        println!("{}", crate::words::sign_in_waiting(code.expires_in_s));
    }
    // The relay answers once the code expires at the latest; a relay
    // that never does is not waited for forever.
    let wait = std::time::Duration::from_secs(u64::from(code.expires_in_s.min(3600)) + 60);
    let finished = tokio::time::timeout(wait, pending.finish())
        .await
        .map_err(|_| anyhow::anyhow!("{}", crate::words::SIGN_IN_NO_ANSWER))?;
    let credential = match finished.context("lost the relay while waiting")? {
        Ok(c) => c,
        Err(refusal) => bail!("{refusal}"),
    };
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot make the folder {}", dir.display()))?;
    }
    lifeline_common::private::replace(&file, format!("{}\n", credential.token).as_bytes())
        .with_context(|| format!("cannot keep the credential in {}", file.display()))?;
    if cli.json {
        println!(
            "{}",
            json!({"event": "logged_in", "name": credential.name,
                   "expires_in_s": credential.expires_in_s, "token_file": file})
        );
    } else {
        println!(
            "{}",
            crate::words::signed_in(&shown(&credential.name), credential.expires_in_s, &file)
        );
    }
    Ok(ExitCode::SUCCESS)
}
