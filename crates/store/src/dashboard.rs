//! What Ovation's own pages read and write besides the API's queries: browser sessions, a
//! live's badge goal, and the creator's and the operator's dashboards.

use std::collections::BTreeMap;

use money::{Currency, Money};
use time::OffsetDateTime;

use crate::columns::{Columns, corrupt};
use crate::queries::{
    comment_from_row, live_columns, live_from_row, payout_columns, payout_from_row,
    supporter_from_row, user_from_row,
};
use crate::rows::{Comment, Live, LiveId, Payout, Supporter, User, UserId};
use crate::{Store, StoreError, from_micros, to_micros, with_pool};

/// A signed-in browser: the account it acts as, or the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The account; `None` for the operator (signed in with the admin token).
    pub user_id: Option<UserId>,
    /// For the operator: the SHA-256 of the admin token signed in with.
    pub admin_token_hash: Option<String>,
    /// The token every form of the session carries.
    pub csrf: String,
    /// When it stops being accepted.
    pub expires_at: OffsetDateTime,
}

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

/// Which purchases a supporter's totals sum.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Scope<'a> {
    /// Those of one live.
    Live(&'a LiveId),
    /// Those of one creator since a time (microseconds).
    CreatorSince(&'a UserId, i64),
}

/// A day in the stored unit of time (the queries write it out: 86400000000).
const MICROS_PER_DAY: i64 = 86_400_000_000;

impl Store {
    /// Records a session by the hash of its cookie.
    pub async fn create_session(&self, hash: &str, session: &Session) -> Result<(), StoreError> {
        with_pool!(&self.db, pool => sqlx::query(
            "INSERT INTO sessions (hash, user_id, admin_token_hash, csrf, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(hash)
        .bind(session.user_id.as_ref().map(UserId::as_str))
        .bind(session.admin_token_hash.as_deref())
        .bind(&session.csrf)
        .bind(to_micros(crate::now()))
        .bind(to_micros(session.expires_at))
        .execute(pool)
        .await?
        .rows_affected());
        Ok(())
    }

    /// The session with this hash, unless it has expired, with its account (read in the
    /// same statement; `None` for the operator's sessions).
    pub async fn session(&self, hash: &str) -> Result<Option<(Session, Option<User>)>, StoreError> {
        with_pool!(&self.db, pool => sqlx::query(
            "SELECT s.user_id, s.admin_token_hash, s.csrf, s.expires_at, \
                    u.id, u.handle, u.kind, u.country, u.birth_date, u.followers, u.suspended, \
                    u.own_daily_limit, u.own_weekly_limit, u.payout_account, u.created_at \
             FROM sessions s LEFT JOIN users u ON u.id = s.user_id \
             WHERE s.hash = $1 AND s.expires_at > $2",
        )
        .bind(hash)
        .bind(to_micros(crate::now()))
        .fetch_optional(pool)
        .await?
        .map(|row| {
            let session = Session {
                user_id: row.opt_text("user_id")?.map(UserId::from_string),
                admin_token_hash: row.opt_text("admin_token_hash")?,
                csrf: row.text("csrf")?,
                expires_at: from_micros(row.int("expires_at")?),
            };
            let user = match session.user_id {
                Some(_) => Some(user_from_row(&row)?),
                None => None,
            };
            Ok((session, user))
        })
        .transpose())
    }

    /// Ends a session (signing out); ending one that is gone is not an error.
    pub async fn delete_session(&self, hash: &str) -> Result<(), StoreError> {
        with_pool!(&self.db, pool => sqlx::query("DELETE FROM sessions WHERE hash = $1")
            .bind(hash)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(())
    }

    /// Forgets expired sessions; returns how many.
    pub async fn delete_expired_sessions(&self) -> Result<u64, StoreError> {
        Ok(
            with_pool!(&self.db, pool => sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(to_micros(crate::now()))
            .execute(pool)
            .await?
            .rows_affected()),
        )
    }

    /// Sets or clears a live's badge goal while it is on; `None` when the live is not on.
    pub async fn set_live_goal(
        &self,
        live: &LiveId,
        goal_hearts: Option<u32>,
    ) -> Result<Option<Live>, StoreError> {
        let changed = with_pool!(&self.db, pool => sqlx::query(
            "UPDATE lives SET goal_hearts = $2 WHERE id = $1 AND status = 'live'",
        )
        .bind(live.as_str())
        .bind(goal_hearts.map(i64::from))
        .execute(pool)
        .await?
        .rows_affected());
        if changed == 0 {
            return Ok(None);
        }
        self.live(live).await
    }

    /// Lives that are on now, newest first, each with its creator's handle.
    pub async fn active_lives(&self, limit: u32) -> Result<Vec<(Live, String)>, StoreError> {
        with_pool!(&self.db, pool => sqlx::query(
            "SELECT l.id, l.creator_id, l.title, l.status, l.started_at, l.ended_at, l.goal_hearts, \
                    u.handle AS creator_handle \
             FROM lives l JOIN users u ON u.id = l.creator_id \
             WHERE l.status = 'live' ORDER BY l.started_at DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?
        .iter()
        .map(|row| Ok((live_from_row(row)?, row.text("creator_handle")?)))
        .collect())
    }

    /// The latest `limit` comments of a live, oldest first.
    pub async fn recent_comments(
        &self,
        live: &LiveId,
        limit: u32,
    ) -> Result<Vec<Comment>, StoreError> {
        let mut comments = with_pool!(&self.db, pool => sqlx::query(
            "SELECT c.id, c.live_id, c.author_id, u.handle AS author_handle, c.text, c.badge_tier, c.created_at \
             FROM comments c JOIN users u ON u.id = c.author_id \
             WHERE c.live_id = $1 ORDER BY c.id DESC LIMIT $2",
        )
        .bind(live.as_str())
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?
        .iter()
        .map(comment_from_row)
        .collect::<Result<Vec<_>, _>>())?;
        comments.reverse();
        Ok(comments)
    }

    /// Hearts of a live's standing badges (refunded and charged-back ones do not count).
    pub async fn live_hearts(&self, live: &LiveId) -> Result<u64, StoreError> {
        let hearts: i64 = with_pool!(&self.db, pool => sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(tier), 0) AS BIGINT) FROM purchases WHERE live_id = $1 AND status = 'succeeded'",
        )
        .bind(live.as_str())
        .fetch_one(pool)
        .await?);
        Ok(u64::try_from(hearts).unwrap_or(0))
    }

    /// A creator's supporters since `since`, across their lives: by top tier, then number
    /// of purchases, both descending.
    pub async fn creator_supporters(
        &self,
        creator: &UserId,
        since: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<Supporter>, StoreError> {
        let since = to_micros(since);
        let mut data = with_pool!(&self.db, pool => sqlx::query(
            // Aggregated first, joined after: only the page's supporters look up a handle.
            "SELECT s.viewer_id, u.handle, s.top_tier, s.n FROM ( \
                 SELECT viewer_id, MAX(tier) AS top_tier, COUNT(*) AS n FROM purchases \
                 WHERE creator_id = $1 AND status = 'succeeded' AND created_at >= $2 \
                 GROUP BY viewer_id ORDER BY top_tier DESC, n DESC, viewer_id LIMIT $3 \
             ) s JOIN users u ON u.id = s.viewer_id \
             ORDER BY s.top_tier DESC, s.n DESC, s.viewer_id",
        )
        .bind(creator.as_str())
        .bind(since)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?
        .iter()
        .map(supporter_from_row)
        .collect::<Result<Vec<_>, _>>())?;
        self.fill_supporter_totals(Scope::CreatorSince(creator, since), &mut data)
            .await?;
        Ok(data)
    }

    /// Sets each supporter's totals per currency over the purchases of `scope`.
    pub(crate) async fn fill_supporter_totals(
        &self,
        scope: Scope<'_>,
        data: &mut [Supporter],
    ) -> Result<(), StoreError> {
        if data.is_empty() {
            return Ok(());
        }
        let (filter, first) = match scope {
            Scope::Live(_) => ("live_id = $1", 2),
            Scope::CreatorSince(..) => ("creator_id = $1 AND created_at >= $2", 3),
        };
        // `viewer_id IN ($n, …)`: one placeholder per supporter of the page, the same SQL
        // on both backends; only placeholders are formatted in, nothing of the input.
        let list: Vec<String> = (0..data.len()).map(|i| format!("${}", i + first)).collect();
        let sql = format!(
            "SELECT viewer_id, currency, CAST(SUM(amount) AS BIGINT) AS total FROM purchases \
             WHERE {filter} AND status = 'succeeded' AND viewer_id IN ({}) \
             GROUP BY viewer_id, currency ORDER BY viewer_id, currency",
            list.join(", ")
        );
        let totals = with_pool!(&self.db, pool => {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            query = match scope {
                Scope::Live(live) => query.bind(live.as_str()),
                Scope::CreatorSince(creator, since) => query.bind(creator.as_str()).bind(since),
            };
            for s in data.iter() {
                query = query.bind(s.viewer_id.as_str());
            }
            query
                .fetch_all(pool)
                .await?
                .iter()
                .map(|row| {
                    let currency = Currency::parse(&row.text("currency")?).map_err(corrupt)?;
                    Ok((row.text("viewer_id")?, Money::new(row.int("total")?, currency)))
                })
                .collect::<Result<Vec<_>, StoreError>>()
        })?;
        let mut by_viewer: BTreeMap<String, Vec<Money>> = BTreeMap::new();
        for (viewer, total) in totals {
            by_viewer.entry(viewer).or_default().push(total);
        }
        for s in data {
            s.totals = by_viewer.remove(s.viewer_id.as_str()).unwrap_or_default();
        }
        Ok(())
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
    /// share and match of the purchases made that day that still stand.
    pub async fn daily_income(
        &self,
        creator: &UserId,
        since: OffsetDateTime,
    ) -> Result<Vec<DailyIncome>, StoreError> {
        with_pool!(&self.db, pool => sqlx::query(
            "SELECT created_at / 86400000000 AS d, currency, CAST(SUM(creator_share + match_amount) AS BIGINT) AS amount \
             FROM purchases WHERE creator_id = $1 AND status = 'succeeded' AND created_at >= $2 \
             GROUP BY created_at / 86400000000, currency ORDER BY d, currency",
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

    /// The latest payouts of every creator, newest first.
    pub async fn recent_payouts(&self, limit: u32) -> Result<Vec<Payout>, StoreError> {
        with_pool!(&self.db, pool => sqlx::query(concat!(
            "SELECT ", payout_columns!(), " FROM payouts ORDER BY id DESC LIMIT $1"
        ))
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?
        .iter()
        .map(payout_from_row)
        .collect())
    }
}
