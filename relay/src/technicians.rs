//! `lifeline-relay technician …`: add, list and revoke technicians, in
//! the data directory or a cluster's database, each change audited first.

use std::process::ExitCode;

use clap::Subcommand;
use lifeline_relay_core::tokens::TechnicianStore;

use crate::audited::{LogAt, admin};
use crate::cli_cluster;
use crate::{DataDir, Database};

#[derive(Subcommand, Debug)]
pub(crate) enum Technician {
    /// Add a technician; prints the token (the only line on stdout).
    Add {
        name: String,
        #[command(flatten)]
        dir: DataDir,
        #[command(flatten)]
        db: Database,
    },
    /// List technicians (never their tokens).
    List {
        #[command(flatten)]
        dir: DataDir,
        #[command(flatten)]
        db: Database,
        /// One JSON object a line.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a technician's token; applies to the next join at once.
    Revoke {
        name: String,
        #[command(flatten)]
        dir: DataDir,
        #[command(flatten)]
        db: Database,
    },
}

pub(crate) fn run(t: Technician) -> anyhow::Result<ExitCode> {
    match t {
        Technician::Add { name, dir, db } => {
            let log = LogAt::of(&dir, &db);
            let token = admin(&log, "technician add", &name, || match &db.database {
                Some(url) => cli_cluster::technician_add(url, &name),
                None => Ok(TechnicianStore::in_dir(&dir.data_dir).add(&name)?),
            })?;
            println!("{token}");
            eprintln!(
                "Technician {name:?} added. Give them this token privately; it is shown only once."
            );
            Ok(ExitCode::SUCCESS)
        }
        Technician::List { dir, db, json } => {
            let all = match &db.database {
                Some(url) => cli_cluster::technician_list(url)?,
                None => TechnicianStore::in_dir(&dir.data_dir).list()?,
            };
            let now = std::time::SystemTime::now();
            for t in all {
                let subject = t.identity.as_ref().map(|i| i.subject.as_str());
                if json {
                    let v = serde_json::json!({"name": t.name, "created": t.created, "revoked": t.revoked,
                        "expires": t.expires, "expired": t.expired(now), "subject": subject});
                    println!("{v}");
                } else {
                    let state = match (&t.revoked, &t.expires) {
                        (Some(r), _) => format!("revoked {r}"),
                        (None, Some(e)) if t.expired(now) => format!("expired {e}"),
                        (None, Some(e)) => format!("signed in, until {e}"),
                        (None, None) => "active".to_owned(),
                    };
                    let who = subject.map_or(String::new(), |s| format!("  subject {s}"));
                    println!("{:<24} added {}  {state}{who}", t.name, t.created);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Technician::Revoke { name, dir, db } => {
            let log = LogAt::of(&dir, &db);
            admin(&log, "technician revoke", &name, || match &db.database {
                Some(url) => cli_cluster::technician_revoke(url, &name),
                None => Ok(TechnicianStore::in_dir(&dir.data_dir).revoke(&name)?),
            })?;
            eprintln!("Technician {name:?} revoked; their next join is refused.");
            Ok(ExitCode::SUCCESS)
        }
    }
}
