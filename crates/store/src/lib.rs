//! Persistence: the schema and its migrations, the queries the server needs, and the
//! ledger's batching writer, on SQLite (the embedded default, `sqlite://path`) or
//! PostgreSQL (`postgres://…`, for several nodes sharing one database).
//!
//! It knows SQL and the ledger's model; it knows nothing of HTTP or JSON bodies of the API.
//! Both backends have the same schema but for types (`migrations/sqlite`,
//! `migrations/postgres`) and share the sqlx queries of reads and small writes (`$n`
//! parameters, `ON CONFLICT`, `CAST(SUM(…) AS BIGINT)`; every integer column decodes as
//! `i64` on both). Every money movement goes through [`Writer`], which applies sets of
//! transfers with [`ledger::Book`] and commits many of them in one database transaction;
//! it is the one part written per backend (see the `writer` module). Comments, which move
//! no money but come in floods, are committed by it too, in the same transactions.

mod balances;
mod columns;
mod queries;
mod readers;
mod rows;
mod verify;
mod writer;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, PgPool, SqlitePool};
use time::OffsetDateTime;

pub use balances::Wallet;
pub use postings::{
    CampaignId, Computed, Effect, Guard, IncomeSource, Offer, OfferAction, OfferId, OfferStatus,
    Outcome, Refusal, RowRef, WriteJob, from_micros, to_micros,
};
pub use queries::Page;
pub use queries::attempts::provider_key;
pub use queries::earnings::{DailyIncome, LedgerTotal, LiveSummary};
pub use queries::income::CreatorIncome;
pub use queries::market::{Campaign, CreatorMetrics, CreatorProfile, MarketCreator, Rating};
pub use queries::pending_events::PendingEvent;
pub use queries::sessions::Session;
pub use queries::shop::{BrandStat, Click, Coupon, LinkStat, Product, ProductChange, ShopLink};
pub use queries::shop_pages::CommissionStatus;
pub use queries::users::NewUser;
pub use rows::{
    AttemptKind, AttemptStatus, Comment, CommentId, CurrencyBalances, Earnings, Hold, HoldStatus,
    IdempotencyRecord, Live, LiveId, MatchProgram, MatchProgramId, OrderAttribution,
    PaymentAttempt, PaymentMethod, Payout, PayoutId, PayoutStatus, ProductId, Purchase, PurchaseId,
    PurchaseStatus, SandboxCharge, ShopOrder, ShopOrderId, SourceTotal, Supporter, Topup, TopupId,
    TopupStatus, User, UserId,
};
pub use writer::{Writer, WriterConfig, WriterStats};

/// What can go wrong in the store. Domain outcomes (a taken handle) are variants; the rest
/// is the database being unreachable or broken.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The handle is used by another account.
    #[error("handle is taken")]
    HandleTaken,
    /// The database URL cannot be used.
    #[error("invalid database url: {0}")]
    InvalidUrl(String),
    /// The database did not answer or failed.
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// The ledger writer's SQLite connection failed (treated like [`StoreError::Unavailable`]).
    #[error("database unavailable")]
    Sqlite(#[source] rusqlite::Error),
    /// Migrations failed.
    #[error("migration failed")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// A stored row cannot be read back (a bug or a hand-edited database).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The database connection failed while a ledger batch was committing: the batch may
    /// or may not be committed. A retry with the same idempotency key or transfer ids
    /// settles it (a replay if it was).
    #[error("database unavailable while committing; the outcome is unknown")]
    CommitUncertain,
    /// The batching writer has stopped.
    #[error("ledger writer stopped")]
    WriterStopped,
    /// The writer's queue for this kind of write is full: retry later.
    #[error("the writer's queue is full")]
    Busy,
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> StoreError {
        StoreError::Unavailable(e)
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        StoreError::Sqlite(e)
    }
}

/// How the store is opened.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// `sqlite://path` (the file is created when missing), `sqlite::memory:`, or
    /// `postgres://user@host:port/database` (the database must exist; the schema is
    /// migrated on open).
    pub database_url: String,
    /// Connections for reads and small writes.
    pub pool_size: u32,
    /// The batching writer's limits.
    pub writer: WriterConfig,
}

impl StoreConfig {
    /// Defaults for `database_url`.
    pub fn new(database_url: impl Into<String>) -> StoreConfig {
        StoreConfig {
            database_url: database_url.into(),
            pool_size: 8,
            writer: WriterConfig::default(),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the store's pool, whichever backend it is: the body
/// is compiled once per backend, so a query is written once for both.
macro_rules! with_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::Db::Sqlite($pool) => $body,
            $crate::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// The store: a connection pool for reads and small writes, and the ledger writer.
#[derive(Debug, Clone)]
pub struct Store {
    db: Db,
    writer: Writer,
    /// On a SQLite file: the hot point reads, in place ([`readers`]).
    readers: Option<std::sync::Arc<readers::Readers>>,
}

/// How long a request waits for a PostgreSQL connection before it is answered 503: when
/// the database is unreachable, callers learn it quickly instead of piling up.
const PG_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

enum Url {
    Sqlite(SqliteConnectOptions),
    Postgres(PgConnectOptions),
}

fn parse_url(url: &str) -> Result<Url, StoreError> {
    let invalid = |e: sqlx::Error| StoreError::InvalidUrl(format!("{}: {e}", redact(url)));
    if url.starts_with("sqlite:") {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(invalid)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Durable before acknowledged: every commit is fsynced.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5))
            // The writer's checkpointer thread checkpoints: no commit of the pool's does.
            .pragma("wal_autocheckpoint", "0")
            .log_statements(tracing::log::LevelFilter::Trace);
        Ok(Url::Sqlite(options))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let options = PgConnectOptions::from_str(url)
            .map_err(invalid)?
            .application_name("ovation")
            .log_statements(tracing::log::LevelFilter::Trace);
        Ok(Url::Postgres(options))
    } else {
        Err(StoreError::InvalidUrl(format!(
            "{}: expected sqlite://path or postgres://…",
            redact(url)
        )))
    }
}

/// The URL without its password, for messages and logs: the password of the user part and
/// a `password=` query parameter (both of which sqlx reads) become `***`.
pub fn redact(url: &str) -> String {
    let Some(scheme) = url.find("://") else {
        return url.to_owned();
    };
    // The user part ends at the last `@` before the query: a password may hold `/` or `@`.
    let query_at = url.find('?').unwrap_or(url.len());
    let mut out = match url[..query_at].rfind('@') {
        Some(at) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => {
                    format!("{}{user}:***{}", &url[..scheme + 3], &url[at..query_at])
                }
                None => url[..query_at].to_owned(),
            }
        }
        _ => url[..query_at].to_owned(),
    };
    if let Some(query) = url.get(query_at + 1..) {
        out.push('?');
        let params: Vec<String> = query
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => param.to_owned(),
            })
            .collect();
        out.push_str(&params.join("&"));
    }
    out
}

impl Store {
    /// Opens (creating a SQLite file when missing) and migrates the database, and starts
    /// the writer.
    pub async fn open(config: &StoreConfig) -> Result<Store, StoreError> {
        match parse_url(&config.database_url)? {
            Url::Sqlite(options) => {
                let pool = SqlitePoolOptions::new()
                    .max_connections(config.pool_size.max(1))
                    .acquire_timeout(Duration::from_secs(5))
                    .connect_with(options.clone())
                    .await?;
                migrate_sqlite(&pool).await?;
                let path = options.get_filename().to_path_buf();
                let db = writer::sqlite::WriterDb {
                    // sqlx names `sqlite::memory:` databases so; they are shared-cache.
                    in_memory: path.to_string_lossy().starts_with("file:sqlx-in-memory-"),
                    path,
                };
                let readers =
                    (!db.in_memory).then(|| std::sync::Arc::new(readers::Readers::new(db.clone())));
                let writer = writer::sqlite::start(db, config.writer.clone())?;
                Ok(Store {
                    db: Db::Sqlite(pool),
                    writer,
                    readers,
                })
            }
            Url::Postgres(options) => {
                let pool = PgPoolOptions::new()
                    .max_connections(config.pool_size.max(1))
                    .acquire_timeout(PG_ACQUIRE_TIMEOUT)
                    .connect_with(options.clone())
                    .await?;
                migrate_postgres(&pool).await?;
                let writer_pool = PgPoolOptions::new()
                    .max_connections(
                        u32::try_from(config.writer.postgres_connections.max(1)).unwrap_or(64),
                    )
                    .acquire_timeout(PG_ACQUIRE_TIMEOUT)
                    // sqlx prepares every statement once per connection. After five runs
                    // PostgreSQL may switch a prepared statement to a generic plan costed on
                    // the statistics of that moment, and keep it until the table is next
                    // analyzed: a plan made while `transfers` was empty seq-scanned it in
                    // every batch (20 ms per batch at 15,000 rows, growing). The writer's
                    // set-wise statements get custom plans, which see the tables' real
                    // sizes; the readers' point look-ups by key are fine with generic ones.
                    .connect_lazy_with(options.options([("plan_cache_mode", "force_custom_plan")]));
                let writer = writer::postgres::start(writer_pool, config.writer.clone());
                Ok(Store {
                    db: Db::Postgres(pool),
                    writer,
                    readers: None,
                })
            }
        }
    }

    /// Runs the migrations only.
    pub async fn migrate(database_url: &str) -> Result<(), StoreError> {
        match parse_url(database_url)? {
            Url::Sqlite(options) => {
                let pool = SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_with(options)
                    .await?;
                migrate_sqlite(&pool).await?;
                pool.close().await;
            }
            Url::Postgres(options) => {
                let pool = PgPoolOptions::new()
                    .max_connections(1)
                    .connect_with(options)
                    .await?;
                migrate_postgres(&pool).await?;
                pool.close().await;
            }
        }
        Ok(())
    }

    /// The ledger's batching writer.
    pub fn writer(&self) -> &Writer {
        &self.writer
    }

    /// Answers when the database does.
    pub async fn ping(&self) -> Result<(), StoreError> {
        with_pool!(&self.db, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Closes the pool after the writer has finished its queue.
    pub async fn close(&self) {
        self.writer.shutdown().await;
        with_pool!(&self.db, pool => pool.close().await);
    }
}

async fn migrate_sqlite(pool: &SqlitePool) -> Result<(), StoreError> {
    sqlx::migrate!("migrations/sqlite")
        .run(pool)
        .await
        .map_err(StoreError::Migrate)
}

/// Several nodes may start at once: sqlx serializes migrations with an advisory lock.
async fn migrate_postgres(pool: &PgPool) -> Result<(), StoreError> {
    sqlx::migrate!("migrations/postgres")
        .run(pool)
        .await
        .map_err(StoreError::Migrate)
}

/// Creates the empty PostgreSQL database `name` on the server of `server_url` (any
/// database URL of that server) and returns its URL; for tests and benchmarks that want a
/// database of their own. `name` must be a plain identifier (`[a-z0-9_]`).
pub async fn create_database(server_url: &str, name: &str) -> Result<String, StoreError> {
    admin_statement(server_url, name, "CREATE DATABASE").await?;
    Ok(with_database(server_url, name))
}

/// Drops the PostgreSQL database `name` of [`create_database`], ending the connections
/// still open to it.
pub async fn drop_database(server_url: &str, name: &str) -> Result<(), StoreError> {
    admin_statement(server_url, name, "DROP DATABASE IF EXISTS").await
}

async fn admin_statement(server_url: &str, name: &str, verb: &str) -> Result<(), StoreError> {
    use sqlx::{Connection, Executor};
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(StoreError::InvalidUrl(format!(
            "{name:?} is not a plain database name"
        )));
    }
    let options = match parse_url(server_url)? {
        Url::Postgres(options) => options,
        Url::Sqlite(_) => {
            return Err(StoreError::InvalidUrl(format!(
                "{}: expected postgres://…",
                redact(server_url)
            )));
        }
    };
    let force = if verb.starts_with("DROP") {
        " WITH (FORCE)"
    } else {
        ""
    };
    let mut conn = sqlx::PgConnection::connect_with(&options).await?;
    // `name` was checked to be a plain identifier: nothing else is formatted in.
    conn.execute(sqlx::AssertSqlSafe(format!("{verb} {name}{force}")))
        .await?;
    conn.close().await?;
    Ok(())
}

/// `url` with its database path replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// Now, truncated to microseconds so that what is stored reads back equal.
pub fn now() -> OffsetDateTime {
    from_micros(to_micros(OffsetDateTime::now_utc()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_url_gets_another_database_in_place_of_its_own() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u:p@h:1/test?sslmode=disable", "t1"),
            "postgres://u:p@h:1/t1?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h:1", "t1"), "postgres://h:1/t1");
    }

    #[test]
    fn redacted_urls_keep_everything_but_the_password() {
        for (url, redacted) in [
            (
                "postgres://app:s3cret@db:5432/ovation",
                "postgres://app:***@db:5432/ovation",
            ),
            (
                "postgres://app:p/a@ss@db/ovation?sslmode=require",
                "postgres://app:***@db/ovation?sslmode=require",
            ),
            (
                "postgres://app@db/ovation?password=s3cret&application_name=a@b",
                "postgres://app@db/ovation?password=***&application_name=a@b",
            ),
            ("postgres://db/ovation", "postgres://db/ovation"),
            ("sqlite://ovation.db", "sqlite://ovation.db"),
            ("not a url", "not a url"),
        ] {
            assert_eq!(redact(url), redacted, "{url}");
        }
    }

    #[tokio::test]
    async fn only_plain_names_are_created() {
        for bad in ["", "a;b", "A", "x y", "t\"--"] {
            assert!(matches!(
                create_database("postgres://127.0.0.1:1/test", bad).await,
                Err(StoreError::InvalidUrl(_))
            ));
        }
    }
}
