//! Hostile peers: an anonymous client's memory on the relay: credit before pairing, per-address caps (issue #28, item 1).
