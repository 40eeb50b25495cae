//! Hostile peers: a hostile host against the technician's viewer: terminal control sequences, token files; and the audit log's head (issue #28).
