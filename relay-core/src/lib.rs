//! The Lifeline relay: pairs a waiting host with a technician's viewer by a
//! one-time code, then forwards their QUIC streams and datagrams blindly,
//! writing every step to a tamper-evident audit log.
//!
//! Tests drive [`server::run`] in-process with their own endpoint and
//! shutdown signal; the binary is a thin CLI around the same call.

pub mod audit;
pub mod bridge;
pub mod cluster;
pub mod export;
pub mod integrity;
pub mod private;
pub mod recording;
pub mod recovery;
pub mod registry;
pub mod report;
pub mod resume;
pub mod resume_store;
mod resuming;
pub mod server;
pub mod spool;
pub mod suspicion;
pub mod throttle;
pub mod tokens;
pub mod waiting;

pub use server::{Direction, ForwardHook, Relay, RelayConfig, RelayError, run};
