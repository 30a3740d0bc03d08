//! A creator's earnings and the ledger's reads: balances and income per source, income
//! per live and per day, one account's balance, and the platform's totals.

use std::collections::BTreeMap;

use ledger::{AccountId, Purpose};
use money::{Currency, Money};
use time::OffsetDateTime;

use super::lives::{live_columns, live_from_row};
use crate::balances::spendable_sql;
use crate::columns::{Columns, account_columns, account_from, corrupt};
use crate::rows::{CurrencyBalances, Earnings, Live, SourceTotal, UserId};
use crate::{Store, StoreError, from_micros, to_micros, with_pool};

/// A creator's live with what it brought in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveSummary {
    /// The live.
    pub live: Live,
    /// Hearts of its standing badges.
    pub hearts: u64,
    /// Its standing badge purchases.
    pub purchases: u64,
    /// The creator's income from it (share and match) per currency.
    pub earned: Vec<Money>,
}

/// A creator's income earned on one day (UTC), in one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DailyIncome {
    /// The day.
    pub day: time::Date,
    /// Share and match of the standing purchases made that day.
    pub amount: Money,
}

/// The sum of every ledger account of one purpose and currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerTotal {
    /// The accounts' purpose (`creator_pending`, `platform_fees`, …).
    pub purpose: String,
    /// Their currency.
    pub currency: Currency,
    /// How many accounts.
    pub accounts: u64,
    /// Credits minus debits, posted (negative for debit-normal accounts).
    pub net_posted: Money,
    /// Debits waiting to be posted or voided (payouts on their way).
    pub debits_pending: Money,
}

/// A day in the stored unit of time (the queries write it out: 86400000000).
const MICROS_PER_DAY: i64 = 86_400_000_000;

impl Store {
    /// A creator's balances per currency and income per source.
    pub async fn earnings(&self, creator: &UserId) -> Result<Earnings, StoreError> {
        // A payout waiting for the provider is already out of the available balance.
        let rows = with_pool!(&self.db, pool => sqlx::query(concat!(
            "SELECT purpose, currency, \
                    CASE WHEN purpose = 'creator_available' THEN ", spendable_sql!(), " \
                         ELSE credits_posted - debits_posted END AS balance \
             FROM ledger_accounts WHERE owner = $1",
        ))
        .bind(creator.as_str())
        .fetch_all(pool)
        .await?
        .iter()
        .map(|row| {
            let currency = Currency::parse(&row.text("currency")?).map_err(corrupt)?;
            Ok((row.text("purpose")?, Money::new(row.int("balance")?, currency)))
        })
        .collect::<Result<Vec<_>, StoreError>>())?;
        let mut balances: BTreeMap<Currency, CurrencyBalances> = BTreeMap::new();
        for (purpose, amount) in rows {
            let currency = amount.currency();
            let entry = balances
                .entry(currency)
                .or_insert_with(|| CurrencyBalances {
                    currency,
                    pending: Money::zero(currency),
                    available: Money::zero(currency),
                    paid_out: Money::zero(currency),
                });
            match Purpose::parse(&purpose) {
                Some(Purpose::CreatorPending) => entry.pending = amount,
                Some(Purpose::CreatorAvailable) => entry.available = amount,
                // A payout is credited to it once the provider confirms it.
                Some(Purpose::CreatorPaidOut) => entry.paid_out = amount,
                _ => {}
            }
        }
        let rows = with_pool!(&self.db, pool => sqlx::query(
            "SELECT source, currency, amount FROM income_totals WHERE owner = $1 ORDER BY source, currency",
        )
        .bind(creator.as_str())
        .fetch_all(pool)
        .await?
        .iter()
        .map(|row| {
            let currency = Currency::parse(&row.text("currency")?).map_err(corrupt)?;
            let source = row.text("source")?;
            Ok(SourceTotal {
                source: crate::IncomeSource::parse(&source)
                    .ok_or_else(|| corrupt(format!("income source {source}")))?,
                total: Money::new(row.int("amount")?, currency),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>())?;
        let by_source = rows;
        Ok(Earnings {
            balances: balances.into_values().collect(),
            by_source,
        })
    }

    /// A creator's lives, newest first, with the hearts, purchases and income of each.
    pub async fn creator_lives(
        &self,
        creator: &UserId,
        limit: u32,
    ) -> Result<Vec<LiveSummary>, StoreError> {
        let lives = with_pool!(&self.db, pool => sqlx::query(concat!(
            "SELECT ",
            live_columns!(),
            " FROM lives WHERE creator_id = $1 ORDER BY started_at DESC, id DESC LIMIT $2"
        ))
        .bind(creator.as_str())
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?
        .iter()
        .map(live_from_row)
        .collect::<Result<Vec<_>, _>>())?;
        let Some(oldest) = lives.last().map(|l| l.started_at) else {
            return Ok(Vec::new());
        };
        // One read of the purchases of these lives: they are the creator's since the oldest.
        let rows = with_pool!(&self.db, pool => sqlx::query(
            "SELECT live_id, currency, COUNT(*) AS n, CAST(SUM(tier) AS BIGINT) AS hearts, \
                    CAST(SUM(creator_share + match_amount) AS BIGINT) AS earned \
             FROM purchases WHERE creator_id = $1 AND status = 'succeeded' AND created_at >= $2 \
             GROUP BY live_id, currency ORDER BY live_id, currency",
        )
        .bind(creator.as_str())
        .bind(to_micros(oldest))
        .fetch_all(pool)
        .await?
        .iter()
        .map(|row| {
            let currency = Currency::parse(&row.text("currency")?).map_err(corrupt)?;
            Ok((
                row.text("live_id")?,
                row.int("n")?,
                row.int("hearts")?,
                Money::new(row.int("earned")?, currency),
            ))
        })
        .collect::<Result<Vec<_>, StoreError>>())?;
        let mut by_live: BTreeMap<String, (u64, u64, Vec<Money>)> = BTreeMap::new();
        for (live, n, hearts, earned) in rows {
            let entry = by_live.entry(live).or_default();
            entry.0 += u64::try_from(n).unwrap_or(0);
            entry.1 += u64::try_from(hearts).unwrap_or(0);
            entry.2.push(earned);
        }
        Ok(lives
            .into_iter()
            .map(|live| {
                let (purchases, hearts, earned) =
                    by_live.remove(live.id.as_str()).unwrap_or_default();
                LiveSummary {
                    live,
                    hearts,
                    purchases,
                    earned,
                }
            })
            .collect())
    }

    /// A creator's income per day (UTC) and currency since `since`, oldest first: the
    /// share and match of the purchases made that day that still stand, and their share of
    /// the shop orders booked that day (after returns).
    pub async fn daily_income(
        &self,
        creator: &UserId,
        since: OffsetDateTime,
    ) -> Result<Vec<DailyIncome>, StoreError> {
        with_pool!(&self.db, pool => sqlx::query(
            "SELECT d, currency, CAST(SUM(amount) AS BIGINT) AS amount FROM ( \
                 SELECT created_at / 86400000000 AS d, currency, creator_share + match_amount AS amount \
                 FROM purchases WHERE creator_id = $1 AND status = 'succeeded' AND created_at >= $2 \
                 UNION ALL \
                 SELECT created_at / 86400000000 AS d, currency, creator_share AS amount \
                 FROM shop_orders WHERE creator_id = $1 AND created_at >= $2 \
             ) AS income GROUP BY d, currency ORDER BY d, currency",
        )
        .bind(creator.as_str())
        .bind(to_micros(since))
        .fetch_all(pool)
        .await?
        .iter()
        .map(|row| {
            let currency = Currency::parse(&row.text("currency")?).map_err(corrupt)?;
            let day = from_micros(row.int("d")?.saturating_mul(MICROS_PER_DAY)).date();
            Ok(DailyIncome {
                day,
                amount: Money::new(row.int("amount")?, currency),
            })
        })
        .collect())
    }

    /// The balance of one ledger account, if it exists.
    pub async fn ledger_balance(
        &self,
        id: &AccountId,
    ) -> Result<Option<ledger::Balances>, StoreError> {
        with_pool!(&self.db, pool => sqlx::query(concat!(
            "SELECT ",
            account_columns!(),
            " FROM ledger_accounts WHERE id = $1"
        ))
        .bind(id.as_str())
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(|r| account_from(r).map(|(_, b)| b))
        .transpose())
    }

    /// Every ledger account summed by purpose and currency: the platform's totals.
    pub async fn ledger_totals(&self) -> Result<Vec<LedgerTotal>, StoreError> {
        with_pool!(&self.db, pool => sqlx::query(
            "SELECT purpose, currency, COUNT(*) AS n, \
                    CAST(SUM(credits_posted - debits_posted) AS BIGINT) AS net, \
                    CAST(SUM(debits_pending) AS BIGINT) AS pending \
             FROM ledger_accounts GROUP BY purpose, currency ORDER BY currency, purpose",
        )
        .fetch_all(pool)
        .await?
        .iter()
        .map(|row| {
            let currency = Currency::parse(&row.text("currency")?).map_err(corrupt)?;
            Ok(LedgerTotal {
                purpose: row.text("purpose")?,
                currency,
                accounts: u64::try_from(row.int("n")?).unwrap_or(0),
                net_posted: Money::new(row.int("net")?, currency),
                debits_pending: Money::new(row.int("pending")?, currency),
            })
        })
        .collect())
    }
}
