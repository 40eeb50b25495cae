//! `lifeline-relay`: serve, manage technicians, auditors and console
//! accounts, read the audit log. Each command family is a module of its
//! own: [`serve`], [`technicians`], [`auditors`] (and recordings),
//! [`console_users`], [`audit_log`], [`cli_cluster`] (the `--database`
//! side), [`devices`] (enrollment tickets, the enrolled devices, the
//! organisation's revocation list); [`audited`] writes the record every
//! change is preceded by.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

mod audit_log;
mod audited;
mod auditors;
mod check;
mod cli_cluster;
mod console_users;
mod devices;
mod devices_port;
mod oidc_args;
mod receipt;
mod relay_cert;
mod serve;
mod technicians;
mod web;

use audit_log::Audit;
use auditors::{AuditorCmd, RecordingCmd};
use console_users::ConsoleUserCmd;
use technicians::Technician;

#[derive(Parser, Debug)]
#[command(
    name = "lifeline-relay",
    version,
    about = "Lifeline's relay: pairs hosts with technicians by one-time code, forwards what it cannot read, audits every session."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Debug, Clone)]
pub(crate) struct DataDir {
    /// Where the relay keeps its CA, certificate, technicians and audit log.
    #[arg(long, env = "LIFELINE_DATA_DIR", default_value_os_t = default_data_dir())]
    pub(crate) data_dir: PathBuf,
}

#[derive(Args, Debug, Clone)]
pub(crate) struct Database {
    /// A cluster's PostgreSQL (postgres://USER:PASSWORD@HOST/DB): its
    /// technicians and audit log instead of the data directory's.
    #[arg(long, env = "LIFELINE_DATABASE")]
    pub(crate) database: Option<String>,
}

fn default_data_dir() -> PathBuf {
    match std::env::var_os("HOME") {
        Some(home) => Path::new(&home).join(".local/share/lifeline-relay"),
        None => PathBuf::from("lifeline-relay-data"),
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the relay.
    Serve(Box<serve::Serve>),
    /// Check what `serve` with the same options would use: settings, data
    /// directory, certificates, audit log, database. Exit status 1 when a
    /// check fails.
    Check(Box<check::Check>),
    /// Manage technicians (who may join a code).
    #[command(subcommand)]
    Technician(Technician),
    /// Read and check the audit log.
    #[command(subcommand)]
    Audit(Audit),
    /// Manage the auditors whose keys open session recordings.
    #[command(subcommand)]
    Auditor(AuditorCmd),
    /// Session recordings.
    #[command(subcommand)]
    Recording(RecordingCmd),
    /// Enrollment tickets and enrolled devices (unattended access).
    #[command(subcommand)]
    Device(devices::DeviceCmd),
    /// Manage the web console's accounts (`serve --console`).
    #[command(subcommand, name = "console-user")]
    ConsoleUser(ConsoleUserCmd),
    /// Restart a relay of a cluster without cutting anyone off: it takes
    /// no new hosts, its waiting hosts move to other relays keeping their
    /// codes, and it exits when its last session ends.
    Drain {
        /// The relay to drain (its DIR/node-id); default: the one whose
        /// data directory this is.
        #[arg(long)]
        node: Option<String>,
        #[command(flatten)]
        dir: DataDir,
        /// The cluster's PostgreSQL (postgres://USER:PASSWORD@HOST/DB).
        #[arg(long, env = "LIFELINE_DATABASE", required = true)]
        database: String,
    },
}

fn main() -> ExitCode {
    lifeline_clidocs::write_if_asked(<Cli as clap::CommandFactory>::command);
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("lifeline-relay: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(s) => serve::serve(*s),
        Command::Check(c) => check::run(*c),
        Command::Technician(t) => technicians::run(t),
        Command::Audit(a) => audit_log::run(a),
        Command::Auditor(a) => auditors::run(a),
        Command::Recording(RecordingCmd::Fetch { session, out, dir }) => {
            auditors::fetch(&session, &out, &dir.data_dir)
        }
        Command::ConsoleUser(c) => console_users::run(c),
        Command::Device(d) => devices::run(d),
        Command::Drain {
            node,
            dir,
            database,
        } => {
            let node = match node {
                Some(n) => n,
                None => lifeline_relay_core::cluster::node_id_of(&dir.data_dir)?,
            };
            cli_cluster::drain(&database, &node)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
