//! `lifeline-relay check`: what `serve` with the same options would use,
//! checked before it runs, for scripts and `ExecStartPre=`: the settings,
//! the data directory (writable), the certificates (valid for `--days`
//! more days), the audit log (its chain verifies) and, in a cluster, the
//! database (reachable). One line per check; exit status 1 when any fails.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use clap::Args;
use lifeline_certs::{RelayFiles, Validity};

use crate::relay_cert::Source;
use crate::serve::Serve;

#[derive(Args, Debug)]
pub(crate) struct Check {
    /// Fail when a certificate has fewer than this many days left.
    #[arg(long, default_value_t = 30)]
    days: u32,
    #[command(flatten)]
    serve: Serve,
}

/// One check's outcome: what was checked and found, or why it failed.
type Outcome = Result<String, String>;

pub(crate) fn run(c: Check) -> anyhow::Result<ExitCode> {
    let dir = c.serve.data_dir().to_owned();
    let min = Duration::from_secs(u64::from(c.days) * 24 * 3600);
    let mut outcomes = vec![
        crate::serve::config_of(&c.serve)
            .map(|_| "settings: valid".to_owned())
            .map_err(|e| format!("settings: {e:#}")),
        data_dir(&dir),
    ];
    outcomes.extend(certificates(&crate::serve::cert_source(&c.serve), min));
    outcomes.push(match c.serve.database() {
        Some(url) => crate::cli_cluster::check_log(url).map_err(|e| format!("{e:#}")),
        None => audit_log(&dir),
    });
    let failed = outcomes.iter().filter(|o| o.is_err()).count();
    for o in &outcomes {
        match o {
            Ok(what) => println!("ok      {what}"),
            Err(why) => println!("FAILED  {why}"),
        }
    }
    if failed == 0 {
        println!("All {} checks passed.", outcomes.len());
        Ok(ExitCode::SUCCESS)
    } else {
        println!("{failed} of {} checks failed.", outcomes.len());
        Ok(ExitCode::FAILURE)
    }
}

/// The data directory takes a new file; one that does not exist yet is
/// fine when the nearest folder above it that does would take it (serve
/// makes the rest).
fn data_dir(dir: &Path) -> Outcome {
    if dir.exists() && !dir.is_dir() {
        return Err(format!(
            "data directory {}: it is a file, not a folder",
            dir.display()
        ));
    }
    let mut at = dir;
    while !at.exists() {
        match at.parent() {
            Some(p) if !p.as_os_str().is_empty() => at = p,
            _ => {
                at = Path::new(".");
                break;
            }
        }
    }
    if !at.is_dir() {
        return Err(format!(
            "data directory {}: cannot be made, {} is a file",
            dir.display(),
            at.display()
        ));
    }
    let note = if at == dir {
        ""
    } else {
        " (not made yet: serve makes it)"
    };
    lifeline_relay_core::private::writable(at)
        .map(|()| format!("data directory {} is writable{note}", dir.display()))
        .map_err(|e| {
            format!(
                "data directory {}: cannot write in {} ({e})",
                dir.display(),
                at.display()
            )
        })
}

/// The certificate presented: the operator's (readable, the key its own,
/// `min` or more left), or the relay's own: its CA valid `min` or more,
/// the CA's key there (reissuing needs it), and its certificate and key a
/// usable pair (one that is due or expired passes, saying so: serve
/// reissues it).
fn certificates(source: &Source, min: Duration) -> Vec<Outcome> {
    let now = SystemTime::now();
    match source {
        Source::Files { cert, key } => vec![pair(cert, key, min, now, "certificate (--cert)")],
        Source::OwnCa { dir, .. } => {
            let f = RelayFiles::in_dir(dir);
            if !f.ca_cert.exists() {
                return vec![Ok(format!(
                    "certificates: none in {} yet (serve makes its CA and certificate)",
                    dir.display()
                ))];
            }
            let ca = lifeline_certs::load_certs(&f.ca_cert)
                .map_err(|e| e.to_string())
                .and_then(|c| left(&c[0], min, now, "the relay's CA", &f.ca_cert))
                .and_then(|ok| match f.ca_key.is_file() {
                    true => Ok(ok),
                    false => Err(lifeline_certs::CertError::NoCaKey(f.ca_key.clone()).to_string()),
                });
            let what = "the relay's certificate";
            let own = pair(&f.cert, &f.key, Duration::ZERO, now, what).or_else(|why| {
                match lifeline_certs::load_certs(&f.cert) {
                    Ok(c) if Validity::of(c[0].as_ref()).is_ok_and(|v| v.left(now).is_zero()) => {
                        Ok(format!(
                            "{what} ({}) has expired: serve reissues it from the CA",
                            f.cert.display()
                        ))
                    }
                    _ => Err(why),
                }
            });
            vec![ca, own]
        }
    }
}

/// A certificate and its key, used together.
fn pair(cert: &Path, key: &Path, min: Duration, now: SystemTime, what: &str) -> Outcome {
    let chain = lifeline_certs::load_certs(cert).map_err(|e| format!("{what}: {e}"))?;
    let k = lifeline_certs::load_key(key).map_err(|e| format!("{what}: {e}"))?;
    lifeline_common::tls::LiveCert::new(chain.clone(), k).map_err(|e| {
        format!(
            "{what}: {} and {} cannot be used together ({e})",
            cert.display(),
            key.display()
        )
    })?;
    left(&chain[0], min, now, what, cert)
}

fn left(der: &[u8], min: Duration, now: SystemTime, what: &str, path: &Path) -> Outcome {
    let v = Validity::of(der).map_err(|e| format!("{what} ({}): {e}", path.display()))?;
    let days = v.left(now).as_secs() / (24 * 3600);
    let until = humantime::format_rfc3339_seconds(v.not_after);
    if v.left(now).is_zero() {
        Err(format!("{what} ({}) expired at {until}", path.display()))
    } else if v.left(now) < min {
        Err(format!(
            "{what} ({}) has {days} days left (until {until}), under --days {}",
            path.display(),
            min.as_secs() / (24 * 3600)
        ))
    } else {
        Ok(format!(
            "{what} ({}) valid for {days} more days (until {until})",
            path.display()
        ))
    }
}

/// The data directory's audit log verifies (chain and recordings).
fn audit_log(dir: &Path) -> Outcome {
    let path = lifeline_relay_core::audit::log_path(dir);
    if !path.exists() {
        return Ok(format!("audit log: none at {} yet", path.display()));
    }
    let found = lifeline_relay_core::integrity::check(dir);
    if let Some(why) = found.chain {
        return Err(format!(
            "audit log ({}) failed verification: {why}",
            path.display()
        ));
    }
    if let Some(why) = found.bad_recordings.first() {
        return Err(format!("a recording failed verification: {why}"));
    }
    Ok(format!(
        "audit log ({}) verifies: {} records, {} recordings",
        path.display(),
        found.records,
        found.recordings
    ))
}
