//! Hostile peers: a hostile relay or technician against the host: guesses, stale consent, remote clicks on the host's own questions, file puts through links, fetch policy (issue #28).
