//! The relay's metrics and health over plain HTTP (`serve --metrics
//! ADDR`): `/metrics` (Prometheus' text format, the relay's
//! [`lifeline_relay_core::metrics`]), `/healthz` (the process answers) and
//! `/readyz` (ready for more: [`lifeline_relay_core::Relay::ready`], 503
//! with the reason when not). Plain HTTP for a scraper and a load
//! balancer on the operator's network, with the console's connection
//! limits: bind it to an internal address. It shows counts, never who.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use lifeline_relay_core::Relay;
use tokio::net::TcpListener;

/// What Prometheus reads the text format as.
const METRICS_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The three routes; anything else is 404.
pub fn router(relay: Arc<Relay>) -> axum::Router {
    axum::Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(relay)
}

/// Serves [`router`] on `listener` until `shutdown`.
pub async fn serve(listener: TcpListener, relay: Arc<Relay>, shutdown: impl Future<Output = ()>) {
    crate::serve::serve_plain(listener, router(relay), shutdown).await;
}

async fn metrics(State(relay): State<Arc<Relay>>) -> Response {
    ([(header::CONTENT_TYPE, METRICS_TYPE)], relay.metrics_text()).into_response()
}

async fn healthz() -> Response {
    (StatusCode::OK, "ok\n").into_response()
}

async fn readyz(State(relay): State<Arc<Relay>>) -> Response {
    match relay.ready().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        )
            .into_response(),
    }
}
