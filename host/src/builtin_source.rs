//! The Rust source `build.rs` writes for the relay and CA an organisation
//! builds into the host (`LIFELINE_RELAY`, `LIFELINE_CA`). Shared by the
//! build script and the library's tests, so what the build writes is
//! tested like any code.

/// Checks the values and returns the source defining `BUILTIN_RELAY` and
/// `BUILTIN_CA` (each `Option<&str>`), or why they cannot be built in.
pub fn source(relay: Option<&str>, ca_pem: Option<&str>) -> Result<String, String> {
    if let Some(r) = relay {
        let port = r.rsplit_once(':').map(|(_, p)| p.parse::<u16>());
        if !matches!(port, Some(Ok(p)) if p > 0) || r.starts_with(':') {
            return Err(format!(
                "LIFELINE_RELAY={r:?} is not HOST:PORT (e.g. relay.example.com:4433)"
            ));
        }
    }
    if let Some(pem) = ca_pem
        && !pem.contains("-----BEGIN CERTIFICATE-----")
    {
        return Err(
            "LIFELINE_CA names a file with no PEM certificate in it (the relay's ca.pem)".into(),
        );
    }
    Ok(format!(
        "/// The relay built in at build time (`LIFELINE_RELAY`).\npub const BUILTIN_RELAY: Option<&str> = {relay:?};\n/// The relay's CA built in at build time (`LIFELINE_CA`), PEM.\npub const BUILTIN_CA: Option<&str> = {ca_pem:?};\n"
    ))
}
