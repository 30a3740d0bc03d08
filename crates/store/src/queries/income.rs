//! Creators' income over a window, from the ledger itself: the platform's view of how income
//! is spread (`GET /v1/insights/income`, the operator's page).

use std::collections::BTreeMap;

use ledger::Code;
use money::{Currency, Money};
use time::OffsetDateTime;

use crate::columns::{Columns, corrupt};
use crate::rows::UserId;
use crate::{IncomeSource, Store, StoreError, to_micros, with_pool};

/// A creator's net income from one source in one currency over a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatorIncome {
    /// The creator.
    pub creator: UserId,
    /// Followers as the platform last reported them (`creator_metrics`), else as given
    /// when the account was made, else 0.
    pub followers: u64,
    /// The source.
    pub source: IncomeSource,
    /// Income less its reversals in the window: zero or negative when reversals of
    /// earlier income outweigh it.
    pub amount: Money,
}

/// The transfers that moved money into (`credit`) or out of (`debit`) a creator's accounts
/// since `$2`, in the currency `$1` (every currency when it is NULL), summed per creator,
/// currency and code. Only posted money counts: a pending transfer is not income yet, and
/// posting it is the transfer that counts. Which codes are income, and on which side, is
/// `IncomeSource::of_code`'s to say, not this query's. The `NOT LIKE` terms repeat the
/// partial indexes' condition (the platform's accounts are never a creator's).
macro_rules! income_side {
    ($side:literal, $account:literal) => {
        concat!(
            "SELECT a.owner AS owner, t.currency AS currency, t.code AS code, '",
            $side,
            "' AS side, CAST(SUM(t.amount) AS BIGINT) AS amount \
             FROM transfers t JOIN ledger_accounts a ON a.id = t.",
            $account,
            " WHERE t.",
            $account,
            " NOT LIKE 'platform/%' AND t.created_at >= $2 \
               AND ($1 IS NULL OR t.currency = $1) \
               AND t.kind IN ('posted', 'post_pending') \
             GROUP BY a.owner, t.currency, t.code"
        )
    };
}

impl Store {
    /// Every creator's net income per source and currency from the transfers made since
    /// `since` (in `currency` only, when given), as `IncomeSource::of_code` counts income:
    /// a share adds to the credited creator, a refund, a chargeback or a return takes from
    /// the debited one. A creator with no income transfer in the window is not listed.
    pub async fn creator_income(
        &self,
        since: OffsetDateTime,
        currency: Option<Currency>,
    ) -> Result<Vec<CreatorIncome>, StoreError> {
        let rows = with_pool!(&self.db, pool => sqlx::query(concat!(
            "SELECT i.owner, i.currency, i.code, i.side, i.amount, \
                    COALESCE(m.followers, u.followers, 0) AS followers \
             FROM (",
            income_side!("credit", "credit_account"),
            " UNION ALL ",
            income_side!("debit", "debit_account"),
            ") AS i JOIN users u ON u.id = i.owner \
             LEFT JOIN creator_metrics m ON m.creator_id = u.id \
             WHERE u.kind = 'creator'",
        ))
        .bind(currency.map(Currency::code))
        .bind(to_micros(since))
        .fetch_all(pool)
        .await?
        .iter()
        .map(|row| {
            Ok((
                row.text("owner")?,
                row.text("currency")?,
                row.int("code")?,
                row.text("side")?,
                row.int("amount")?,
                row.int("followers")?,
            ))
        })
        .collect::<Result<Vec<_>, StoreError>>())?;
        let mut income: BTreeMap<(String, Currency, IncomeSource), (u64, i64)> = BTreeMap::new();
        for (owner, currency, code, side, amount, followers) in rows {
            let code = u16::try_from(code).map_err(|_| corrupt(format!("transfer code {code}")))?;
            let Some((source, sign)) = IncomeSource::of_code(Code(code)) else {
                continue;
            };
            // The side the code counts on: income is credited, a reversal debited.
            if (sign > 0) != (side == "credit") {
                continue;
            }
            let currency = Currency::parse(&currency).map_err(corrupt)?;
            let entry = income
                .entry((owner, currency, source))
                .or_insert((u64::try_from(followers).unwrap_or(0), 0));
            entry.1 = entry.1.saturating_add(sign.saturating_mul(amount));
        }
        Ok(income
            .into_iter()
            .map(
                |((owner, currency, source), (followers, amount))| CreatorIncome {
                    creator: UserId::from_string(owner),
                    followers,
                    source,
                    amount: Money::new(amount, currency),
                },
            )
            .collect())
    }
}
