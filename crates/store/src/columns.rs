//! Decoding rows of either backend (and of the SQLite writer's rusqlite connection) with
//! one set of functions: every backend stores the same columns with the same types (text,
//! BIGINT), so a row is read through [`Columns`] whatever produced it.

use ledger::{Account, AccountId, BalanceRule, Balances, Code, Purpose, Transfer, TransferId};
use money::Currency;
use sqlx::Row;

use crate::StoreError;
use crate::rows::IdempotencyRecord;

/// Reads a column by name.
pub(crate) trait Columns {
    fn text(&self, name: &str) -> Result<String, StoreError>;
    fn opt_text(&self, name: &str) -> Result<Option<String>, StoreError>;
    fn int(&self, name: &str) -> Result<i64, StoreError>;
    fn opt_int(&self, name: &str) -> Result<Option<i64>, StoreError>;
}

macro_rules! sqlx_columns {
    ($row:ty) => {
        impl Columns for $row {
            fn text(&self, name: &str) -> Result<String, StoreError> {
                Ok(self.try_get(name)?)
            }
            fn opt_text(&self, name: &str) -> Result<Option<String>, StoreError> {
                Ok(self.try_get(name)?)
            }
            fn int(&self, name: &str) -> Result<i64, StoreError> {
                Ok(self.try_get(name)?)
            }
            fn opt_int(&self, name: &str) -> Result<Option<i64>, StoreError> {
                Ok(self.try_get(name)?)
            }
        }
    };
}
sqlx_columns!(sqlx::sqlite::SqliteRow);
sqlx_columns!(sqlx::postgres::PgRow);

impl Columns for rusqlite::Row<'_> {
    fn text(&self, name: &str) -> Result<String, StoreError> {
        Ok(self.get(name)?)
    }
    fn opt_text(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(self.get(name)?)
    }
    fn int(&self, name: &str) -> Result<i64, StoreError> {
        Ok(self.get(name)?)
    }
    fn opt_int(&self, name: &str) -> Result<Option<i64>, StoreError> {
        Ok(self.get(name)?)
    }
}

pub(crate) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

/// The columns [`account_from`] reads.
macro_rules! account_columns {
    () => {
        "id, owner, purpose, currency, rule, debits_posted, credits_posted, debits_pending, credits_pending"
    };
}
/// The columns [`transfer_from`] reads.
macro_rules! transfer_columns {
    () => {
        "id, debit_account, credit_account, amount, currency, kind, pending_id, code, reference"
    };
}
/// The columns [`idempotency_from`] reads.
macro_rules! idempotency_columns {
    () => {
        "account_id, key, fingerprint, status, body"
    };
}
pub(crate) use {account_columns, idempotency_columns, transfer_columns};

pub(crate) fn account_from(row: &impl Columns) -> Result<(Account, Balances), StoreError> {
    let id = row.text("id")?;
    let purpose = row.text("purpose")?;
    let currency = row.text("currency")?;
    let rule = row.text("rule")?;
    let account = Account {
        owner: row.text("owner")?,
        purpose: Purpose::parse(&purpose)
            .ok_or_else(|| corrupt(format!("account {id}: purpose {purpose}")))?,
        currency: Currency::parse(&currency).map_err(|e| corrupt(format!("account {id}: {e}")))?,
        rule: BalanceRule::parse(&rule)
            .ok_or_else(|| corrupt(format!("account {id}: rule {rule}")))?,
        id: AccountId::from_stored(id),
    };
    let balances = Balances {
        debits_posted: row.int("debits_posted")?,
        credits_posted: row.int("credits_posted")?,
        debits_pending: row.int("debits_pending")?,
        credits_pending: row.int("credits_pending")?,
    };
    Ok((account, balances))
}

pub(crate) fn transfer_from(row: &impl Columns) -> Result<Transfer, StoreError> {
    let id = row.text("id")?;
    let kind = row.text("kind")?;
    let pending_id = row.opt_text("pending_id")?;
    let currency = row.text("currency")?;
    let code = row.int("code")?;
    Ok(Transfer {
        kind: ledger::TransferKind::from_stored(&kind, pending_id)
            .ok_or_else(|| corrupt(format!("transfer {id}: kind {kind}")))?,
        currency: Currency::parse(&currency).map_err(|e| corrupt(format!("transfer {id}: {e}")))?,
        code: Code(
            u16::try_from(code).map_err(|_| corrupt(format!("transfer {id}: code {code}")))?,
        ),
        debit: AccountId::from_stored(row.text("debit_account")?),
        credit: AccountId::from_stored(row.text("credit_account")?),
        amount: row.int("amount")?,
        reference: row.text("reference")?,
        id: TransferId::new(id),
    })
}

pub(crate) fn idempotency_from(row: &impl Columns) -> Result<IdempotencyRecord, StoreError> {
    let status = row.int("status")?;
    Ok(IdempotencyRecord {
        account_id: row.text("account_id")?,
        key: row.text("key")?,
        fingerprint: row.text("fingerprint")?,
        status: u16::try_from(status)
            .map_err(|_| corrupt(format!("idempotency status {status}")))?,
        body: row.text("body")?,
    })
}
