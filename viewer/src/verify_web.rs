//! `lifeline-viewer verify-web URL --sums SHA256SUMS`: checks that the
//! browser viewer a relay serves is, byte for byte, the page built from
//! the source (`scripts/web build` writes SHA256SUMS beside the files, and
//! the same commit and toolchain give the same bytes): a relay changed
//! to leak the code would serve other bytes. Fetches each listed file
//! over HTTPS (trusting `--ca`, else the system's roots) and names every
//! one that differs.
//! The native viewer is the choice for a relay you do not trust; this is
//! how a technician checks the page before typing a code into it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};

/// The most one page file may weigh (the WebAssembly is under 1 MiB).
const MAX_FILE: usize = 16 << 20;

/// `lifeline-viewer verify-web`.
#[derive(clap::Parser, Debug)]
#[command(
    name = "lifeline-viewer verify-web",
    about = "Check that the browser viewer a relay serves is the published page (SHA256SUMS)."
)]
pub struct VerifyCli {
    /// The page's address, e.g. https://relay.example.com:8444/
    url: String,
    /// The published hashes (`scripts/web build` writes target/web/SHA256SUMS).
    #[arg(long)]
    sums: PathBuf,
    /// The relay's CA (ca.pem), when its own CA signs the page's certificate.
    #[arg(long)]
    ca: Option<PathBuf>,
}

/// One line of SHA256SUMS: a hex SHA-256 and a file name.
fn parse_sums(text: &str, path: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let (hash, name) = line
            .split_once("  ")
            .with_context(|| format!("{}:{}: not `HASH  NAME`", path.display(), n + 1))?;
        let name_ok = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            && !name.starts_with('.');
        if hash.len() != 64 || !hash.chars().all(|c| c.is_ascii_hexdigit()) || !name_ok {
            bail!("{}:{}: not `HASH  NAME`", path.display(), n + 1);
        }
        out.push((hash.to_ascii_lowercase(), name.to_owned()));
    }
    if out.is_empty() {
        bail!("{} lists no files", path.display());
    }
    Ok(out)
}

/// `https://HOST[:PORT][/PATH]` as (host, port, path prefix ending in /).
fn split_url(url: &str) -> anyhow::Result<(String, u16, String)> {
    let rest = url
        .strip_prefix("https://")
        .context("the page's address starts with https://")?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => {
            (h.to_owned(), p.parse().context("a port is a number")?)
        }
        _ => (authority.to_owned(), 443),
    };
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let mut prefix = format!("/{path}");
    if !prefix.ends_with('/') {
        prefix.push('/');
    }
    Ok((host, port, prefix))
}

/// GETs `path` from `host:port` over HTTPS; the body of a 200.
fn get(
    config: &Arc<rustls::ClientConfig>,
    host: &str,
    port: u16,
    path: &str,
) -> anyhow::Result<Vec<u8>> {
    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
        .with_context(|| format!("{host} is not a host name"))?;
    let conn = rustls::ClientConnection::new(config.clone(), name)?;
    let tcp =
        TcpStream::connect((host, port)).with_context(|| format!("cannot reach {host}:{port}"))?;
    tcp.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    write!(
        tls,
        "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\nAccept-Encoding: identity\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    let read = (&mut tls)
        .take(MAX_FILE as u64 + 65_536)
        .read_to_end(&mut raw);
    // A peer that closes without close_notify has still sent a whole
    // answer when its length matches, checked below.
    if let Err(e) = read
        && raw.is_empty()
    {
        return Err(e).with_context(|| format!("reading {path}"));
    }
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .with_context(|| format!("{path}: no HTTP answer"))?;
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let body = raw[end + 4..].to_vec();
    let status = head.split_whitespace().nth(1).unwrap_or("?");
    if status != "200" {
        bail!("{path}: the server answered {status}");
    }
    let length = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse::<usize>().ok())?
    });
    match length {
        Some(n) if n != body.len() => bail!("{path}: {} of {n} bytes arrived", body.len()),
        _ => Ok(body),
    }
}

/// Runs the check: exit 0 when every file matches.
pub fn verify(cli: &VerifyCli) -> anyhow::Result<std::process::ExitCode> {
    let text = std::fs::read_to_string(&cli.sums)
        .with_context(|| format!("cannot read {}", cli.sums.display()))?;
    let sums = parse_sums(&text, &cli.sums)?;
    let (host, port, prefix) = split_url(&cli.url)?;
    let roots = lifeline_certs::client_roots(cli.ca.as_deref())?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let config = Arc::new(config);
    let mut bad = Vec::new();
    for (want, name) in &sums {
        let body = get(&config, &host, port, &format!("{prefix}{name}"))?;
        let got = hex::encode(Sha256::digest(&body));
        if &got != want {
            bad.push(name.clone());
        }
    }
    // The page's first file is also served at its folder's address.
    if sums.iter().any(|(_, n)| n == "index.html") {
        let body = get(&config, &host, port, &prefix)?;
        let index = sums.iter().find(|(_, n)| n == "index.html").map(|(h, _)| h);
        if Some(&hex::encode(Sha256::digest(&body))) != index {
            bad.push(format!("{prefix} (the page itself)"));
        }
    }
    if bad.is_empty() {
        println!(
            "The page at {} is the published one: {} files match {}.",
            cli.url,
            sums.len(),
            cli.sums.display()
        );
        Ok(std::process::ExitCode::SUCCESS)
    } else {
        eprintln!(
            "lifeline-viewer: the page at {} is NOT the published one: {} differ ({}). Do not type a code into it; use the native viewer.",
            cli.url,
            bad.len(),
            bad.join(", ")
        );
        Ok(std::process::ExitCode::from(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_split() {
        assert_eq!(
            split_url("https://relay.example.com:8444/").unwrap(),
            ("relay.example.com".into(), 8444, "/".into())
        );
        assert_eq!(
            split_url("https://127.0.0.1:9/web").unwrap(),
            ("127.0.0.1".into(), 9, "/web/".into())
        );
        assert_eq!(
            split_url("https://relay.example.com").unwrap(),
            ("relay.example.com".into(), 443, "/".into())
        );
        assert!(split_url("http://x/").is_err());
    }

    #[test]
    fn sums_name_plain_files_only() {
        let p = Path::new("SHA256SUMS");
        let h = "a".repeat(64);
        assert_eq!(
            parse_sums(&format!("{h}  viewer.js\n"), p).unwrap(),
            [(h.clone(), "viewer.js".into())]
        );
        assert!(parse_sums(&format!("{h}  ../etc/passwd\n"), p).is_err());
        assert!(parse_sums(&format!("{h}  a/b.js\n"), p).is_err());
        assert!(parse_sums("zz  viewer.js\n", p).is_err());
        assert!(parse_sums("", p).is_err());
    }
}
