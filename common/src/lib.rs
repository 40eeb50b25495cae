//! QUIC plumbing shared by the relay and its peers: TLS and transport
//! configuration, UDP sockets with large buffers, length-prefixed message
//! streams over QUIC, the logging setup of the three binaries, who and
//! where a command runs, the user's folders, and (on Windows) the console
//! a windowed program prints to.
//!
//! It knows the control protocol's framing ([`lifeline_proto`]) but nothing
//! of what host and viewer say to each other: the relay links this crate,
//! and must never link the session codec or its cryptography.

pub mod console;
pub mod folders;
pub mod framed;
pub mod live_cert;
pub mod logging;
pub mod plain_udp;
pub mod private;
pub mod ticking_udp;
pub mod tls;
pub mod whoami;
