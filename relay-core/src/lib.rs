//! The Lifeline relay: pairs a waiting host with a technician's viewer by a
//! one-time code, then forwards their QUIC streams and datagrams blindly,
//! writing every step to a tamper-evident audit log.
//!
//! The pure decisions (codes, throttles, suspicion, resumes, what a
//! closed connection means, why a connection is refused) are in
//! [`rules`], sans-IO; [`server`] carries them out over QUIC.
//!
//! Tests drive [`server::run`] in-process with their own endpoint and
//! shutdown signal; the binary is a thin CLI around the same call.

pub mod approvals;
pub mod audit;
pub mod cluster;
pub mod devices;
pub mod export;
mod forward;
pub mod integrity;
pub mod metrics;
pub mod private;
pub mod recording;
pub mod report;
pub mod resume_store;
pub mod rules;
pub mod server;
pub mod signin;
pub mod spool;
pub mod store;
pub mod tokens;

pub use rules::refusal::Refusal;
/// The pure modules keep their old paths too.
pub use rules::{bridge, recovery, registry, resume, suspicion, throttle, waiting};
pub use server::{
    Direction, ForwardHook, H3_ALPN, NotReady, Relay, RelayConfig, RelayError, WebEntry, WebGate,
    WebTask, run, serve_devices,
};
