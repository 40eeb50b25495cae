//! `serve --web ADDR`: the browser viewer. The page over HTTPS on ADDR
//! (with the relay's certificate), and browsers' WebTransport on the
//! relay's own UDP port, carried to the engine by the gate
//! (`lifeline-gateway`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use lifeline_gateway::{Page, WebCert};

/// Where the page's files are: `--web-files`, else `LIFELINE_WEB_FILES`,
/// else beside the binary (`target/web` for `target/debug/lifeline-relay`,
/// as `scripts/web build` leaves them), else the system's share folder.
pub(crate) fn files_dir(arg: Option<&Path>) -> PathBuf {
    if let Some(dir) = arg {
        return dir.to_owned();
    }
    if let Some(dir) = std::env::var_os("LIFELINE_WEB_FILES") {
        return dir.into();
    }
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_owned));
    let beside = exe_dir
        .iter()
        .flat_map(|d| [d.join("../web"), d.join("web")])
        .chain([PathBuf::from("/usr/share/lifeline/web")]);
    let mut candidates = beside.peekable();
    let first = candidates.peek().cloned();
    candidates
        .find(|d| d.join(lifeline_gateway::page::INDEX).is_file())
        .or(first)
        .unwrap_or_else(|| PathBuf::from("web"))
}

/// The certificate browsers' WebTransport gets: the operator's, or one
/// known by its hash for the relay's names.
pub(crate) fn cert(
    operator: Option<&lifeline_common::tls::LiveCert>,
    names: Vec<String>,
) -> anyhow::Result<Arc<WebCert>> {
    let cert = match operator {
        Some(live) => WebCert::operator(live),
        None => WebCert::hashed(names)?,
    };
    Ok(Arc::new(cert))
}

/// Serves the page on `addr` until `stop`.
pub(crate) async fn start(
    addr: SocketAddr,
    page: Page,
    tls: Arc<rustls::ServerConfig>,
    stop: tokio_util::sync::CancellationToken,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on TCP {addr} for the browser viewer"))?;
    let at = listener.local_addr()?;
    println!("Browser viewer: https://{at}/");
    tokio::spawn(lifeline_console::serve_router(
        listener,
        tls,
        Arc::new(page).router(),
        async move { stop.cancelled().await },
    ));
    Ok(())
}
