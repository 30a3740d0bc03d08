//! Stored answers of idempotent requests (the ledger writer stores them).

use crate::columns::{idempotency_columns, idempotency_from};
use crate::rows::IdempotencyRecord;
use crate::{Store, StoreError, with_pool};

impl Store {
    /// The stored answer for an idempotency key.
    pub async fn idempotency(
        &self,
        account: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            idempotency_columns!(),
            " FROM idempotency WHERE account_id = $1 AND key = $2"
        );
        if let Some(readers) = &self.readers {
            return readers.optional(SQL, [account, key], |row| idempotency_from(row));
        }
        with_pool!(&self.db, pool => sqlx::query(SQL)
        .bind(account)
        .bind(key)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(idempotency_from)
        .transpose())
    }
}

impl Store {
    /// Deletes stored answers recorded before `before`, at most `limit` of them (the oldest
    /// first); returns how many. API.md keeps them at least 24 hours: the caller's retention
    /// is validated to be no shorter.
    pub async fn prune_idempotency(
        &self,
        before: time::OffsetDateTime,
        limit: u32,
    ) -> Result<u64, StoreError> {
        Ok(with_pool!(&self.db, pool => sqlx::query(
            "DELETE FROM idempotency WHERE (account_id, key) IN \
             (SELECT account_id, key FROM idempotency WHERE created_at < $1 \
              ORDER BY created_at LIMIT $2)"
        )
        .bind(crate::to_micros(before))
        .bind(i64::from(limit))
        .execute(pool)
        .await?
        .rows_affected()))
    }
}
