//! Hostile peers: a hostile console visitor: long names, raced logins, slow clients, TOTP answers, and the exporter (issue #28).
