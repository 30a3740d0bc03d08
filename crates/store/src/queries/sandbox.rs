//! The sandbox provider's records of its charges. They are the provider's side, not
//! Ovation's, and move no money; on PostgreSQL the sandbox inserts them through the pool, a
//! group in one statement, on SQLite by the ledger writer's thread beside its batches (the
//! file's one writer: see [`crate::Writer`]). A charge that succeeds at once is instead part
//! of the ledger job that books it (`Effect::InsertCharge`), written by the writer with it.

use money::{Currency, Money};
use time::OffsetDateTime;

use super::{Page, column};
use crate::columns::{Columns, corrupt};
use crate::rows::SandboxCharge;
use crate::{Store, StoreError, from_micros, to_micros, with_pool};

macro_rules! charge_columns {
    () => {
        "id, idempotency_key, amount, currency, payment_method, status, reference, \
     answered, created_at, updated_at"
    };
}

/// The set-wise insert of sandbox charges on PostgreSQL, followed by `$tail`.
macro_rules! charges_unnest_insert {
    ($tail:literal) => {
        concat!(
            "INSERT INTO sandbox_charges (id, idempotency_key, amount, currency, payment_method, status, \
                                          reference, answered, created_at, updated_at) \
             SELECT i, k, a, c, m, s, r, an, t, t \
             FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], \
                         $8::bigint[], $9::bigint[]) AS u(i, k, a, c, m, s, r, an, t)",
            $tail
        )
    };
}

/// Charges (sorted by key) inserted all, none under a key stored already: the ledger
/// writer's, for charges written with their bookings.
pub(crate) const INSERT_NEW_CHARGES: &str = charges_unnest_insert!("");

/// `sql`, one of the set-wise inserts, with `charges` bound.
pub(crate) fn bind_charges<'q>(
    sql: &'static str,
    charges: &[&'q SandboxCharge],
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    sqlx::query(sql)
        .bind(column(charges, |c| c.id.as_str()))
        .bind(column(charges, |c| c.idempotency_key.as_str()))
        .bind(column(charges, |c| c.amount.amount()))
        .bind(column(charges, |c| c.amount.currency().code()))
        .bind(column(charges, |c| c.payment_method.as_str()))
        .bind(column(charges, |c| c.status.as_str()))
        .bind(column(charges, |c| c.reference.as_str()))
        .bind(column(charges, |c| i64::from(c.answered)))
        .bind(column(charges, |c| to_micros(c.created_at)))
}

/// Inserts a charge unless one is stored under its idempotency key (`$9` is both its
/// creation and its last change).
pub(crate) const INSERT_CHARGE: &str = "INSERT INTO sandbox_charges (id, idempotency_key, amount, currency, payment_method, status, \
                              reference, answered, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) ON CONFLICT (idempotency_key) DO NOTHING";

/// The charge stored under an idempotency key.
pub(crate) const CHARGE_BY_KEY: &str = concat!(
    "SELECT ",
    charge_columns!(),
    " FROM sandbox_charges WHERE idempotency_key = $1"
);

pub(crate) fn charge_from_row(row: &impl Columns) -> Result<SandboxCharge, StoreError> {
    let id = row.text("id")?;
    let currency = Currency::parse(&row.text("currency")?)
        .map_err(|e| corrupt(format!("sandbox charge {id}: {e}")))?;
    Ok(SandboxCharge {
        idempotency_key: row.text("idempotency_key")?,
        amount: Money::new(row.int("amount")?, currency),
        payment_method: row.text("payment_method")?,
        status: row.text("status")?,
        reference: row.text("reference")?,
        answered: row.int("answered")? != 0,
        created_at: from_micros(row.int("created_at")?),
        updated_at: from_micros(row.int("updated_at")?),
        id,
    })
}

impl Store {
    /// Records a sandbox charge unless one exists under its idempotency key; gives the charge
    /// stored under the key (this one, or the earlier one).
    pub async fn sandbox_charge_insert(
        &self,
        charge: &SandboxCharge,
    ) -> Result<SandboxCharge, StoreError> {
        self.sandbox_charges_insert(std::slice::from_ref(charge))
            .await?
            .pop()
            .ok_or_else(|| corrupt("a sandbox charge vanished after its insert"))
    }

    /// Records sandbox charges in one transaction (one commit for many: the sandbox groups
    /// its concurrent charges), each unless one exists under its idempotency key; gives, for
    /// each, the charge stored under its key.
    pub async fn sandbox_charges_insert(
        &self,
        charges: &[SandboxCharge],
    ) -> Result<Vec<SandboxCharge>, StoreError> {
        match &self.db {
            crate::Db::Sqlite(_) => self.writer().sandbox_charges(charges.to_vec()).await,
            crate::Db::Postgres(pool) => insert_charges(pool, charges).await,
        }
    }

    /// Claims sandbox payout ids under their idempotency keys, in one transaction: for each
    /// (key, id), the id stored under the key, and whether it is this one (a new payout).
    pub async fn sandbox_payouts_claim(
        &self,
        claims: &[(String, String)],
    ) -> Result<Vec<(String, bool)>, StoreError> {
        let at = to_micros(crate::now());
        with_pool!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let mut stored = Vec::with_capacity(claims.len());
            for (key, id) in claims {
                let inserted = sqlx::query(
                    "INSERT INTO sandbox_payouts (idempotency_key, id, created_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (idempotency_key) DO NOTHING",
                )
                .bind(key)
                .bind(id)
                .bind(at)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if inserted == 1 {
                    stored.push((id.clone(), true));
                } else {
                    let existing: String = sqlx::query_scalar(
                        "SELECT id FROM sandbox_payouts WHERE idempotency_key = $1",
                    )
                    .bind(key)
                    .fetch_one(&mut *tx)
                    .await?;
                    stored.push((existing, false));
                }
            }
            tx.commit().await?;
            Ok(stored)
        })
    }

    /// The sandbox charge made under an idempotency key.
    pub async fn sandbox_charge_by_key(
        &self,
        key: &str,
    ) -> Result<Option<SandboxCharge>, StoreError> {
        let sql = concat!(
            "SELECT ",
            charge_columns!(),
            " FROM sandbox_charges WHERE idempotency_key = $1"
        );
        with_pool!(&self.db, pool => sqlx::query(sql)
            .bind(key)
            .fetch_optional(pool)
            .await?
            .as_ref()
            .map(charge_from_row)
            .transpose())
    }

    /// A sandbox charge by id.
    pub async fn sandbox_charge(&self, id: &str) -> Result<Option<SandboxCharge>, StoreError> {
        let sql = concat!(
            "SELECT ",
            charge_columns!(),
            " FROM sandbox_charges WHERE id = $1"
        );
        with_pool!(&self.db, pool => sqlx::query(sql)
            .bind(id)
            .fetch_optional(pool)
            .await?
            .as_ref()
            .map(charge_from_row)
            .transpose())
    }

    /// Moves a sandbox charge from status `from` to `to` (and records whether its answer
    /// reached the caller); whether it moved.
    pub async fn sandbox_charge_set(
        &self,
        id: &str,
        from: &str,
        to: &str,
        answered: bool,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let n = with_pool!(&self.db, pool => sqlx::query(
            "UPDATE sandbox_charges SET status = $2, answered = $3, updated_at = $4 \
             WHERE id = $1 AND status = $5",
        )
        .bind(id)
        .bind(to)
        .bind(i64::from(answered))
        .bind(to_micros(at))
        .bind(from)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(n == 1)
    }

    /// Sandbox charges still processing that were made before `before`.
    pub async fn sandbox_processing(
        &self,
        before: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<SandboxCharge>, StoreError> {
        let sql = concat!(
            "SELECT ",
            charge_columns!(),
            " FROM sandbox_charges WHERE status = 'processing' AND created_at < $1 \
             ORDER BY created_at LIMIT $2"
        );
        with_pool!(&self.db, pool => sqlx::query(sql)
            .bind(to_micros(before))
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
            .iter()
            .map(charge_from_row)
            .collect())
    }

    /// Sandbox charges made since `since`, oldest first, after the (created, id) `after`.
    pub async fn sandbox_charges_since(
        &self,
        since: OffsetDateTime,
        after: Option<(OffsetDateTime, &str)>,
        limit: u32,
    ) -> Result<Vec<SandboxCharge>, StoreError> {
        let (after_at, after_id) =
            after.map_or((to_micros(since), ""), |(at, id)| (to_micros(at), id));
        let sql = concat!(
            "SELECT ",
            charge_columns!(),
            " FROM sandbox_charges WHERE created_at >= $1 \
               AND (created_at > $2 OR (created_at = $2 AND id > $3)) \
             ORDER BY created_at, id LIMIT $4"
        );
        with_pool!(&self.db, pool => sqlx::query(sql)
            .bind(to_micros(since))
            .bind(after_at)
            .bind(after_id)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
            .iter()
            .map(charge_from_row)
            .collect())
    }

    /// Sandbox charges, oldest first, after the cursor (the last id of the previous page).
    pub async fn sandbox_charges(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<SandboxCharge>, StoreError> {
        let sql = concat!(
            "SELECT ",
            charge_columns!(),
            " FROM sandbox_charges WHERE id > $1 ORDER BY id LIMIT $2"
        );
        let mut data: Vec<SandboxCharge> = with_pool!(&self.db, pool => sqlx::query(sql)
            .bind(after.unwrap_or(""))
            .bind(i64::from(limit) + 1)
            .fetch_all(pool)
            .await?
            .iter()
            .map(charge_from_row)
            .collect::<Result<_, StoreError>>())?;
        let next = if data.len() > limit as usize {
            data.truncate(limit as usize);
            data.last().map(|c| c.id.clone())
        } else {
            None
        };
        Ok(Page {
            data,
            next_cursor: next,
        })
    }
}

/// On PostgreSQL: the charges in one statement, each unless one is stored under its key (in
/// key order: another node may be inserting some of the same keys), then the ones stored
/// before under their keys read back in one more.
async fn insert_charges(
    pool: &sqlx::PgPool,
    charges: &[SandboxCharge],
) -> Result<Vec<SandboxCharge>, StoreError> {
    let mut sorted: Vec<&SandboxCharge> = charges.iter().collect();
    sorted.sort_by(|a, b| a.idempotency_key.cmp(&b.idempotency_key));
    const INSERT: &str =
        charges_unnest_insert!(" ON CONFLICT (idempotency_key) DO NOTHING RETURNING id");
    let inserted: std::collections::HashSet<String> = bind_charges(INSERT, &sorted)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|row| row.text("id"))
        .collect::<Result<_, _>>()?;
    let others: Vec<&str> = charges
        .iter()
        .filter(|c| !inserted.contains(&c.id))
        .map(|c| c.idempotency_key.as_str())
        .collect();
    let mut earlier = std::collections::HashMap::new();
    if !others.is_empty() {
        let rows = sqlx::query(concat!(
            "SELECT ",
            charge_columns!(),
            " FROM sandbox_charges WHERE idempotency_key = ANY($1)"
        ))
        .bind(&others)
        .fetch_all(pool)
        .await?;
        for row in &rows {
            let charge = charge_from_row(row)?;
            earlier.insert(charge.idempotency_key.clone(), charge);
        }
    }
    charges
        .iter()
        .map(|c| {
            if inserted.contains(&c.id) {
                Ok(c.clone())
            } else {
                earlier.get(&c.idempotency_key).cloned().ok_or_else(|| {
                    corrupt(format!(
                        "sandbox charge under {} vanished",
                        c.idempotency_key
                    ))
                })
            }
        })
        .collect()
}
