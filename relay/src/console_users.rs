//! `lifeline-relay console-user …`: the web console's accounts, each
//! change audited first.

use std::process::ExitCode;

use clap::Subcommand;

use crate::DataDir;
use crate::audited::{LogAt, admin};

#[derive(Subcommand, Debug)]
pub(crate) enum ConsoleUserCmd {
    /// Add an account; prints a one-time password (the only line on
    /// stdout) that must be changed at the first login.
    Add {
        name: String,
        /// auditor: reads everything, downloads recordings; admin: also
        /// adds and revokes technicians and manages enrolled devices;
        /// approver: also approves device sessions that need a second
        /// person.
        #[arg(long, value_enum)]
        role: lifeline_console::users::Role,
        /// Also ask for a code from an authenticator app at every login
        /// (prints the otpauth:// URI to add to the app).
        #[arg(long)]
        totp: bool,
        #[command(flatten)]
        dir: DataDir,
    },
    /// List accounts (never their passwords).
    List {
        #[command(flatten)]
        dir: DataDir,
    },
    /// Remove an account; its open console sessions end at once.
    Remove {
        name: String,
        #[command(flatten)]
        dir: DataDir,
    },
    /// A new one-time password for an account (a forgotten password).
    Reset {
        name: String,
        #[command(flatten)]
        dir: DataDir,
    },
}

pub(crate) fn run(c: ConsoleUserCmd) -> anyhow::Result<ExitCode> {
    use lifeline_console::users::UserStore;
    match c {
        ConsoleUserCmd::Add {
            name,
            role,
            totp,
            dir,
        } => {
            let what = format!("{name} as {}", role.as_str());
            let e = admin(
                &LogAt::Dir(&dir.data_dir),
                "console-user add",
                &what,
                || Ok(UserStore::in_dir(&dir.data_dir).add(&name, role, totp)?),
            )?;
            println!("{}", e.password);
            eprintln!(
                "Console user {name:?} added as {}. Give them the password above privately: it works once, and the first login chooses a new one.",
                role.as_str()
            );
            if let Some(uri) = e.totp_uri {
                eprintln!(
                    "Second factor: add this to their authenticator app (or show it as a QR code):\n{uri}"
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        ConsoleUserCmd::List { dir } => {
            for u in UserStore::in_dir(&dir.data_dir).list()? {
                let totp = if u.totp.is_some() { "  with TOTP" } else { "" };
                let fresh = if u.must_change {
                    "  (one-time password not yet changed)"
                } else {
                    ""
                };
                println!(
                    "{:<24} {:<8} added {}{totp}{fresh}",
                    u.name,
                    u.role.as_str(),
                    u.created
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        ConsoleUserCmd::Remove { name, dir } => {
            admin(
                &LogAt::Dir(&dir.data_dir),
                "console-user remove",
                &name,
                || Ok(UserStore::in_dir(&dir.data_dir).remove(&name)?),
            )?;
            eprintln!(
                "Console user {name:?} removed; their console sessions end at their next click."
            );
            Ok(ExitCode::SUCCESS)
        }
        ConsoleUserCmd::Reset { name, dir } => {
            let p = admin(
                &LogAt::Dir(&dir.data_dir),
                "console-user reset",
                &name,
                || Ok(UserStore::in_dir(&dir.data_dir).reset(&name)?),
            )?;
            println!("{p}");
            eprintln!(
                "New one-time password for {name:?} above; their next login chooses a new one."
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
