//! Hostile peers: a hostile paired peer or client against the relay's rules: mismatch reports, renew, resume, report caps (issue #28).
