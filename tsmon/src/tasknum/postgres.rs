//! Task numbers in PostgreSQL.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio_postgres::{Client, NoTls};

use super::TaskNumAllocator;
use crate::error::{Cause, Error};
use crate::monitor::BoxFuture;
use crate::target::Target;

/// Serialises `CREATE TABLE IF NOT EXISTS` across processes (it can race with itself).
const CREATE_LOCK: i64 = 0x7473_6d6f_6e00;

const CREATE: &str = "
CREATE TABLE IF NOT EXISTS tsmon_task_numbers (
    grp text NOT NULL,
    instance text NOT NULL,
    num integer NOT NULL,
    last_seen timestamptz NOT NULL,
    PRIMARY KEY (grp, instance),
    UNIQUE (grp, num)
);
CREATE TABLE IF NOT EXISTS tsmon_task_numbers_expired (
    grp text NOT NULL,
    instance text NOT NULL,
    expired_at timestamptz NOT NULL,
    PRIMARY KEY (grp, instance)
);
CREATE TABLE IF NOT EXISTS tsmon_task_numbers_free (
    grp text NOT NULL,
    num integer NOT NULL,
    PRIMARY KEY (grp, num)
);";

/// The index expiry reads (made once the tables are known to be tsmon's).
const INDEX: &str = "CREATE INDEX IF NOT EXISTS tsmon_task_numbers_by_last_seen
    ON tsmon_task_numbers (grp, last_seen)";

/// The free numbers of the groups an older tsmon wrote (before the free-number table): the
/// holes below each group's highest number, once, when the table is made.
const BACKFILL: &str = "
INSERT INTO tsmon_task_numbers_free (grp, num)
SELECT g.grp, s
FROM (SELECT grp, max(num) AS top FROM tsmon_task_numbers GROUP BY grp) g
CROSS JOIN LATERAL generate_series(0, g.top) s
WHERE NOT EXISTS (SELECT 1 FROM tsmon_task_numbers t WHERE t.grp = g.grp AND t.num = s)
ON CONFLICT DO NOTHING";

/// The columns the allocator needs, to check a table it did not create.
const SHAPE: &[(&str, &str, &str)] = &[
    ("tsmon_task_numbers", "grp", "text"),
    ("tsmon_task_numbers", "instance", "text"),
    ("tsmon_task_numbers", "num", "integer"),
    (
        "tsmon_task_numbers",
        "last_seen",
        "timestamp with time zone",
    ),
    ("tsmon_task_numbers_expired", "grp", "text"),
    ("tsmon_task_numbers_expired", "instance", "text"),
    (
        "tsmon_task_numbers_expired",
        "expired_at",
        "timestamp with time zone",
    ),
    ("tsmon_task_numbers_free", "grp", "text"),
    ("tsmon_task_numbers_free", "num", "integer"),
];

/// Task numbers in PostgreSQL (feature `postgres`), with the semantics of
/// [`RedisAllocator`](super::RedisAllocator): the lowest free number per (service, job, data
/// centre) on the first heartbeat, expiry by the database's clock (30 minutes by default),
/// reuse lowest first, [`Error::TaskNumberLost`] for a task back after losing its number. Each
/// heartbeat is one transaction holding the group's advisory lock, and `(group, number)` is
/// unique, so two live tasks never share a number.
///
/// A heartbeat is index lookups only, O(log n) of the group's size: expiry reads an index on
/// the last heartbeat, freed numbers wait in `tsmon_task_numbers_free`, and a new task takes
/// the lowest one or one past the highest held (p99 2.1 ms with 100,000 live tasks, where the
/// scan it replaced took 117 ms; see `BENCHMARKS.md`). Tables an older tsmon made get the
/// free-number table, filled with their holes, once.
///
/// It creates its tables if they are missing (safe from many processes at once: the creation
/// holds an advisory lock) and checks their shape at start-up. A database that is down or slow
/// is a transient error after at most the call timeout (2 s by default); the connection is
/// re-established on the next heartbeat.
pub struct PostgresAllocator {
    config: String,
    client: Mutex<Option<Client>>,
    expiry: Duration,
    timeout: Duration,
}

impl std::fmt::Debug for PostgresAllocator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresAllocator")
            .field("expiry", &self.expiry)
            .finish_non_exhaustive()
    }
}

/// The database's own message where there is one ("db error" alone says nothing).
fn pg_error(e: tokio_postgres::Error) -> Error {
    match e.as_db_error() {
        Some(db) => {
            let message = format!("PostgreSQL: {}: {}", db.severity(), db.message());
            Error::TaskNum(Cause::new(message).caused_by(e))
        }
        None => Error::TaskNum(Cause::with_source("PostgreSQL", e)),
    }
}

/// Connects on tsmon's own runtime, whichever runtime calls: the socket is registered with
/// the runtime that opens it, and the connection task runs there too, so neither may sit on a
/// runtime that stops being polled (a current-thread runtime between uses).
async fn open(config: &str) -> Result<Client, Error> {
    let config = config.to_owned();
    crate::runtime::handle()
        .spawn(async move {
            let (client, connection) = tokio_postgres::connect(&config, NoTls)
                .await
                .map_err(pg_error)?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::warn!("tsmon: the PostgreSQL connection ended: {e}");
                }
            });
            Ok(client)
        })
        .await
        .unwrap_or_else(|e| Err(Error::TaskNum(Cause::with_source("PostgreSQL connect", e))))
}

impl PostgresAllocator {
    /// Connects (`host=127.0.0.1 port=5432 user=tsmon dbname=tsmon`, or a `postgresql://` URL),
    /// creates the tables if missing and checks their shape. The connection lives on tsmon's
    /// background runtime, whatever runtime calls this, so heartbeats never wait on a runtime
    /// that is not being driven.
    ///
    /// # Errors
    ///
    /// [`Error::TaskNum`] naming the problem: unreachable server, wrong credentials, missing
    /// database, or tables of an unexpected shape.
    pub async fn connect(config: &str) -> Result<Self, Error> {
        let mut client = tokio::time::timeout(Duration::from_secs(10), open(config))
            .await
            .map_err(|_| Error::TaskNum("PostgreSQL: connection timed out".into()))??;
        let sql = |e: tokio_postgres::Error| pg_error(e);
        let tx = client.transaction().await.map_err(sql)?;
        tx.execute(&format!("SELECT pg_advisory_xact_lock({CREATE_LOCK})"), &[])
            .await
            .map_err(sql)?;
        let new_free_table: bool = tx
            .query_one("SELECT to_regclass('tsmon_task_numbers_free') IS NULL", &[])
            .await
            .map_err(sql)?
            .get(0);
        tx.batch_execute(CREATE).await.map_err(sql)?;
        let rows = tx
            .query(
                "SELECT table_name::text, column_name::text, data_type::text \
                 FROM information_schema.columns \
                 WHERE table_name IN ('tsmon_task_numbers', 'tsmon_task_numbers_expired', \
                                      'tsmon_task_numbers_free') \
                   AND table_schema = current_schema()",
                &[],
            )
            .await
            .map_err(sql)?;
        let have: Vec<(String, String, String)> = rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        for (table, column, ty) in SHAPE {
            if !have
                .iter()
                .any(|(t, c, d)| t == table && c == column && d == ty)
            {
                return Err(Error::TaskNum(
                    format!(
                        "PostgreSQL: table {table} has no column {column} of type {ty}; \
                     it is not a tsmon table (drop or rename it)"
                    )
                    .into(),
                ));
            }
        }
        tx.execute(INDEX, &[]).await.map_err(sql)?;
        if new_free_table {
            tx.execute(BACKFILL, &[]).await.map_err(sql)?;
        }
        tx.commit().await.map_err(sql)?;
        Ok(PostgresAllocator {
            config: config.to_owned(),
            client: Mutex::new(Some(client)),
            expiry: Duration::from_secs(30 * 60),
            timeout: Duration::from_secs(2),
        })
    }

    /// How long a silent task keeps its number.
    #[must_use]
    pub fn with_expiry(mut self, expiry: Duration) -> Self {
        self.expiry = expiry.max(Duration::from_millis(1));
        self
    }

    /// The longest a heartbeat waits for the database.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    async fn heartbeat(&self, target: &Target, instance: &str) -> Result<i32, Error> {
        let group = format!(
            "{}\u{1f}{}\u{1f}{}",
            target.service_name, target.job_name, target.data_center
        );
        let mut slot = self.client.lock().await;
        if slot.as_ref().is_none_or(Client::is_closed) {
            *slot = Some(open(&self.config).await?);
        }
        let Some(client) = slot.as_mut() else {
            return Err(Error::TaskNum("PostgreSQL: no connection".into()));
        };
        let result = claim(client, &group, instance, self.expiry).await;
        if result.is_err() {
            // Start afresh next time: the connection may be broken or mid-transaction.
            *slot = None;
        }
        result
    }
}

async fn claim(
    client: &mut Client,
    group: &str,
    instance: &str,
    expiry: Duration,
) -> Result<i32, Error> {
    let sql = |e: tokio_postgres::Error| pg_error(e);
    let expiry_ms = f64::from(u32::try_from(expiry.as_millis()).unwrap_or(u32::MAX));
    let tx = client.transaction().await.map_err(sql)?;
    tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&group])
        .await
        .map_err(sql)?;
    tx.execute(
        "WITH gone AS (
             DELETE FROM tsmon_task_numbers
             WHERE grp = $1 AND last_seen < now() - make_interval(secs => $2::float8 / 1000.0)
             RETURNING grp, instance, num),
         freed AS (
             INSERT INTO tsmon_task_numbers_free (grp, num)
             SELECT grp, num FROM gone ON CONFLICT DO NOTHING)
         INSERT INTO tsmon_task_numbers_expired (grp, instance, expired_at)
         SELECT grp, instance, now() FROM gone
         ON CONFLICT (grp, instance) DO UPDATE SET expired_at = EXCLUDED.expired_at",
        &[&group, &expiry_ms],
    )
    .await
    .map_err(sql)?;
    tx.execute(
        "DELETE FROM tsmon_task_numbers_expired
         WHERE grp = $1 AND expired_at < now() - make_interval(secs => $2::float8 * 4 / 1000.0)",
        &[&group, &expiry_ms],
    )
    .await
    .map_err(sql)?;
    let existing = tx
        .query_opt(
            "UPDATE tsmon_task_numbers SET last_seen = now()
             WHERE grp = $1 AND instance = $2 RETURNING num",
            &[&group, &instance],
        )
        .await
        .map_err(sql)?;
    let (num, lost) = if let Some(row) = existing {
        (row.get::<_, i32>(0), false)
    } else {
        let lost = tx
            .execute(
                "DELETE FROM tsmon_task_numbers_expired WHERE grp = $1 AND instance = $2",
                &[&group, &instance],
            )
            .await
            .map_err(sql)?
            > 0;
        let row = tx
            .query_one(
                // The lowest free number, or one past the highest held: both index lookups.
                // The free numbers and the held ones are always all the numbers up to the
                // highest ever given, so this is the lowest number no live task holds.
                "WITH taken AS (
                     DELETE FROM tsmon_task_numbers_free
                     WHERE grp = $1 AND num = (
                         SELECT num FROM tsmon_task_numbers_free WHERE grp = $1
                         ORDER BY num LIMIT 1)
                     RETURNING num)
                 INSERT INTO tsmon_task_numbers (grp, instance, num, last_seen)
                 SELECT $1, $2, COALESCE(
                     (SELECT num FROM taken),
                     (SELECT COALESCE(max(num) + 1, 0) FROM tsmon_task_numbers WHERE grp = $1)),
                   now()
                 RETURNING num",
                &[&group, &instance],
            )
            .await
            .map_err(sql)?;
        (row.get::<_, i32>(0), lost)
    };
    tx.commit().await.map_err(sql)?;
    if lost {
        Err(Error::TaskNumberLost(num))
    } else {
        Ok(num)
    }
}

impl TaskNumAllocator for PostgresAllocator {
    fn notify_task_is_alive<'a>(
        &'a self,
        target: &'a Target,
        instance_id: &'a str,
    ) -> BoxFuture<'a, Result<i32, Error>> {
        Box::pin(async move {
            match tokio::time::timeout(self.timeout, self.heartbeat(target, instance_id)).await {
                Ok(r) => r,
                Err(_) => {
                    // The connection may be stuck mid-call: drop it.
                    if let Ok(mut slot) = self.client.try_lock() {
                        *slot = None;
                    }
                    Err(Error::TaskNum(
                        format!("PostgreSQL did not answer within {:?}", self.timeout).into(),
                    ))
                }
            }
        })
    }
}
