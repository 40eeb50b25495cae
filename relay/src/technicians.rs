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
            for t in all {
                if json {
                    let v = serde_json::json!({"name": t.name, "created": t.created, "revoked": t.revoked});
                    println!("{v}");
                } else {
                    let state = t
                        .revoked
                        .map_or("active".to_owned(), |r| format!("revoked {r}"));
                    println!("{:<24} added {}  {state}", t.name, t.created);
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
