//! What host and viewer say to each other end to end, over streams the
//! relay forwards without reading: screen images and the codec that turns
//! them into frame updates, scroll detection, JPEG pictures, the deflate
//! stream for small messages, the end-to-end key exchange and sealing, and
//! the host↔viewer messages; H.264 video for regions that keep moving.
//!
//! The relay must never run any of this, and does not link it: the crate
//! graph (`cargo tree -p lifeline-relay`) is the proof. Pure: no I/O, no
//! async runtime; every decoder returns a typed error and never panics.

pub mod e2e;
pub mod files;
pub mod messages;
pub mod motion;
pub mod photo;
pub mod picture;
pub mod recording;
pub mod screen;
pub mod squeeze;
pub mod video;
