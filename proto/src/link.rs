//! What one relay of a cluster asks another on a relay-to-relay link.
//!
//! A viewer that joins through relay B a code whose host waits on relay A
//! is carried over a link: B opens a QUIC connection to A (mutual TLS,
//! both certificates signed by the cluster's CA, ALPN [`LINK_ALPN`]),
//! sends one [`LinkRequest`] on its first bidirectional stream, and from
//! then on that stream is the viewer's control stream and every further
//! stream and datagram is the viewer's, forwarded by B unread. A acts as
//! if the viewer had joined it directly. Variant order is wire format.

use serde::{Deserialize, Serialize};

use crate::code::Locator;
use crate::control::{ResumeRequest, Role};

/// ALPN of the relay-to-relay link; a client or host cannot speak it.
pub const LINK_ALPN: &[u8] = b"lifeline-link/1";

/// The first (and only) request on a link connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LinkRequest {
    /// B checked the token and won the code in the cluster's database;
    /// A hands the viewer to the host waiting under `locator`.
    Join {
        /// The session the database holds for the code, which the host
        /// waiting on A must still be.
        session: String,
        locator: Locator,
        technician: String,
        /// The viewer's address as B saw it, for the audit log.
        viewer_ip: String,
        /// SHA-256 of the token, for counting the technician's failures.
        token_key: String,
    },
    /// A host or viewer asked B to resume a session that runs (or is
    /// parked) on A: A takes the link connection for that side's own.
    Resume {
        role: Role,
        /// The side's address as B saw it, for throttling and the log.
        ip: String,
        request: ResumeRequest,
    },
    /// A viewer asked B to resume a session that runs (or is parked) on
    /// A, with its token: B sends the token's SHA-256, which A checks
    /// against the technician who joined.
    ResumeViewer {
        /// The viewer's address as B saw it, for throttling and the log.
        ip: String,
        request: ResumeRequest,
        /// SHA-256 of the token the viewer presented, hex.
        token_key: String,
    },
    /// [`LinkRequest::Join`] of a viewer that gave a reason (A tells its
    /// host, and audits it with the session).
    JoinFor {
        session: String,
        locator: Locator,
        technician: String,
        viewer_ip: String,
        token_key: String,
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::tests::pin;

    #[test]
    fn link_resume_is_pinned() {
        pin(
            LinkRequest::Resume {
                role: Role::Viewer,
                ip: "10.0.0.2".into(),
                request: ResumeRequest {
                    session: "s1".into(),
                    secret: [7; 32],
                },
            },
            "0000002e01010831302e302e302e320273310707070707070707070707070707070707070707070707070707070707070707",
        );
    }

    #[test]
    fn link_resume_viewer_is_pinned() {
        pin(
            LinkRequest::ResumeViewer {
                ip: "10.0.0.2".into(),
                request: ResumeRequest {
                    session: "s1".into(),
                    secret: [7; 32],
                },
                token_key: "ab".into(),
            },
            &format!(
                "00000030020831302e302e302e32027331{}026162",
                "07".repeat(32)
            ),
        );
    }

    #[test]
    fn link_join_is_pinned() {
        pin(
            LinkRequest::Join {
                session: "s1".into(),
                locator: Locator::new(12345).unwrap(),
                technician: "alice".into(),
                viewer_ip: "10.0.0.2".into(),
                token_key: "ab".into(),
            },
            "0000001800027331b96005616c6963650831302e302e302e32026162",
        );
    }

    #[test]
    fn link_join_for_is_pinned() {
        pin(
            LinkRequest::JoinFor {
                session: "s1".into(),
                locator: Locator::new(12345).unwrap(),
                technician: "alice".into(),
                viewer_ip: "10.0.0.2".into(),
                token_key: "ab".into(),
                reason: "r".into(),
            },
            "0000001a03027331b96005616c6963650831302e302e302e320261620172",
        );
    }
}
