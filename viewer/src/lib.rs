//! The technician's side of Lifeline: one client library ([`session`]) that
//! joins a code, runs the end-to-end key exchange, keeps a decoded copy of
//! the remote screen and sends input; the window and the headless scripted
//! mode ([`script`]) are both thin layers over it. [`play`] opens a
//! session recording with an auditor's key; [`player`] is its window;
//! [`login`] signs a technician in with the relay's identity provider.

pub mod core;
pub mod devices;
pub mod fetched;
pub mod files;
pub mod login;
pub mod monitors;
pub mod org;
pub mod pins;
pub mod play;
pub mod player;
pub mod script;
pub mod session;
pub mod shown;
pub mod token;
pub mod verify_web;
pub mod window;
pub mod words;
