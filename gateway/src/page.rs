//! The viewer page over HTTPS (`serve --web ADDR`): the files of
//! `scripts/web build`, read once at start and served from memory with a
//! strict Content-Security-Policy (scripts only from here, WebAssembly
//! allowed, connections only to this relay), and `/relay.json`, which
//! tells the page where the relay's WebTransport is and, with the relay's
//! own CA, the hash of the certificate it presents there.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use crate::bridge::WEBTRANSPORT_PATH;
use crate::cert::WebCert;

/// The file every page load starts from.
pub const INDEX: &str = "index.html";

/// Why the page cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error(
        "the browser viewer's files are not in {0}: build them with `scripts/web build`, or give --web-files DIR"
    )]
    NotBuilt(PathBuf),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One file of the page.
#[derive(Debug)]
struct File {
    bytes: Vec<u8>,
    kind: &'static str,
}

/// The page's files and what `/relay.json` says.
#[derive(Debug)]
pub struct Page {
    files: HashMap<String, File>,
    /// The relay's UDP port (WebTransport).
    quic_port: u16,
    cert: Arc<WebCert>,
}

/// The media type of a page file, by its name; other files are not served.
fn kind_of(name: &str) -> Option<&'static str> {
    Some(match name.rsplit_once('.')?.1 {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        _ => return None,
    })
}

impl Page {
    /// Reads the page's files from `dir` (its top level only).
    pub fn load(dir: &Path, quic_port: u16, cert: Arc<WebCert>) -> Result<Self, PageError> {
        if !dir.join(INDEX).is_file() {
            return Err(PageError::NotBuilt(dir.to_owned()));
        }
        let read_err = |path: &Path| {
            let path = path.to_owned();
            move |source| PageError::Read { path, source }
        };
        let mut files = HashMap::new();
        for entry in std::fs::read_dir(dir).map_err(read_err(dir))? {
            let entry = entry.map_err(read_err(dir))?;
            let path = entry.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let Some(kind) = kind_of(name) else {
                continue;
            };
            if !path.is_file() {
                continue;
            }
            let bytes = std::fs::read(&path).map_err(read_err(&path))?;
            files.insert(name.to_owned(), File { bytes, kind });
        }
        Ok(Self {
            files,
            quic_port,
            cert,
        })
    }

    /// Each file's SHA-256, by name (what `verify-web` compares).
    pub fn hashes(&self) -> Vec<(String, String)> {
        let mut all: Vec<_> = self
            .files
            .iter()
            .map(|(n, f)| (n.clone(), hex::encode(Sha256::digest(&f.bytes))))
            .collect();
        all.sort();
        all
    }

    /// The routes: `/`, `/relay.json`, and each file by its name.
    pub fn router(self: Arc<Self>) -> axum::Router {
        axum::Router::new()
            .route("/", get(index))
            .route("/relay.json", get(relay_json))
            .route("/{name}", get(file))
            .with_state(self)
    }

    fn respond(&self, name: &str, headers: &HeaderMap) -> Response {
        let Some(f) = self.files.get(name) else {
            return (StatusCode::NOT_FOUND, "no such file").into_response();
        };
        let mut r = f.bytes.clone().into_response();
        let h = r.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(f.kind));
        self.harden(h, headers);
        r
    }

    /// The headers every answer carries: scripts only from here (and
    /// WebAssembly), connections only here and to the relay's QUIC port
    /// on the host the page was loaded from, no framing, no sniffing.
    fn harden(&self, h: &mut HeaderMap, request: &HeaderMap) {
        let host = request
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .map(host_only)
            .filter(|h| {
                h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
            })
            .unwrap_or("localhost");
        let csp = format!(
            "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
             img-src 'self' data: blob:; connect-src 'self' https://{host}:{}; \
             base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            self.quic_port
        );
        if let Ok(v) = HeaderValue::from_str(&csp) {
            h.insert(header::CONTENT_SECURITY_POLICY, v);
        }
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        h.insert(
            "cross-origin-opener-policy",
            HeaderValue::from_static("same-origin"),
        );
    }
}

/// `HOST:PORT`, `[V6]:PORT` or `HOST` without the port.
fn host_only(host: &str) -> &str {
    if let Some(end) = host.strip_prefix('[').and_then(|h| h.find(']')) {
        return &host[..end + 2];
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

async fn index(State(page): State<Arc<Page>>, headers: HeaderMap) -> Response {
    page.respond(INDEX, &headers)
}

async fn file(
    State(page): State<Arc<Page>>,
    UrlPath(name): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    page.respond(&name, &headers)
}

async fn relay_json(State(page): State<Arc<Page>>, headers: HeaderMap) -> Response {
    let body = serde_json::json!({
        "webtransport": {
            "port": page.quic_port,
            "path": WEBTRANSPORT_PATH,
            "hashes": page.cert.hashes(),
        }
    });
    let mut r = body.to_string().into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    page.harden(h, &headers);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_lose_their_port() {
        assert_eq!(host_only("relay.example:8443"), "relay.example");
        assert_eq!(host_only("[::1]:8443"), "[::1]");
        assert_eq!(host_only("relay.example"), "relay.example");
    }

    #[test]
    fn only_page_files_are_served() {
        assert_eq!(kind_of("viewer.js"), Some("text/javascript; charset=utf-8"));
        assert_eq!(kind_of("x.wasm"), Some("application/wasm"));
        assert_eq!(kind_of("secret.pem"), None);
        assert_eq!(kind_of("noext"), None);
    }
}
