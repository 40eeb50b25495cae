//! The cluster's shared state in PostgreSQL: the schema's migrations, live
//! codes, technicians, the relays themselves (nodes) and the cluster's CA.
//!
//! Every rule that must hold across relays is one SQL statement, so the
//! database enforces it, not one process's memory: a code moves from
//! `waiting` to `used` once; a locator is not handed out again while it is
//! live or its tombstone lasts; a dead relay's codes are released by
//! whichever relay deletes its row.

use std::sync::Arc;
use std::time::Duration;

use lifeline_proto::Locator;
use lifeline_proto::audit::GENESIS;
use lifeline_proto::control::JoinRefusal;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Row};

use crate::rules::registry::Gone;
use crate::tokens::{Lookup, Technician};

/// The migrations in order; a database records which it has applied.
const MIGRATIONS: &[(i32, &str)] = &[(1, include_str!("../../migrations/0001_cluster.sql"))];

/// Any number will do, as long as only Lifeline uses it: migrations take
/// this advisory lock so two relays starting at once apply them once.
const MIGRATION_LOCK: i64 = 0x6c69_6665_6c69_6e65;

/// Errors of the shared state.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot reach the database {url}: {source}")]
    Connect {
        url: String,
        source: tokio_postgres::Error,
    },
    #[error("database: {0}")]
    Query(#[from] tokio_postgres::Error),
    #[error(
        "the database's schema is at version {found}, newer than this relay's ({known}); upgrade the relay"
    )]
    TooNew { found: i32, known: i32 },
    #[error("the database holds {0}")]
    Bad(String),
}

/// The URL with its password (if any) replaced, fit for logs and errors.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        // The key=value form: every password=… word goes.
        return url
            .split(' ')
            .map(|w| match w.split_once('=') {
                Some(("password", _)) => "password=***",
                _ => w,
            })
            .collect::<Vec<_>>()
            .join(" ");
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

/// Opens one connection; its driver runs as a task of its own and ends
/// when the connection does (the client then reports itself closed).
pub async fn connect(url: &str) -> Result<Client, DbError> {
    let (client, conn) = tokio_postgres::connect(url, NoTls)
        .await
        .map_err(|source| DbError::Connect {
            url: redact(url),
            source,
        })?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "database connection ended");
        }
    });
    Ok(client)
}

/// A shared connection to the cluster's database, opened again when lost.
#[derive(Debug)]
pub struct Db {
    url: String,
    client: tokio::sync::Mutex<Option<Arc<Client>>>,
}

/// How a join fared against the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This join won the code: the session and the relay its host waits on.
    Won { session: String, node: String },
    /// Refused, with the session the locator belonged to, when known.
    Refused(JoinRefusal, Option<String>),
}

/// What a dead relay held, taken back by another.
#[derive(Debug, Default)]
pub struct Released {
    /// Waiting codes: (session, relay).
    pub codes: Vec<(String, String)>,
    pub sessions: Vec<Orphan>,
}

/// A session a dead relay held.
#[derive(Debug)]
pub struct Orphan {
    pub session: String,
    pub node: String,
    pub ran_ms: u64,
}

/// A released code's (session, relay).
fn code_of(row: &Row) -> Result<(String, String), DbError> {
    Ok((row.try_get(0)?, row.try_get(1)?))
}

/// The locator in a row's first column.
fn locator_of(row: &Row) -> Result<Locator, DbError> {
    let loc: i32 = row.try_get(0)?;
    u32::try_from(loc)
        .ok()
        .and_then(Locator::new)
        .ok_or_else(|| DbError::Bad(format!("locator {loc}")))
}

fn orphan(r: &Row) -> Result<Orphan, DbError> {
    let ms: i64 = r.try_get(2)?;
    Ok(Orphan {
        session: r.try_get(0)?,
        node: r.try_get(1)?,
        ran_ms: u64::try_from(ms).unwrap_or(0),
    })
}

fn state_of(why: Gone) -> &'static str {
    match why {
        Gone::Used => "used",
        Gone::Expired => "expired",
        Gone::Withdrawn => "withdrawn",
    }
}

impl Db {
    /// Connects, brings the schema up to date and makes sure the audit
    /// chain has its head row.
    pub async fn open(url: &str) -> Result<Arc<Self>, DbError> {
        let mut client = connect(url).await?;
        migrate(&mut client).await?;
        client
            .execute(
                "INSERT INTO audit_head (only_row, seq, hash) VALUES (true, 0, $1) \
                 ON CONFLICT (only_row) DO NOTHING",
                &[&GENESIS],
            )
            .await?;
        Ok(Arc::new(Self {
            url: url.to_owned(),
            client: tokio::sync::Mutex::new(Some(Arc::new(client))),
        }))
    }

    /// The database's URL (with its password).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The shared client, reconnecting if the last one was lost.
    pub async fn client(&self) -> Result<Arc<Client>, DbError> {
        let mut slot = self.client.lock().await;
        if let Some(c) = slot.as_ref().filter(|c| !c.is_closed()) {
            return Ok(c.clone());
        }
        let c = Arc::new(connect(&self.url).await?);
        *slot = Some(c.clone());
        Ok(c)
    }

    /// Runs one statement on the shared client; rows changed.
    async fn exec(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, DbError> {
        Ok(self.client().await?.execute(sql, params).await?)
    }

    /// One statement's row, if any.
    async fn opt(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Option<Row>, DbError> {
        Ok(self.client().await?.query_opt(sql, params).await?)
    }

    /// One statement's rows.
    async fn all(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, DbError> {
        Ok(self.client().await?.query(sql, params).await?)
    }

    /// Files a new live code under `locator` unless the locator is live or
    /// its tombstone (younger than `tombstone`) still stands anywhere in
    /// the cluster. `false`: taken, draw another.
    pub async fn insert_code(
        &self,
        locator: Locator,
        session: &str,
        node: &str,
        ttl: Duration,
        tombstone: Duration,
    ) -> Result<bool, DbError> {
        let n = self
            .exec(
                "INSERT INTO codes (locator, session, node, state, expires, changed) \
                 VALUES ($1, $2, $3, 'waiting', now() + make_interval(secs => $4), now()) \
                 ON CONFLICT (locator) DO UPDATE SET session = EXCLUDED.session, \
                   node = EXCLUDED.node, state = 'waiting', expires = EXCLUDED.expires, \
                   changed = now() \
                 WHERE codes.state <> 'waiting' \
                   AND codes.changed < now() - make_interval(secs => $5)",
                &[
                    &(u32::from(locator) as i32),
                    &session,
                    &node,
                    &ttl.as_secs_f64(),
                    &tombstone.as_secs_f64(),
                ],
            )
            .await?;
        Ok(n == 1)
    }

    /// When random draws keep hitting live codes and young tombstones (the
    /// cluster issues codes faster than tombstones age out), the oldest
    /// tombstone gives way, as one relay's registry lets its oldest go.
    /// `None`: every locator is live.
    pub async fn recycle_oldest(
        &self,
        session: &str,
        node: &str,
        ttl: Duration,
    ) -> Result<Option<Locator>, DbError> {
        let row = self
            .opt(
                "UPDATE codes SET session = $1, node = $2, state = 'waiting', \
                   expires = now() + make_interval(secs => $3), changed = now() \
                 WHERE locator = (SELECT locator FROM codes WHERE state <> 'waiting' \
                                  ORDER BY changed LIMIT 1 FOR UPDATE SKIP LOCKED) \
                   AND state <> 'waiting' \
                 RETURNING locator",
                &[&session, &node, &ttl.as_secs_f64()],
            )
            .await?;
        row.as_ref().map(locator_of).transpose()
    }

    /// Files a code under a locator nobody holds, found by the database
    /// (when random draws keep missing because nearly every locator is
    /// live). `None`: none is free.
    pub async fn insert_free(
        &self,
        session: &str,
        node: &str,
        ttl: Duration,
    ) -> Result<Option<Locator>, DbError> {
        let row = self
            .opt(
                "INSERT INTO codes (locator, session, node, state, expires, changed) \
                 SELECT n, $1, $2, 'waiting', now() + make_interval(secs => $3), now() \
                 FROM generate_series(0, 99999) n \
                 WHERE NOT EXISTS (SELECT 1 FROM codes c WHERE c.locator = n) \
                 ORDER BY random() LIMIT 1 \
                 ON CONFLICT (locator) DO NOTHING \
                 RETURNING locator",
                &[&session, &node, &ttl.as_secs_f64()],
            )
            .await?;
        row.as_ref().map(locator_of).transpose()
    }

    /// A viewer joins `locator`: the one statement that lets one join, in
    /// the whole cluster, win a waiting code.
    pub async fn claim(&self, locator: Locator) -> Result<Claim, DbError> {
        let client = self.client().await?;
        let loc = u32::from(locator) as i32;
        let won = client
            .query_opt(
                "UPDATE codes SET state = 'used', changed = now() \
                 WHERE locator = $1 AND state = 'waiting' AND expires > now() \
                 RETURNING session, node",
                &[&loc],
            )
            .await?;
        if let Some(row) = won {
            return Ok(Claim::Won {
                session: row.try_get(0)?,
                node: row.try_get(1)?,
            });
        }
        let row = client
            .query_opt(
                "SELECT session, state, expires <= now() FROM codes WHERE locator = $1",
                &[&loc],
            )
            .await?;
        let Some(row) = row else {
            return Ok(Claim::Refused(JoinRefusal::UnknownCode, None));
        };
        let session: String = row.try_get(0)?;
        let state: String = row.try_get(1)?;
        let past: bool = row.try_get(2)?;
        Ok(match state.as_str() {
            "used" => Claim::Refused(JoinRefusal::UsedCode, Some(session)),
            "expired" => Claim::Refused(JoinRefusal::ExpiredCode, Some(session)),
            "waiting" if past => Claim::Refused(JoinRefusal::ExpiredCode, Some(session)),
            _ => Claim::Refused(JoinRefusal::UnknownCode, None),
        })
    }

    /// Moves a live, unused code of `session` to relay `node` (its host
    /// moved there from a draining relay); how long it has left, or `None`
    /// when it is no longer waiting.
    pub async fn move_code(
        &self,
        locator: Locator,
        session: &str,
        node: &str,
    ) -> Result<Option<Duration>, DbError> {
        let row = self
            .opt(
                "UPDATE codes SET node = $3, changed = now() \
                 WHERE locator = $1 AND session = $2 AND state = 'waiting' AND expires > now() \
                 RETURNING extract(epoch FROM expires - now())::float8",
                &[&(u32::from(locator) as i32), &session, &node],
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        let left: f64 = row.try_get(0)?;
        Ok(Some(Duration::from_secs_f64(left.max(0.0))))
    }

    /// Where hosts reach the least loaded other live relay that is not
    /// draining, if any.
    pub async fn move_target(
        &self,
        me: &str,
        timeout: Duration,
    ) -> Result<Option<String>, DbError> {
        let row = self
            .opt(
                "SELECT addr FROM nodes WHERE id <> $1 AND NOT draining \
                   AND seen > now() - make_interval(secs => $2) \
                 ORDER BY waiting + connections, random() LIMIT 1",
                &[&me, &timeout.as_secs_f64()],
            )
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// Ends a live code of `session` (expiry, renewal, host gone). `false`
    /// when it was not waiting any more: a join won it first, or the code
    /// was released as a dead relay's.
    pub async fn close_code(
        &self,
        locator: Locator,
        session: &str,
        why: Gone,
    ) -> Result<bool, DbError> {
        let n = self
            .exec(
                "UPDATE codes SET state = $3, changed = now() \
                 WHERE locator = $1 AND session = $2 AND state = 'waiting'",
                &[&(u32::from(locator) as i32), &session, &state_of(why)],
            )
            .await?;
        Ok(n == 1)
    }

    /// What a presented token is.
    pub async fn lookup(&self, token_sha256: &str) -> Result<Lookup, DbError> {
        let row = self
            .opt(
                "SELECT name, revoked IS NOT NULL FROM technicians WHERE token_sha256 = $1",
                &[&token_sha256],
            )
            .await?;
        Ok(match row {
            None => Lookup::Unknown,
            Some(r) if r.try_get::<_, bool>(1)? => Lookup::Revoked(r.try_get(0)?),
            Some(r) => Lookup::Valid(r.try_get(0)?),
        })
    }

    /// Every technician, in the order they were added.
    pub async fn technicians(&self) -> Result<Vec<Technician>, DbError> {
        let rows = self
            .all(
                "SELECT name, token_sha256, created, revoked FROM technicians ORDER BY id",
                &[],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Technician {
                    name: r.try_get(0)?,
                    token_sha256: r.try_get(1)?,
                    created: r.try_get(2)?,
                    revoked: r.try_get(3)?,
                    expires: None,
                    identity: None,
                })
            })
            .collect()
    }

    /// Adds a technician; `false` when a live one has that name.
    pub async fn add_technician(&self, t: &Technician) -> Result<bool, DbError> {
        let n = self
            .exec(
                "INSERT INTO technicians (name, token_sha256, created) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
                &[&t.name, &t.token_sha256, &t.created],
            )
            .await?;
        Ok(n == 1)
    }

    /// Revokes every live token of `name`; `false` when it has none.
    pub async fn revoke_technician(&self, name: &str, when: &str) -> Result<bool, DbError> {
        let n = self
            .exec(
                "UPDATE technicians SET revoked = $2 WHERE name = $1 AND revoked IS NULL",
                &[&name, &when],
            )
            .await?;
        Ok(n > 0)
    }

    /// Files this relay (again): where to reach it, not draining, seen now.
    pub async fn register_node(&self, id: &str, addr: &str, link: &str) -> Result<(), DbError> {
        self.exec(
            "INSERT INTO nodes (id, addr, link_addr) VALUES ($1, $2, $3) \
                 ON CONFLICT (id) DO UPDATE SET addr = $2, link_addr = $3, waiting = 0, \
                   connections = 0, draining = false, started = now(), seen = now()",
            &[&id, &addr, &link],
        )
        .await?;
        Ok(())
    }

    /// The heartbeat with this relay's load. `None` when its row is gone
    /// (another relay took it for dead); else whether it is told to drain.
    pub async fn heartbeat(
        &self,
        id: &str,
        waiting: usize,
        connections: usize,
    ) -> Result<Option<bool>, DbError> {
        let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
        let row = self
            .opt(
                "UPDATE nodes SET seen = now(), waiting = $2, connections = $3 WHERE id = $1 \
                 RETURNING draining",
                &[&id, &count(waiting), &count(connections)],
            )
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// Removes relays silent for longer than `timeout`, then releases
    /// what every relay no longer listed held. One relay gets each.
    pub async fn sweep(&self, timeout: Duration) -> Result<Released, DbError> {
        let dead = self
            .exec(
                "DELETE FROM nodes WHERE seen < now() - make_interval(secs => $1)",
                &[&timeout.as_secs_f64()],
            )
            .await?;
        if dead == 0 {
            return Ok(Released::default());
        }
        self.release_orphans().await
    }

    /// Releases the waiting codes, and takes back the sessions, of relays
    /// no longer listed.
    pub async fn release_orphans(&self) -> Result<Released, DbError> {
        let client = self.client().await?;
        let codes = client
            .query(
                "UPDATE codes SET state = 'withdrawn', changed = now() \
                 WHERE state = 'waiting' \
                   AND NOT EXISTS (SELECT 1 FROM nodes WHERE nodes.id = codes.node) \
                 RETURNING session, node",
                &[],
            )
            .await?;
        let sessions = client
            .query(
                "DELETE FROM sessions \
                 WHERE NOT EXISTS (SELECT 1 FROM nodes WHERE nodes.id = sessions.node) \
                 RETURNING session, node, (extract(epoch FROM now() - started) * 1000)::bigint",
                &[],
            )
            .await?;
        Ok(Released {
            codes: codes.iter().map(code_of).collect::<Result<_, DbError>>()?,
            sessions: sessions
                .iter()
                .map(orphan)
                .collect::<Result<_, DbError>>()?,
        })
    }

    /// Takes back the sessions relay `node`'s last run left, except those
    /// it may still resume (`keep`).
    pub async fn own_sessions(&self, node: &str, keep: &[String]) -> Result<Vec<Orphan>, DbError> {
        let rows = self
            .all(
                "DELETE FROM sessions WHERE node = $1 AND NOT (session = ANY($2)) \
                 RETURNING session, node, (extract(epoch FROM now() - started) * 1000)::bigint",
                &[&node, &keep],
            )
            .await?;
        rows.iter().map(orphan).collect()
    }

    /// A session began on relay `node`.
    pub async fn session_started(&self, session: &str, node: &str) -> Result<(), DbError> {
        self.exec(
            "INSERT INTO sessions (session, node) VALUES ($1, $2) \
                 ON CONFLICT (session) DO UPDATE SET node = $2",
            &[&session, &node],
        )
        .await?;
        Ok(())
    }

    /// The relay a session runs (or is parked) on, if any.
    pub async fn session_node(&self, session: &str) -> Result<Option<String>, DbError> {
        let row = self
            .opt("SELECT node FROM sessions WHERE session = $1", &[&session])
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// A session's end record is written.
    pub async fn session_ended(&self, session: &str) -> Result<(), DbError> {
        self.exec("DELETE FROM sessions WHERE session = $1", &[&session])
            .await?;
        Ok(())
    }

    /// Releases the codes still filed under relay `node` (its last run's,
    /// whose hosts' connections died with it, or at a clean stop); returns
    /// their (session, relay).
    pub async fn release_own(&self, node: &str) -> Result<Vec<(String, String)>, DbError> {
        let rows = self
            .all(
                "UPDATE codes SET state = 'withdrawn', changed = now() \
                 WHERE state = 'waiting' AND node = $1 RETURNING session, node",
                &[&node],
            )
            .await?;
        rows.iter().map(code_of).collect()
    }

    /// Takes this relay off the list at a clean stop (its codes were
    /// withdrawn one by one as its hosts were told it stops).
    pub async fn remove_node(&self, id: &str) -> Result<(), DbError> {
        self.exec("DELETE FROM nodes WHERE id = $1", &[&id]).await?;
        Ok(())
    }

    /// Where other relays reach relay `node`, if it is alive.
    pub async fn link_addr(&self, node: &str) -> Result<Option<String>, DbError> {
        let row = self
            .opt("SELECT link_addr FROM nodes WHERE id = $1", &[&node])
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// Relay `node`'s load (waiting hosts, connections), `None` once it
    /// has left the list.
    pub async fn load(&self, node: &str) -> Result<Option<(i32, i32)>, DbError> {
        let row = self
            .opt(
                "SELECT waiting, connections FROM nodes WHERE id = $1",
                &[&node],
            )
            .await?;
        row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
    }

    /// Asks relay `node` to drain; `false` when no such relay is listed.
    pub async fn set_draining(&self, node: &str) -> Result<bool, DbError> {
        let n = self
            .exec("UPDATE nodes SET draining = true WHERE id = $1", &[&node])
            .await?;
        Ok(n == 1)
    }

    /// The cluster's CA (certificate, key), made by `make` and stored by
    /// the first relay that asks; every later one reads the same.
    pub async fn cluster_ca<E>(
        &self,
        make: impl FnOnce() -> Result<(String, String), E>,
    ) -> Result<Result<(String, String), E>, DbError> {
        let client = self.client().await?;
        let read = "SELECT cert_pem, key_pem FROM cluster_ca WHERE only_row";
        if let Some(r) = client.query_opt(read, &[]).await? {
            return Ok(Ok((r.try_get(0)?, r.try_get(1)?)));
        }
        let (cert, key) = match make() {
            Ok(made) => made,
            Err(e) => return Ok(Err(e)),
        };
        client
            .execute(
                "INSERT INTO cluster_ca (only_row, cert_pem, key_pem) VALUES (true, $1, $2) \
                 ON CONFLICT (only_row) DO NOTHING",
                &[&cert, &key],
            )
            .await?;
        let r = client.query_one(read, &[]).await?;
        Ok(Ok((r.try_get(0)?, r.try_get(1)?)))
    }
}

/// Applies the migrations this database lacks, under an advisory lock, in
/// one transaction.
async fn migrate(client: &mut Client) -> Result<(), DbError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS lifeline_migrations (\
           version integer PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())",
    )
    .await?;
    let row = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM lifeline_migrations",
            &[],
        )
        .await?;
    let have: i32 = row.try_get(0)?;
    let known = MIGRATIONS.last().map_or(0, |m| m.0);
    if have > known {
        return Err(DbError::TooNew { found: have, known });
    }
    for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 > have) {
        tracing::info!(version, "applying database migration");
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO lifeline_migrations (version) VALUES ($1)",
            &[version],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_a_log() {
        assert_eq!(
            redact("postgres://lifeline:s3cret@db.example:5432/lifeline"),
            "postgres://lifeline:***@db.example:5432/lifeline"
        );
        assert_eq!(redact("postgres://db/x"), "postgres://db/x");
        assert_eq!(redact("host=db user=x"), "host=db user=x");
        assert_eq!(
            redact("host=db password=s3cret user=x"),
            "host=db password=*** user=x"
        );
    }
}
