-- Lifeline relay cluster: the state several relays share.
-- Applied once by the first relay (or command) that connects, in one
-- transaction, recorded in lifeline_migrations.

-- Each running relay: where others reach it and how loaded it is. A row
-- whose heartbeat (seen) is older than the node timeout is deleted by any
-- other relay, which then releases that relay's waiting codes.
CREATE TABLE nodes (
    id        text PRIMARY KEY,
    addr      text NOT NULL,          -- where hosts and viewers reach it
    link_addr text NOT NULL,          -- where other relays reach it
    waiting   integer NOT NULL DEFAULT 0,
    connections integer NOT NULL DEFAULT 0,
    draining  boolean NOT NULL DEFAULT false,
    started   timestamptz NOT NULL DEFAULT now(),
    seen      timestamptz NOT NULL DEFAULT now()
);

-- Live codes and their tombstones, cluster-wide. One-time use is this
-- table's: a join wins a code by moving it from 'waiting' to 'used' in one
-- UPDATE, which only one transaction can do.
CREATE TABLE codes (
    locator  integer PRIMARY KEY CHECK (locator >= 0 AND locator < 100000),
    session  text NOT NULL,
    node     text NOT NULL,
    state    text NOT NULL CHECK (state IN ('waiting', 'used', 'expired', 'withdrawn')),
    expires  timestamptz NOT NULL,
    changed  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX codes_waiting_by_node ON codes (node) WHERE state = 'waiting';
CREATE INDEX codes_tombstones_by_age ON codes (changed) WHERE state <> 'waiting';

-- Sessions running (or parked) on each relay, so that when one dies
-- another writes their end records: the log never shows a session open
-- that no relay holds.
CREATE TABLE sessions (
    session  text PRIMARY KEY,
    node     text NOT NULL,
    started  timestamptz NOT NULL DEFAULT now()
);

-- Technicians: the SHA-256 of each token, never the token.
CREATE TABLE technicians (
    id            bigserial PRIMARY KEY,
    name          text NOT NULL,
    token_sha256  text NOT NULL UNIQUE,
    created       text NOT NULL,
    revoked       text
);
CREATE UNIQUE INDEX technicians_live_name ON technicians (name) WHERE revoked IS NULL;

-- The audit log: the same lines as audit.jsonl, one hash chain for the
-- cluster. A writer locks the head row, seals its records after it and
-- moves it, in one transaction.
CREATE TABLE audit (
    seq   bigint PRIMARY KEY,
    line  text NOT NULL
);
CREATE TABLE audit_head (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    seq      bigint NOT NULL,
    hash     text NOT NULL
);

-- The cluster's CA, which signs each relay's link certificate at start.
CREATE TABLE cluster_ca (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    cert_pem text NOT NULL,
    key_pem  text NOT NULL
);
