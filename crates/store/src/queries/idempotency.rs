//! Stored answers of idempotent requests (the ledger writer stores them).

use crate::columns::{idempotency_columns, idempotency_from};
use crate::rows::IdempotencyRecord;
use crate::{Store, StoreError, with_pool};

/// The stored answer under a caller's key (`$1` the account, `$2` the key, `$3` the payment
/// attempt's key derived from them, [`crate::provider_key`]): its row in `idempotency`, or,
/// for a card purchase the SQLite writer booked with its charge, the answer kept in its
/// payment attempt (migration 0015). One key has one answer, in one of the two.
pub(crate) const STORED_ANSWER: &str = concat!(
    "SELECT ",
    idempotency_columns!(),
    " FROM idempotency WHERE account_id = $1 AND key = $2 \
     UNION ALL \
     SELECT account_id, idempotency_key AS key, fingerprint, answer_status AS status, answer_body AS body \
     FROM payment_attempts \
     WHERE key = $3 AND account_id = $1 AND idempotency_key = $2 AND answer_body IS NOT NULL \
     LIMIT 1"
);

impl Store {
    /// The stored answer for an idempotency key.
    pub async fn idempotency(
        &self,
        account: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let attempt = crate::provider_key(account, Some(key));
        if let Some(readers) = &self.readers {
            return readers.optional(STORED_ANSWER, [account, key, attempt.as_str()], |row| {
                idempotency_from(row)
            });
        }
        with_pool!(&self.db, pool => sqlx::query(STORED_ANSWER)
        .bind(account)
        .bind(key)
        .bind(&attempt)
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
    /// is validated to be no shorter. Answers kept with card payment attempts (see
    /// [`STORED_ANSWER`]) are pruned alike, from attempts recorded before `before`: the
    /// attempt stays.
    pub async fn prune_idempotency(
        &self,
        before: time::OffsetDateTime,
        limit: u32,
    ) -> Result<u64, StoreError> {
        let before = crate::to_micros(before);
        let rows = with_pool!(&self.db, pool => sqlx::query(
            "DELETE FROM idempotency WHERE (account_id, key) IN \
             (SELECT account_id, key FROM idempotency WHERE created_at < $1 \
              ORDER BY created_at LIMIT $2)"
        )
        .bind(before)
        .bind(i64::from(limit))
        .execute(pool)
        .await?
        .rows_affected());
        let left = u64::from(limit).saturating_sub(rows);
        if left == 0 {
            return Ok(rows);
        }
        // The answers kept with card payment attempts: the attempt stays, its answer goes.
        let kept = with_pool!(&self.db, pool => sqlx::query(
            "UPDATE payment_attempts SET answer_status = NULL, answer_body = NULL WHERE key IN \
             (SELECT key FROM payment_attempts WHERE answer_body IS NOT NULL AND created_at < $1 \
              ORDER BY created_at LIMIT $2)"
        )
        .bind(before)
        .bind(i64::try_from(left).unwrap_or(i64::MAX))
        .execute(pool)
        .await?
        .rows_affected());
        Ok(rows + kept)
    }
}
