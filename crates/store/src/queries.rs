//! Reads, and the small writes that move no money (accounts, tokens, lives, comments).

use std::collections::BTreeMap;

use ledger::{AccountId, Purpose};
use live::{AccountKind, CountryCode, Tier};
use money::{Currency, Money};
use time::OffsetDateTime;

use crate::columns::{
    Columns, account_columns, account_from, idempotency_columns, idempotency_from,
    transfer_columns, transfer_from,
};
use crate::rows::{
    Comment, CommentId, CurrencyBalances, Earnings, Hold, HoldStatus, IdempotencyRecord, Live,
    LiveId, MatchProgram, MatchProgramId, PaymentMethod, Payout, PayoutId, PayoutStatus, Purchase,
    PurchaseId, PurchaseStatus, SourceTotal, Supporter, Topup, TopupId, TopupStatus, User, UserId,
};
use crate::{Store, StoreError, from_micros, to_micros, with_pool};

/// A new user account, validated by the caller.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Handle, already parsed.
    pub handle: live::Handle,
    /// Kind.
    pub kind: AccountKind,
    /// Country.
    pub country: CountryCode,
    /// Birth date, if the platform gave one.
    pub birth_date: Option<time::Date>,
    /// Followers, if given.
    pub followers: Option<u64>,
}

/// One page of a list: the items and the cursor of the next page.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// Items.
    pub data: Vec<T>,
    /// Where the next page starts, if there is one.
    pub next_cursor: Option<String>,
}

use crate::columns::corrupt;

const DATE_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

pub(crate) fn user_from_row(row: &impl Columns) -> Result<User, StoreError> {
    let id = row.text("id")?;
    let kind = row.text("kind")?;
    let country = row.text("country")?;
    let birth_date = row.opt_text("birth_date")?;
    let followers = row.opt_int("followers")?;
    let suspended = row.int("suspended")?;
    Ok(User {
        handle: row.text("handle")?,
        kind: AccountKind::parse(&kind).map_err(|e| corrupt(format!("user {id}: {e}")))?,
        country: CountryCode::parse(&country).map_err(|e| corrupt(format!("user {id}: {e}")))?,
        birth_date: birth_date
            .map(|d| time::Date::parse(&d, DATE_FORMAT))
            .transpose()
            .map_err(|e| corrupt(format!("user {id}: {e}")))?,
        followers: followers.map(|f| u64::try_from(f).unwrap_or(0)),
        suspended: suspended != 0,
        own_daily_limit: row.opt_int("own_daily_limit")?,
        own_weekly_limit: row.opt_int("own_weekly_limit")?,
        payout_account: row.opt_text("payout_account")?,
        created_at: from_micros(row.int("created_at")?),
        id: UserId::from_string(id),
    })
}

pub(crate) fn live_from_row(row: &impl Columns) -> Result<Live, StoreError> {
    let status = row.text("status")?;
    let ended_at = row.opt_int("ended_at")?;
    let goal_hearts = row.opt_int("goal_hearts")?;
    Ok(Live {
        id: LiveId::from_string(row.text("id")?),
        creator_id: UserId::from_string(row.text("creator_id")?),
        title: row.text("title")?,
        active: status == "live",
        started_at: from_micros(row.int("started_at")?),
        ended_at: ended_at.map(from_micros),
        goal_hearts: goal_hearts.map(|g| u32::try_from(g).unwrap_or(u32::MAX)),
    })
}

pub(crate) fn tier_from(value: i64) -> Result<Tier, StoreError> {
    Tier::new(value).map_err(corrupt)
}

pub(crate) fn comment_from_row(row: &impl Columns) -> Result<Comment, StoreError> {
    let badge = row.opt_int("badge_tier")?;
    Ok(Comment {
        id: CommentId::from_string(row.text("id")?),
        live_id: LiveId::from_string(row.text("live_id")?),
        author_id: UserId::from_string(row.text("author_id")?),
        author_handle: row.text("author_handle")?,
        text: row.text("text")?,
        badge_tier: badge.map(tier_from).transpose()?,
        created_at: from_micros(row.int("created_at")?),
    })
}

fn purchase_from_row(row: &impl Columns) -> Result<Purchase, StoreError> {
    let id = row.text("id")?;
    let currency = row.text("currency")?;
    let currency =
        Currency::parse(&currency).map_err(|e| corrupt(format!("purchase {id}: {e}")))?;
    let status = row.text("status")?;
    let refunded_at = row.opt_int("refunded_at")?;
    Ok(Purchase {
        live_id: LiveId::from_string(row.text("live_id")?),
        viewer_id: UserId::from_string(row.text("viewer_id")?),
        creator_id: UserId::from_string(row.text("creator_id")?),
        tier: tier_from(row.int("tier")?)?,
        price: Money::new(row.int("amount")?, currency),
        creator_share: Money::new(row.int("creator_share")?, currency),
        platform_fee: Money::new(row.int("platform_fee")?, currency),
        processor_fee: Money::new(row.int("processor_fee")?, currency),
        match_amount: Money::new(row.int("match_amount")?, currency),
        match_program: row.opt_text("match_program")?,
        payment_method: {
            let method = row.text("payment_method")?;
            PaymentMethod::parse(&method)
                .ok_or_else(|| corrupt(format!("purchase {id}: payment method {method}")))?
        },
        status: PurchaseStatus::parse(&status)
            .ok_or_else(|| corrupt(format!("purchase {id}: status {status}")))?,
        payment_id: row.text("payment_id")?,
        created_at: from_micros(row.int("created_at")?),
        refunded_at: refunded_at.map(from_micros),
        id: PurchaseId::from_string(id),
    })
}

pub(crate) fn supporter_from_row(row: &impl Columns) -> Result<Supporter, StoreError> {
    Ok(Supporter {
        viewer_handle: row.text("handle")?,
        top_tier: tier_from(row.int("top_tier")?)?,
        totals: Vec::new(),
        purchases: u64::try_from(row.int("n")?).unwrap_or(0),
        viewer_id: UserId::from_string(row.text("viewer_id")?),
    })
}

/// Decodes an offset cursor; anything else starts at the beginning.
fn offset_of(cursor: Option<&str>) -> i64 {
    cursor
        .and_then(|c| c.strip_prefix("o"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

macro_rules! user_columns {
    () => {
        "id, handle, kind, country, birth_date, followers, suspended, own_daily_limit, own_weekly_limit, payout_account, created_at"
    };
}
macro_rules! live_columns {
    () => {
        "id, creator_id, title, status, started_at, ended_at, goal_hearts"
    };
}
macro_rules! purchase_columns {
    () => {
        "id, live_id, viewer_id, creator_id, tier, amount, currency, creator_share, platform_fee, processor_fee, match_amount, match_program, payment_method, status, payment_id, created_at, refunded_at"
    };
}

macro_rules! hold_columns {
    () => {
        "id, owner, currency, amount, source, status, release_at, created_at"
    };
}

fn hold_from_row(row: &impl Columns) -> Result<Hold, StoreError> {
    let id = row.text("id")?;
    let currency =
        Currency::parse(&row.text("currency")?).map_err(|e| corrupt(format!("hold {id}: {e}")))?;
    let source = row.text("source")?;
    let status = row.text("status")?;
    Ok(Hold {
        owner: UserId::from_string(row.text("owner")?),
        amount: Money::new(row.int("amount")?, currency),
        source: crate::IncomeSource::parse(&source)
            .ok_or_else(|| corrupt(format!("hold {id}: source {source}")))?,
        status: HoldStatus::parse(&status)
            .ok_or_else(|| corrupt(format!("hold {id}: status {status}")))?,
        release_at: from_micros(row.int("release_at")?),
        created_at: from_micros(row.int("created_at")?),
        id,
    })
}

macro_rules! payout_columns {
    () => {
        "id, creator_id, amount, currency, status, provider_id, failure, created_at, updated_at"
    };
}
pub(crate) use {live_columns, payout_columns};

pub(crate) fn payout_from_row(row: &impl Columns) -> Result<Payout, StoreError> {
    let id = row.text("id")?;
    let currency = Currency::parse(&row.text("currency")?)
        .map_err(|e| corrupt(format!("payout {id}: {e}")))?;
    let status = row.text("status")?;
    Ok(Payout {
        creator_id: UserId::from_string(row.text("creator_id")?),
        amount: Money::new(row.int("amount")?, currency),
        status: PayoutStatus::parse(&status)
            .ok_or_else(|| corrupt(format!("payout {id}: status {status}")))?,
        provider_id: row.opt_text("provider_id")?,
        failure: row.opt_text("failure")?,
        created_at: from_micros(row.int("created_at")?),
        updated_at: from_micros(row.int("updated_at")?),
        id: PayoutId::from_string(id),
    })
}

fn topup_from_row(row: &impl Columns) -> Result<Topup, StoreError> {
    let id = row.text("id")?;
    let currency = Currency::parse(&row.text("currency")?)
        .map_err(|e| corrupt(format!("top-up {id}: {e}")))?;
    let status = row.text("status")?;
    Ok(Topup {
        user_id: UserId::from_string(row.text("user_id")?),
        amount: Money::new(row.int("amount")?, currency),
        processor_fee: Money::new(row.int("processor_fee")?, currency),
        payment_id: row.text("payment_id")?,
        status: TopupStatus::parse(&status)
            .ok_or_else(|| corrupt(format!("top-up {id}: status {status}")))?,
        created_at: from_micros(row.int("created_at")?),
        id: TopupId::from_string(id),
    })
}

fn match_program_from_row(row: &impl Columns) -> Result<MatchProgram, StoreError> {
    let id = row.text("id")?;
    let bad = |e: String| corrupt(format!("match program {id}: {e}"));
    let caps: BTreeMap<String, i64> =
        serde_json::from_str(&row.text("caps")?).map_err(|e| bad(e.to_string()))?;
    let caps = caps
        .into_iter()
        .map(|(c, a)| {
            Ok(Money::new(
                a,
                Currency::parse(&c).map_err(|e| bad(e.to_string()))?,
            ))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let countries = row
        .text("countries")?
        .split(',')
        .filter(|c| !c.is_empty())
        .map(|c| CountryCode::parse(c).map_err(|e| bad(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let rate = u32::try_from(row.int("rate_bps")?).map_err(|e| bad(e.to_string()))?;
    Ok(MatchProgram {
        name: row.text("name")?,
        rate: money::Bps::new(rate).map_err(|e| bad(e.to_string()))?,
        caps,
        countries,
        starts_at: from_micros(row.int("starts_at")?),
        ends_at: from_micros(row.int("ends_at")?),
        created_at: from_micros(row.int("created_at")?),
        id: MatchProgramId::from_string(id),
    })
}

impl Store {
    /// Creates a user account; a taken handle is [`StoreError::HandleTaken`].
    pub async fn create_user(&self, new: NewUser) -> Result<User, StoreError> {
        let user = User {
            id: UserId::generate(),
            handle: new.handle.as_str().to_owned(),
            kind: new.kind,
            country: new.country,
            birth_date: new.birth_date,
            followers: new.followers,
            suspended: false,
            own_daily_limit: None,
            own_weekly_limit: None,
            payout_account: None,
            created_at: crate::now(),
        };
        let birth = user
            .birth_date
            .map(|d| d.format(DATE_FORMAT))
            .transpose()
            .map_err(corrupt)?;
        let followers = user.followers.map(|f| i64::try_from(f).unwrap_or(i64::MAX));
        let result = with_pool!(&self.db, pool => sqlx::query(
            "INSERT INTO users (id, handle, kind, country, birth_date, followers, suspended, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 0, $7)",
        )
        .bind(user.id.as_str())
        .bind(&user.handle)
        .bind(user.kind.as_str())
        .bind(user.country.as_str())
        .bind(birth)
        .bind(followers)
        .bind(to_micros(user.created_at))
        .execute(pool)
        .await
        .map(|done| done.rows_affected()));
        match result {
            Ok(_) => Ok(user),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(StoreError::HandleTaken)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A user by id.
    pub async fn user(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        with_pool!(&self.db, pool => sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE id = $1"
        ))
        .bind(id.as_str())
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(user_from_row)
        .transpose())
    }

    /// Stores a token's hash for a user.
    pub async fn insert_token(&self, hash: &str, user: &UserId) -> Result<(), StoreError> {
        with_pool!(&self.db, pool => sqlx::query("INSERT INTO tokens (hash, user_id, created_at) VALUES ($1, $2, $3)")
            .bind(hash)
            .bind(user.as_str())
            .bind(to_micros(crate::now()))
            .execute(pool)
            .await?
            .rows_affected());
        Ok(())
    }

    /// The user a token hash belongs to.
    pub async fn user_by_token(&self, hash: &str) -> Result<Option<User>, StoreError> {
        with_pool!(&self.db, pool => sqlx::query(
            "SELECT u.id, u.handle, u.kind, u.country, u.birth_date, u.followers, u.suspended, \
                    u.own_daily_limit, u.own_weekly_limit, u.payout_account, u.created_at \
             FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.hash = $1",
        )
            .bind(hash)
            .fetch_optional(pool)
            .await?
            .as_ref()
            .map(user_from_row)
            .transpose())
    }

    /// Starts a live, with its badge goal in hearts if the creator set one.
    pub async fn create_live(
        &self,
        creator: &UserId,
        title: &str,
        goal_hearts: Option<u32>,
    ) -> Result<Live, StoreError> {
        let live = Live {
            id: LiveId::generate(),
            creator_id: creator.clone(),
            title: title.to_owned(),
            active: true,
            started_at: crate::now(),
            ended_at: None,
            goal_hearts,
        };
        with_pool!(&self.db, pool => sqlx::query(
            "INSERT INTO lives (id, creator_id, title, status, started_at, goal_hearts) VALUES ($1, $2, $3, 'live', $4, $5)",
        )
        .bind(live.id.as_str())
        .bind(live.creator_id.as_str())
        .bind(&live.title)
        .bind(to_micros(live.started_at))
        .bind(goal_hearts.map(i64::from))
        .execute(pool)
        .await?
        .rows_affected());
        Ok(live)
    }

    /// A live by id.
    pub async fn live(&self, id: &LiveId) -> Result<Option<Live>, StoreError> {
        with_pool!(&self.db, pool => sqlx::query(concat!(
            "SELECT ",
            live_columns!(),
            " FROM lives WHERE id = $1"
        ))
        .bind(id.as_str())
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(live_from_row)
        .transpose())
    }

    /// Ends a live. Returns the live and whether this call ended it.
    pub async fn end_live(&self, id: &LiveId) -> Result<Option<(Live, bool)>, StoreError> {
        let changed = with_pool!(&self.db, pool => sqlx::query(
            "UPDATE lives SET status = 'ended', ended_at = $2 WHERE id = $1 AND status = 'live'",
        )
        .bind(id.as_str())
        .bind(to_micros(crate::now()))
        .execute(pool)
        .await?
        .rows_affected()
            > 0);
        Ok(self.live(id).await?.map(|l| (l, changed)))
    }

    /// The highest tier `viewer` holds in `live` (refunded purchases do not count).
    pub async fn top_tier(
        &self,
        live: &LiveId,
        viewer: &UserId,
    ) -> Result<Option<Tier>, StoreError> {
        let tier: Option<i64> = with_pool!(&self.db, pool => sqlx::query_scalar(
            "SELECT MAX(tier) FROM purchases WHERE live_id = $1 AND viewer_id = $2 AND status = 'succeeded'",
        )
        .bind(live.as_str())
        .bind(viewer.as_str())
        .fetch_one(pool)
        .await?);
        tier.map(tier_from).transpose()
    }

    /// Adds a comment, with the author's badge in this live taken in the same statement;
    /// `None` when the live is not (or no longer) on.
    pub async fn insert_comment(
        &self,
        live: &LiveId,
        author: &User,
        text: &str,
    ) -> Result<Option<Comment>, StoreError> {
        let id = CommentId::generate();
        let created_at = crate::now();
        let inserted: Option<Option<i64>> = with_pool!(&self.db, pool => sqlx::query_scalar(
            "INSERT INTO comments (id, live_id, author_id, text, badge_tier, created_at) \
             SELECT $1, $2, $3, $4, \
               (SELECT MAX(tier) FROM purchases WHERE live_id = $2 AND viewer_id = $3 AND status = 'succeeded'), $5 \
             WHERE EXISTS (SELECT 1 FROM lives WHERE id = $2 AND status = 'live') \
             RETURNING badge_tier",
        )
        .bind(id.as_str())
        .bind(live.as_str())
        .bind(author.id.as_str())
        .bind(text)
        .bind(to_micros(created_at))
        .fetch_optional(pool)
        .await?);
        let Some(badge) = inserted else {
            return Ok(None);
        };
        Ok(Some(Comment {
            id,
            live_id: live.clone(),
            author_id: author.id.clone(),
            author_handle: author.handle.clone(),
            text: text.to_owned(),
            badge_tier: badge.map(tier_from).transpose()?,
            created_at,
        }))
    }

    /// Comments of a live, oldest first, after the cursor (a comment id).
    pub async fn comments(
        &self,
        live: &LiveId,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<Comment>, StoreError> {
        let rows = with_pool!(&self.db, pool => sqlx::query(
            "SELECT c.id, c.live_id, c.author_id, u.handle AS author_handle, c.text, c.badge_tier, c.created_at \
             FROM comments c JOIN users u ON u.id = c.author_id \
             WHERE c.live_id = $1 AND c.id > $2 ORDER BY c.id LIMIT $3",
        )
        .bind(live.as_str())
        .bind(cursor.unwrap_or(""))
        .bind(i64::from(limit) + 1)
        .fetch_all(pool)
        .await?
        .iter()
        .map(comment_from_row)
        .collect::<Result<Vec<_>, _>>())?;
        let mut data: Vec<Comment> = rows;
        let next_cursor = if data.len() > limit as usize {
            data.truncate(limit as usize);
            data.last().map(|c| c.id.as_str().to_owned())
        } else {
            None
        };
        Ok(Page { data, next_cursor })
    }

    /// A purchase by id.
    pub async fn purchase(&self, id: &PurchaseId) -> Result<Option<Purchase>, StoreError> {
        with_pool!(&self.db, pool => sqlx::query(concat!(
            "SELECT ",
            purchase_columns!(),
            " FROM purchases WHERE id = $1"
        ))
        .bind(id.as_str())
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(purchase_from_row)
        .transpose())
    }

    /// The purchase paid by the provider's payment `payment_id`.
    pub async fn purchase_by_payment(
        &self,
        payment_id: &str,
    ) -> Result<Option<Purchase>, StoreError> {
        with_pool!(&self.db, pool => sqlx::query(concat!(
            "SELECT ",
            purchase_columns!(),
            " FROM purchases WHERE payment_id = $1"
        ))
        .bind(payment_id)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(purchase_from_row)
        .transpose())
    }

    /// Sets the spending caps a user chose for themselves (`None` clears one).
    pub async fn set_own_limits(
        &self,
        user: &UserId,
        daily: Option<i64>,
        weekly: Option<i64>,
    ) -> Result<(), StoreError> {
        with_pool!(&self.db, pool => sqlx::query(
            "UPDATE users SET own_daily_limit = $2, own_weekly_limit = $3 WHERE id = $1",
        )
        .bind(user.as_str())
        .bind(daily)
        .bind(weekly)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Creators' available accounts holding a positive spendable balance, by account id
    /// after `after`: (creator, currency, spendable).
    pub async fn payable(
        &self,
        after: &str,
        limit: u32,
    ) -> Result<Vec<(String, UserId, Currency, i64)>, StoreError> {
        with_pool!(&self.db, pool => sqlx::query(
            "SELECT id, owner, currency, credits_posted - debits_posted - debits_pending AS spendable \
             FROM ledger_accounts \
             WHERE purpose = 'creator_available' AND id > $1 \
               AND credits_posted - debits_posted - debits_pending > 0 \
             ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?
        .iter()
        .map(|row| {
            let currency = Currency::parse(&row.text("currency")?).map_err(corrupt)?;
            Ok((
                row.text("id")?,
                UserId::from_string(row.text("owner")?),
                currency,
                row.int("spendable")?,
            ))
        })
        .collect::<Result<Vec<_>, StoreError>>())
    }

    /// How many creators' available accounts hold a positive balance.
    pub async fn count_payable(&self) -> Result<u64, StoreError> {
        let n: i64 = with_pool!(&self.db, pool => sqlx::query_scalar(
            "SELECT COUNT(*) FROM ledger_accounts \
             WHERE purpose = 'creator_available' AND credits_posted - debits_posted - debits_pending > 0",
        )
        .fetch_one(pool)
        .await?);
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// A payout by id.
    pub async fn payout(&self, id: &PayoutId) -> Result<Option<Payout>, StoreError> {
        with_pool!(&self.db, pool => sqlx::query(concat!(
            "SELECT ", payout_columns!(), " FROM payouts WHERE id = $1"
        ))
        .bind(id.as_str())
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(payout_from_row)
        .transpose())
    }

    /// A creator's payouts, newest first.
    pub async fn payouts_of(
        &self,
        creator: &UserId,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<Payout>, StoreError> {
        let mut data = with_pool!(&self.db, pool => sqlx::query(concat!(
            "SELECT ", payout_columns!(), " FROM payouts \
             WHERE creator_id = $1 AND ($2 = '' OR id < $2) ORDER BY id DESC LIMIT $3"
        ))
        .bind(creator.as_str())
        .bind(cursor.unwrap_or(""))
        .bind(i64::from(limit) + 1)
        .fetch_all(pool)
        .await?
        .iter()
        .map(payout_from_row)
        .collect::<Result<Vec<_>, _>>())?;
        let next_cursor = if data.len() > limit as usize {
            data.truncate(limit as usize);
            data.last().map(|p| p.id.to_string())
        } else {
            None
        };
        Ok(Page { data, next_cursor })
    }

    /// Pending payouts the provider has not acknowledged (the process stopped between the
    /// ledger and the provider, or the provider was unreachable), oldest first.
    pub async fn unsent_payouts(&self, limit: u32) -> Result<Vec<Payout>, StoreError> {
        with_pool!(&self.db, pool => sqlx::query(concat!(
            "SELECT ", payout_columns!(), " FROM payouts \
             WHERE status = 'pending' AND provider_id IS NULL ORDER BY created_at, id LIMIT $1"
        ))
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?
        .iter()
        .map(payout_from_row)
        .collect::<Result<Vec<_>, _>>())
    }

    /// Every transfer debiting or crediting one of `accounts` (none of them the platform's)
    /// created before `until`, in the order applied, with its creation time.
    pub async fn account_transfers(
        &self,
        accounts: &[String],
        until: OffsetDateTime,
    ) -> Result<Vec<(ledger::Transfer, OffsetDateTime)>, StoreError> {
        if accounts.is_empty() {
            return Ok(Vec::new());
        }
        // `IN ($2, $3, …)`: only placeholders are formatted in. The `NOT LIKE` terms repeat
        // the partial indexes' conditions, so that both databases use them.
        let list: Vec<String> = (0..accounts.len()).map(|i| format!("${}", i + 2)).collect();
        let list = list.join(", ");
        let sql = format!(
            "SELECT {cols}, seq, created_at FROM transfers \
             WHERE credit_account IN ({list}) AND credit_account NOT LIKE 'platform/%' AND created_at < $1 \
             UNION \
             SELECT {cols}, seq, created_at FROM transfers \
             WHERE debit_account IN ({list}) AND debit_account NOT LIKE 'platform/%' AND created_at < $1 \
             ORDER BY seq",
            cols = transfer_columns!()
        );
        with_pool!(&self.db, pool => {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(to_micros(until));
            for a in accounts {
                query = query.bind(a.as_str());
            }
            query
                .fetch_all(pool)
                .await?
                .iter()
                .map(|row| Ok((transfer_from(row)?, from_micros(row.int("created_at")?))))
                .collect::<Result<Vec<_>, StoreError>>()
        })
    }

    /// Purchases by id.
    pub async fn purchases(&self, ids: &[String]) -> Result<Vec<Purchase>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let list: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 1)).collect();
            let sql = format!(
                "SELECT {} FROM purchases WHERE id IN ({})",
                purchase_columns!(),
                list.join(", ")
            );
            let rows = with_pool!(&self.db, pool => {
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for id in chunk {
                    query = query.bind(id.as_str());
                }
                query
                    .fetch_all(pool)
                    .await?
                    .iter()
                    .map(purchase_from_row)
                    .collect::<Result<Vec<_>, StoreError>>()
            })?;
            out.extend(rows);
        }
        Ok(out)
    }

    /// A top-up by id.
    pub async fn topup(&self, id: &TopupId) -> Result<Option<Topup>, StoreError> {
        with_pool!(&self.db, pool => sqlx::query(
            "SELECT id, user_id, amount, currency, processor_fee, payment_id, status, created_at \
             FROM topups WHERE id = $1",
        )
        .bind(id.as_str())
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(topup_from_row)
        .transpose())
    }

    /// Sets where the provider pays a creator.
    pub async fn set_payout_account(
        &self,
        user: &UserId,
        account: Option<&str>,
    ) -> Result<bool, StoreError> {
        Ok(with_pool!(&self.db, pool => sqlx::query(
            "UPDATE users SET payout_account = $2 WHERE id = $1",
        )
        .bind(user.as_str())
        .bind(account)
        .execute(pool)
        .await?
        .rows_affected())
            == 1)
    }

    /// The top-up paid by the provider's payment `payment_id`.
    pub async fn topup_by_payment(&self, payment_id: &str) -> Result<Option<Topup>, StoreError> {
        with_pool!(&self.db, pool => sqlx::query(
            "SELECT id, user_id, amount, currency, processor_fee, payment_id, status, created_at \
             FROM topups WHERE payment_id = $1",
        )
        .bind(payment_id)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(topup_from_row)
        .transpose())
    }

    /// Records a match program (its budget is funded through the ledger writer).
    pub async fn insert_match_program(&self, p: &MatchProgram) -> Result<(), StoreError> {
        let caps: BTreeMap<&str, i64> = p
            .caps
            .iter()
            .map(|m| (m.currency().code(), m.amount()))
            .collect();
        let caps = serde_json::to_string(&caps).map_err(|e| corrupt(e.to_string()))?;
        let countries: Vec<&str> = p.countries.iter().map(|c| c.as_str()).collect();
        with_pool!(&self.db, pool => sqlx::query(
            "INSERT INTO match_programs (id, name, rate_bps, caps, countries, starts_at, ends_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(p.id.as_str())
        .bind(&p.name)
        .bind(i64::from(p.rate.get()))
        .bind(&caps)
        .bind(countries.join(","))
        .bind(to_micros(p.starts_at))
        .bind(to_micros(p.ends_at))
        .bind(to_micros(p.created_at))
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Every match program, oldest first.
    pub async fn match_programs(&self) -> Result<Vec<MatchProgram>, StoreError> {
        with_pool!(&self.db, pool => sqlx::query(
            "SELECT id, name, rate_bps, caps, countries, starts_at, ends_at, created_at \
             FROM match_programs ORDER BY created_at, id",
        )
        .fetch_all(pool)
        .await?
        .iter()
        .map(match_program_from_row)
        .collect::<Result<Vec<_>, _>>())
    }

    /// What a match program has matched in `currency`, over every creator.
    pub async fn matched_total(
        &self,
        program: &MatchProgramId,
        currency: Currency,
    ) -> Result<i64, StoreError> {
        Ok(with_pool!(&self.db, pool => sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(matched), 0) AS BIGINT) FROM match_usage \
             WHERE program_id = $1 AND currency = $2",
        )
        .bind(program.as_str())
        .bind(currency.code())
        .fetch_one(pool)
        .await?))
    }

    /// What a match program has matched per creator and currency.
    pub async fn match_used(
        &self,
        program: &MatchProgramId,
        creator: &UserId,
        currency: Currency,
    ) -> Result<i64, StoreError> {
        Ok(with_pool!(&self.db, pool => sqlx::query_scalar(
            "SELECT matched FROM match_usage WHERE program_id = $1 AND creator_id = $2 AND currency = $3",
        )
        .bind(program.as_str())
        .bind(creator.as_str())
        .bind(currency.code())
        .fetch_optional(pool)
        .await?)
        .unwrap_or(0))
    }

    /// A hold by id (the income event's id).
    pub async fn hold(&self, id: &str) -> Result<Option<Hold>, StoreError> {
        with_pool!(&self.db, pool => sqlx::query(concat!(
            "SELECT ",
            hold_columns!(),
            " FROM holds WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(hold_from_row)
        .transpose())
    }

    /// Holds whose period ended by `now`, oldest first, after `after` (the last hold of
    /// the previous page: its release time and id).
    pub async fn due_holds(
        &self,
        now: OffsetDateTime,
        after: Option<(OffsetDateTime, &str)>,
        limit: u32,
    ) -> Result<Vec<Hold>, StoreError> {
        let (after_at, after_id) = after.map_or((i64::MIN, ""), |(at, id)| (to_micros(at), id));
        with_pool!(&self.db, pool => sqlx::query(concat!(
            "SELECT ",
            hold_columns!(),
            " FROM holds WHERE status = 'held' AND release_at <= $1 \
               AND (release_at > $2 OR (release_at = $2 AND id > $3)) \
             ORDER BY release_at, id LIMIT $4"
        ))
        .bind(to_micros(now))
        .bind(after_at)
        .bind(after_id)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?
        .iter()
        .map(hold_from_row)
        .collect::<Result<Vec<_>, _>>())
    }

    /// What `viewer` spent in `currency` since `since` (succeeded purchases).
    pub async fn spent_since(
        &self,
        viewer: &UserId,
        currency: Currency,
        since: OffsetDateTime,
    ) -> Result<i64, StoreError> {
        Ok(with_pool!(&self.db, pool => sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM purchases \
             WHERE viewer_id = $1 AND currency = $2 AND status = 'succeeded' AND created_at >= $3",
        )
        .bind(viewer.as_str())
        .bind(currency.code())
        .bind(to_micros(since))
        .fetch_one(pool)
        .await?))
    }

    /// Supporters of a live: by top tier, then number of purchases, both descending.
    pub async fn supporters(
        &self,
        live: &LiveId,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<Supporter>, StoreError> {
        let offset = offset_of(cursor);
        let rows = with_pool!(&self.db, pool => sqlx::query(
            "SELECT p.viewer_id, u.handle, MAX(p.tier) AS top_tier, COUNT(*) AS n \
             FROM purchases p JOIN users u ON u.id = p.viewer_id \
             WHERE p.live_id = $1 AND p.status = 'succeeded' \
             GROUP BY p.viewer_id, u.handle \
             ORDER BY top_tier DESC, n DESC, p.viewer_id \
             LIMIT $2 OFFSET $3",
        )
        .bind(live.as_str())
        .bind(i64::from(limit) + 1)
        .bind(offset)
        .fetch_all(pool)
        .await?
        .iter()
        .map(supporter_from_row)
        .collect::<Result<Vec<_>, _>>())?;
        let mut data = rows;
        let next_cursor = if data.len() > limit as usize {
            data.truncate(limit as usize);
            Some(format!("o{}", offset + i64::from(limit)))
        } else {
            None
        };
        self.fill_supporter_totals(crate::dashboard::Scope::Live(live), &mut data)
            .await?;
        Ok(Page { data, next_cursor })
    }

    /// A creator's balances per currency and income per source.
    pub async fn earnings(&self, creator: &UserId) -> Result<Earnings, StoreError> {
        // A payout waiting for the provider is already out of the available balance.
        let rows = with_pool!(&self.db, pool => sqlx::query(
            "SELECT purpose, currency, \
                    credits_posted - debits_posted - CASE WHEN purpose = 'creator_available' THEN debits_pending ELSE 0 END AS balance \
             FROM ledger_accounts WHERE owner = $1",
        )
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

    /// The stored answer for an idempotency key.
    pub async fn idempotency(
        &self,
        account: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        with_pool!(&self.db, pool => sqlx::query(concat!(
            "SELECT ",
            idempotency_columns!(),
            " FROM idempotency WHERE account_id = $1 AND key = $2"
        ))
        .bind(account)
        .bind(key)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(idempotency_from)
        .transpose())
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
}
