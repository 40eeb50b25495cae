//! Diagnostics for all three binaries: to stderr, filtered by
//! `LIFELINE_LOG` (tracing's env-filter syntax), else by `default`.

/// Installs the stderr logger; `default` applies when `LIFELINE_LOG` is unset.
pub fn init(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LIFELINE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
