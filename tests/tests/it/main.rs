//! Lifeline's one integration-test binary. Each module proves one
//! capability against real parts: a real QUIC relay on loopback, the real
//! binaries, and (for host and viewer) a real X server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod browser;
mod browser_video;
mod certificates;
mod check;
mod cluster;
mod console;
mod device_approvals;
mod device_sessions;
mod diskfull;
mod e2e;
mod export;
mod hidden;
mod host;
mod hostile_console;
mod hostile_device_relay;
mod hostile_held;
mod hostile_host;
mod hostile_relay_memory;
mod hostile_relay_rules;
mod hostile_viewer;
mod hostile_web;
mod link;
mod logs;
mod operations;
mod packages;
mod portal;
mod reason;
mod receipt;
mod recording;
mod relay;
mod resume;
mod session;
mod soak;
mod tidy;
mod toolkit;
mod unattended;
mod video;
mod viewer;
mod vnc;
mod wayland;
mod window;
mod windows;
mod windows_msi;
