//! The hot point reads of a SQLite file, on `rusqlite` connections of the store's own, run
//! in place on the calling task's thread.
//!
//! sqlx's SQLite driver runs every statement on a worker thread of its connection and
//! sends the statement there and each row back through channels: two thread hops or more
//! per read, which under load cost more than the read (a purchase made six of them; the
//! hops and their context switches were a third of the server's time). A point look-up by
//! key in a WAL database takes a few microseconds and never waits on the writer, so the
//! reads a purchase makes on its way (its idempotency key, its payment attempt, its
//! buyer's spending, the provider's confirmation) are made here, in place, instead. Every
//! other read, and everything on PostgreSQL or an in-memory database, uses the pool.
//!
//! The SQL is the pool's (`$n` parameters are SQLite's own numbered parameters); rows are
//! decoded by the same functions ([`crate::columns::Columns`]).

use std::sync::Mutex;

use rusqlite::{Connection, Params, Row};

use crate::StoreError;
use crate::writer::sqlite::WriterDb;

/// Idle connections kept; reads run in place and never wait, so as many are in use as
/// threads read at once (the runtime's workers).
const IDLE_MAX: usize = 16;

/// The readers of one SQLite file.
pub(crate) struct Readers {
    db: WriterDb,
    idle: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for Readers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readers")
            .field("path", &self.db.path)
            .finish_non_exhaustive()
    }
}

impl Readers {
    /// The readers of `db` (a file: an in-memory database is read through the pool).
    pub(crate) fn new(db: WriterDb) -> Readers {
        Readers {
            db,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// The first row of `sql` with `params`, decoded by `decode`.
    pub(crate) fn optional<T>(
        &self,
        sql: &str,
        params: impl Params,
        decode: impl FnOnce(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        self.with(|conn| {
            let mut statement = conn.prepare_cached(sql)?;
            let mut rows = statement.query(params)?;
            rows.next()?.map(decode).transpose()
        })
    }

    /// Runs `read` on an idle connection (opened when none is), then keeps it for the next
    /// read unless it failed.
    fn with<T>(
        &self,
        read: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let conn = match idle {
            Some(conn) => conn,
            None => {
                let conn = self.db.open()?;
                conn.pragma_update(None, "query_only", true)?;
                conn
            }
        };
        let result = read(&conn);
        // A connection whose read failed is dropped: the next read opens a fresh one.
        if result.is_ok()
            && let Ok(mut idle) = self.idle.lock()
            && idle.len() < IDLE_MAX
        {
            idle.push(conn);
        }
        result
    }
}
