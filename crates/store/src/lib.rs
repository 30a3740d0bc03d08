//! Persistence: the schema and its migrations, the queries the server needs, and the
//! ledger's batching writer, on SQLite (the embedded default) — written so that a
//! PostgreSQL backend shares the schema and the sqlx queries (`$n` parameters,
//! `ON CONFLICT`, no SQLite-only types).
//!
//! It knows SQL and the ledger's model; it knows nothing of HTTP or JSON bodies of the API.
//! Every money movement goes through [`Writer`], which applies sets of transfers with
//! [`ledger::Book`] and commits many of them in one database transaction. The writer is
//! the one SQLite-specific part: it runs on its own OS thread with a `rusqlite`
//! connection to the same file (cached prepared statements, no async round trip per
//! statement); everything else uses the sqlx pool.

mod queries;
mod rows;
mod verify;
mod writer;

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, SqlitePool};
use time::OffsetDateTime;

pub use queries::{NewUser, Page};
pub use rows::{
    Comment, CommentId, CurrencyBalances, Earnings, IdempotencyRecord, Live, LiveId, Purchase,
    PurchaseId, PurchaseStatus, SourceTotal, Supporter, User, UserId,
};
pub use writer::{Effect, Guard, Outcome, Refusal, WriteJob, Writer, WriterConfig, income_source};

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
    /// The batching writer has stopped.
    #[error("ledger writer stopped")]
    WriterStopped,
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
    /// `sqlite://path` (the file is created when missing) or `sqlite::memory:`.
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

/// The store: a connection pool for reads and small writes, and the ledger writer.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    writer: Writer,
}

fn connect_options(url: &str) -> Result<SqliteConnectOptions, StoreError> {
    if !url.starts_with("sqlite:") {
        return Err(StoreError::InvalidUrl(format!(
            "{url}: expected sqlite://path (postgres is not built yet)"
        )));
    }
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|e| StoreError::InvalidUrl(format!("{url}: {e}")))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // Durable before acknowledged: every commit is fsynced.
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5))
        .log_statements(tracing::log::LevelFilter::Trace);
    Ok(options)
}

impl Store {
    /// Opens (creating when missing) and migrates the database, and starts the writer.
    pub async fn open(config: &StoreConfig) -> Result<Store, StoreError> {
        let options = connect_options(&config.database_url)?;
        let pool = SqlitePoolOptions::new()
            .max_connections(config.pool_size.max(1))
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("migrations/sqlite")
            .run(&pool)
            .await
            .map_err(StoreError::Migrate)?;
        let path = options.get_filename().to_path_buf();
        let db = writer::WriterDb {
            // sqlx names `sqlite::memory:` databases so; they are shared-cache.
            in_memory: path.to_string_lossy().starts_with("file:sqlx-in-memory-"),
            path,
        };
        let writer = Writer::start(db, config.writer.clone())?;
        Ok(Store { pool, writer })
    }

    /// Runs the migrations only.
    pub async fn migrate(database_url: &str) -> Result<(), StoreError> {
        let options = connect_options(database_url)?;
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        sqlx::migrate!("migrations/sqlite")
            .run(&pool)
            .await
            .map_err(StoreError::Migrate)?;
        pool.close().await;
        Ok(())
    }

    /// The ledger's batching writer.
    pub fn writer(&self) -> &Writer {
        &self.writer
    }

    /// Answers when the database does.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes the pool after the writer has finished its queue.
    pub async fn close(&self) {
        self.writer.shutdown().await;
        self.pool.close().await;
    }
}

/// Microseconds since the Unix epoch, the stored form of every time.
pub fn to_micros(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX)
}

/// The inverse of [`to_micros`].
pub fn from_micros(us: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Now, truncated to microseconds so that what is stored reads back equal.
pub fn now() -> OffsetDateTime {
    from_micros(to_micros(OffsetDateTime::now_utc()))
}
