//! The brand marketplace: creators' metrics (from the platform) and profiles (their own),
//! brands' campaigns, offers (whose money and status change only through the ledger writer;
//! read here) and ratings, and what the matching index loads of each creator.

use std::collections::BTreeMap;

use money::{Currency, Money};
use postings::{CampaignId, Offer, OfferId, OfferStatus};
use time::OffsetDateTime;

use super::{Page, page_by_id};
use crate::columns::{Columns, corrupt};
use crate::rows::UserId;
use crate::{Store, StoreError, from_micros, to_micros, with_pool};

/// What the platform knows of a creator's audience and work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatorMetrics {
    /// Followers.
    pub followers: u64,
    /// Average views per post or live.
    pub avg_views: u64,
    /// Engagement rate in basis points.
    pub engagement_bps: u32,
    /// Audience share per country (ISO 3166-1 alpha-2), in basis points.
    pub audience_countries: BTreeMap<String, u32>,
    /// Audience share per age range (`18-24`), in basis points.
    pub audience_ages: BTreeMap<String, u32>,
    /// Last change.
    pub updated_at: OffsetDateTime,
}

/// What a creator says of themselves to brands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatorProfile {
    /// Their niches (`cooking`).
    pub niches: Vec<String>,
    /// A few words.
    pub bio: String,
    /// Whether they want offers (a creator who does not is never matched).
    pub open_to_deals: bool,
    /// Their usual fee for one deal, if they state it.
    pub rate: Option<Money>,
    /// Last change.
    pub updated_at: OffsetDateTime,
}

/// A brand's campaign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Campaign {
    /// Its id.
    pub id: CampaignId,
    /// The brand.
    pub brand_id: UserId,
    /// For people.
    pub title: String,
    /// What the brand wants made.
    pub brief: String,
    /// Wanted niches (none: any).
    pub niches: Vec<String>,
    /// Wanted audience countries (none: anywhere).
    pub countries: Vec<String>,
    /// The fee per creator the brand proposes.
    pub fee: Money,
    /// How many creators it wants.
    pub slots: u32,
    /// When deliveries are due; the campaign closes then.
    pub deadline: OffsetDateTime,
    /// `open` or `closed` as stored (a campaign past its deadline reads as closed).
    pub status: String,
    /// When it was posted.
    pub created_at: OffsetDateTime,
}

impl Campaign {
    /// `open` until its deadline (or until closed), then `closed`.
    pub fn status_at(&self, now: OffsetDateTime) -> &'static str {
        if self.status == "open" && now < self.deadline {
            "open"
        } else {
            "closed"
        }
    }
}

/// One side's rating of an approved offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rating {
    /// The offer.
    pub offer_id: OfferId,
    /// `brand` (the brand rates the creator) or `creator` (the creator rates the brand).
    pub side: &'static str,
    /// Who rated.
    pub rater_id: UserId,
    /// Who was rated.
    pub ratee_id: UserId,
    /// 1–5.
    pub stars: u8,
    /// When.
    pub created_at: OffsetDateTime,
}

/// A creator as the matching index sees them, with their handle for answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarketCreator {
    /// What the ranking sees.
    pub creator: market::Creator,
    /// Their handle.
    pub handle: String,
    /// Whether they can be matched: metrics known, open to deals, not suspended.
    pub matchable: bool,
}

fn shares_json(shares: &BTreeMap<String, u32>) -> String {
    serde_json::to_string(shares).unwrap_or_else(|_| "{}".to_owned())
}

fn list_json(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".to_owned())
}

fn json_of<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt(format!("{what}: {e}")))
}

fn unsigned(what: &str, v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| corrupt(format!("{what}: negative {v}")))
}

fn metrics_from(row: &impl Columns) -> Result<CreatorMetrics, StoreError> {
    Ok(CreatorMetrics {
        followers: unsigned("followers", row.int("followers")?)?,
        avg_views: unsigned("avg_views", row.int("avg_views")?)?,
        engagement_bps: u32::try_from(row.int("engagement_bps")?)
            .map_err(|e| corrupt(format!("engagement_bps: {e}")))?,
        audience_countries: json_of("audience_countries", &row.text("audience_countries")?)?,
        audience_ages: json_of("audience_ages", &row.text("audience_ages")?)?,
        updated_at: from_micros(row.int("updated_at")?),
    })
}

fn rate_from(row: &impl Columns) -> Result<Option<Money>, StoreError> {
    match (row.opt_int("rate")?, row.opt_text("rate_currency")?) {
        (Some(amount), Some(currency)) => Ok(Some(Money::new(
            amount,
            Currency::parse(&currency).map_err(|e| corrupt(format!("rate_currency: {e}")))?,
        ))),
        _ => Ok(None),
    }
}

fn profile_from(row: &impl Columns) -> Result<CreatorProfile, StoreError> {
    Ok(CreatorProfile {
        niches: json_of("niches", &row.text("niches")?)?,
        bio: row.text("bio")?,
        open_to_deals: row.int("open_to_deals")? != 0,
        rate: rate_from(row)?,
        updated_at: from_micros(row.int("updated_at")?),
    })
}

macro_rules! campaign_columns {
    () => {
        "id, brand_id, title, brief, niches, countries, fee, currency, slots, deadline, status, \
         created_at"
    };
}

fn campaign_from(row: &impl Columns) -> Result<Campaign, StoreError> {
    let id = row.text("id")?;
    let bad = |e: String| corrupt(format!("campaign {id}: {e}"));
    let currency = Currency::parse(&row.text("currency")?).map_err(|e| bad(e.to_string()))?;
    Ok(Campaign {
        brand_id: UserId::from_string(row.text("brand_id")?),
        title: row.text("title")?,
        brief: row.text("brief")?,
        niches: json_of("niches", &row.text("niches")?)?,
        countries: json_of("countries", &row.text("countries")?)?,
        fee: Money::new(row.int("fee")?, currency),
        slots: u32::try_from(row.int("slots")?).map_err(|e| bad(e.to_string()))?,
        deadline: from_micros(row.int("deadline")?),
        status: row.text("status")?,
        created_at: from_micros(row.int("created_at")?),
        id: CampaignId::from_string(id),
    })
}

macro_rules! offer_columns {
    () => {
        "id, campaign_id, brand_id, creator_id, fee, currency, platform_fee, creator_share, \
         status, expires_at, delivery_url, delivered_at, approve_by, note, on_time, \
         auto_approved, hold_id, created_at, updated_at"
    };
}
pub(crate) use offer_columns;

fn offer_from(row: &impl Columns) -> Result<Offer, StoreError> {
    let id = row.text("id")?;
    let bad = |e: String| corrupt(format!("offer {id}: {e}"));
    let currency = Currency::parse(&row.text("currency")?).map_err(|e| bad(e.to_string()))?;
    let status = row.text("status")?;
    Ok(Offer {
        campaign_id: CampaignId::from_string(row.text("campaign_id")?),
        brand_id: UserId::from_string(row.text("brand_id")?),
        creator_id: UserId::from_string(row.text("creator_id")?),
        fee: Money::new(row.int("fee")?, currency),
        platform_fee: Money::new(row.int("platform_fee")?, currency),
        creator_share: Money::new(row.int("creator_share")?, currency),
        status: OfferStatus::parse(&status).ok_or_else(|| bad(format!("status {status}")))?,
        expires_at: from_micros(row.int("expires_at")?),
        delivery_url: row.opt_text("delivery_url")?,
        delivered_at: row.opt_int("delivered_at")?.map(from_micros),
        approve_by: row.opt_int("approve_by")?.map(from_micros),
        note: row.opt_text("note")?,
        on_time: row.opt_int("on_time")?.map(|v| v != 0),
        auto_approved: row.int("auto_approved")? != 0,
        hold_id: row.opt_text("hold_id")?,
        created_at: from_micros(row.int("created_at")?),
        updated_at: from_micros(row.int("updated_at")?),
        id: OfferId::from_string(id),
    })
}

impl Store {
    /// Replaces what the platform reports of `creator`.
    pub async fn put_creator_metrics(
        &self,
        creator: &UserId,
        m: &CreatorMetrics,
    ) -> Result<(), StoreError> {
        with_pool!(&self.db, pool => sqlx::query(
            "INSERT INTO creator_metrics (creator_id, followers, avg_views, engagement_bps, \
             audience_countries, audience_ages, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (creator_id) DO UPDATE SET followers = excluded.followers, \
             avg_views = excluded.avg_views, engagement_bps = excluded.engagement_bps, \
             audience_countries = excluded.audience_countries, \
             audience_ages = excluded.audience_ages, updated_at = excluded.updated_at",
        )
        .bind(creator.as_str())
        .bind(i64::try_from(m.followers).unwrap_or(i64::MAX))
        .bind(i64::try_from(m.avg_views).unwrap_or(i64::MAX))
        .bind(i64::from(m.engagement_bps))
        .bind(shares_json(&m.audience_countries))
        .bind(shares_json(&m.audience_ages))
        .bind(to_micros(m.updated_at))
        .execute(pool)
        .await
        .map(drop))?;
        Ok(())
    }

    /// What the platform reported of `creator`, if anything.
    pub async fn creator_metrics(
        &self,
        creator: &UserId,
    ) -> Result<Option<CreatorMetrics>, StoreError> {
        with_pool!(&self.db, pool => sqlx::query(
            "SELECT followers, avg_views, engagement_bps, audience_countries, audience_ages, \
             updated_at FROM creator_metrics WHERE creator_id = $1",
        )
        .bind(creator.as_str())
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(metrics_from)
        .transpose())
    }

    /// Replaces `creator`'s profile.
    pub async fn put_creator_profile(
        &self,
        creator: &UserId,
        p: &CreatorProfile,
    ) -> Result<(), StoreError> {
        with_pool!(&self.db, pool => sqlx::query(
            "INSERT INTO creator_profiles (creator_id, niches, bio, open_to_deals, rate, \
             rate_currency, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (creator_id) DO UPDATE SET niches = excluded.niches, \
             bio = excluded.bio, open_to_deals = excluded.open_to_deals, rate = excluded.rate, \
             rate_currency = excluded.rate_currency, updated_at = excluded.updated_at",
        )
        .bind(creator.as_str())
        .bind(list_json(&p.niches))
        .bind(&p.bio)
        .bind(i64::from(p.open_to_deals))
        .bind(p.rate.map(|r| r.amount()))
        .bind(p.rate.map(|r| r.currency().code()))
        .bind(to_micros(p.updated_at))
        .execute(pool)
        .await
        .map(drop))?;
        Ok(())
    }

    /// `creator`'s profile, if they wrote one.
    pub async fn creator_profile(
        &self,
        creator: &UserId,
    ) -> Result<Option<CreatorProfile>, StoreError> {
        with_pool!(&self.db, pool => sqlx::query(
            "SELECT niches, bio, open_to_deals, rate, rate_currency, updated_at FROM creator_profiles \
             WHERE creator_id = $1",
        )
        .bind(creator.as_str())
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(profile_from)
        .transpose())
    }

    /// Records a new campaign.
    pub async fn insert_campaign(&self, c: &Campaign) -> Result<(), StoreError> {
        with_pool!(&self.db, pool => sqlx::query(concat!(
            "INSERT INTO campaigns (", campaign_columns!(), ") \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        ))
        .bind(c.id.as_str())
        .bind(c.brand_id.as_str())
        .bind(&c.title)
        .bind(&c.brief)
        .bind(list_json(&c.niches))
        .bind(list_json(&c.countries))
        .bind(c.fee.amount())
        .bind(c.fee.currency().code())
        .bind(i64::from(c.slots))
        .bind(to_micros(c.deadline))
        .bind(&c.status)
        .bind(to_micros(c.created_at))
        .execute(pool)
        .await
        .map(drop))?;
        Ok(())
    }

    /// Campaign `id`, if it exists.
    pub async fn campaign(&self, id: &str) -> Result<Option<Campaign>, StoreError> {
        with_pool!(&self.db, pool => sqlx::query(concat!(
            "SELECT ", campaign_columns!(), " FROM campaigns WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(campaign_from)
        .transpose())
    }

    /// Campaigns by id after `after`: of `brand` when given; with `open_at`, only those open
    /// then (stored open, deadline after it).
    pub async fn campaigns(
        &self,
        brand: Option<&str>,
        open_at: Option<OffsetDateTime>,
        after: &str,
        limit: u32,
    ) -> Result<Page<Campaign>, StoreError> {
        let rows = with_pool!(&self.db, pool => sqlx::query(concat!(
            "SELECT ", campaign_columns!(), " FROM campaigns \
             WHERE id > $1 AND ($2 IS NULL OR brand_id = $2) \
             AND ($3 IS NULL OR (status = 'open' AND deadline > $3)) \
             ORDER BY id LIMIT $4"
        ))
        .bind(after)
        .bind(brand)
        .bind(open_at.map(to_micros))
        .bind(i64::from(limit) + 1)
        .fetch_all(pool)
        .await?
        .iter()
        .map(campaign_from)
        .collect::<Result<Vec<_>, _>>())?;
        Ok(page_by_id(rows, limit, |c| c.id.to_string()))
    }

    /// Every campaign open at `now`, newest first, at most `limit`.
    pub async fn open_campaigns(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<Campaign>, StoreError> {
        with_pool!(&self.db, pool => sqlx::query(concat!(
            "SELECT ", campaign_columns!(), " FROM campaigns \
             WHERE status = 'open' AND deadline > $1 ORDER BY created_at DESC, id DESC LIMIT $2"
        ))
        .bind(to_micros(now))
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?
        .iter()
        .map(campaign_from)
        .collect())
    }

    /// How many of a campaign's offers hold or have paid a slot.
    pub async fn campaign_slots_taken(&self, campaign: &CampaignId) -> Result<u32, StoreError> {
        let n: i64 = with_pool!(&self.db, pool => sqlx::query_scalar(concat!(
            "SELECT COUNT(*) FROM offers WHERE campaign_id = $1 AND status IN ",
            "('offered', 'accepted', 'delivered', 'changes_requested', 'approved')"
        ))
        .bind(campaign.as_str())
        .fetch_one(pool)
        .await?);
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// Whether `creator` has an offer for `campaign` that holds or has paid a slot.
    pub async fn campaign_has_offer_for(
        &self,
        campaign: &CampaignId,
        creator: &UserId,
    ) -> Result<bool, StoreError> {
        let n: i64 = with_pool!(&self.db, pool => sqlx::query_scalar(concat!(
            "SELECT COUNT(*) FROM offers WHERE campaign_id = $1 AND creator_id = $2 AND status IN ",
            "('offered', 'accepted', 'delivered', 'changes_requested', 'approved')"
        ))
        .bind(campaign.as_str())
        .bind(creator.as_str())
        .fetch_one(pool)
        .await?);
        Ok(n > 0)
    }

    /// Offer `id`, if it exists.
    pub async fn offer(&self, id: &str) -> Result<Option<Offer>, StoreError> {
        with_pool!(&self.db, pool => sqlx::query(concat!(
            "SELECT ", offer_columns!(), " FROM offers WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(offer_from)
        .transpose())
    }

    /// Offers by id after `after`, of `campaign` or to `creator` (one of them given).
    pub async fn offers(
        &self,
        campaign: Option<&str>,
        creator: Option<&str>,
        after: &str,
        limit: u32,
    ) -> Result<Page<Offer>, StoreError> {
        let rows = with_pool!(&self.db, pool => sqlx::query(concat!(
            "SELECT ", offer_columns!(), " FROM offers \
             WHERE id > $1 AND ($2 IS NULL OR campaign_id = $2) \
             AND ($3 IS NULL OR creator_id = $3) ORDER BY id LIMIT $4"
        ))
        .bind(after)
        .bind(campaign)
        .bind(creator)
        .bind(i64::from(limit) + 1)
        .fetch_all(pool)
        .await?
        .iter()
        .map(offer_from)
        .collect::<Result<Vec<_>, _>>())?;
        Ok(page_by_id(rows, limit, |o| o.id.to_string()))
    }

    /// Offers whose time has run out at `now`, at most `limit`: unanswered offers past
    /// `expires_at`, unanswered deliveries past `approve_by`.
    pub async fn offers_due(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<Offer>, StoreError> {
        with_pool!(&self.db, pool => sqlx::query(concat!(
            "SELECT ", offer_columns!(), " FROM offers \
             WHERE (status = 'offered' AND expires_at <= $1) \
             OR (status = 'delivered' AND approve_by <= $1) ORDER BY id LIMIT $2"
        ))
        .bind(to_micros(now))
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?
        .iter()
        .map(offer_from)
        .collect())
    }

    /// Records a rating; `false` when that side of the offer has rated already.
    pub async fn insert_rating(&self, r: &Rating) -> Result<bool, StoreError> {
        let done = with_pool!(&self.db, pool => sqlx::query(
            "INSERT INTO offer_ratings (offer_id, side, rater_id, ratee_id, stars, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(r.offer_id.as_str())
        .bind(r.side)
        .bind(r.rater_id.as_str())
        .bind(r.ratee_id.as_str())
        .bind(i64::from(r.stars))
        .bind(to_micros(r.created_at))
        .execute(pool)
        .await?
        .rows_affected());
        Ok(done == 1)
    }

    /// The ratings given on an offer (at most one per side).
    pub async fn offer_ratings(&self, offer: &OfferId) -> Result<Vec<(String, u8)>, StoreError> {
        with_pool!(&self.db, pool => sqlx::query(
            "SELECT side, stars FROM offer_ratings WHERE offer_id = $1 ORDER BY side",
        )
        .bind(offer.as_str())
        .fetch_all(pool)
        .await?
        .iter()
        .map(|row| {
            Ok((
                row.text("side")?,
                u8::try_from(row.int("stars")?).map_err(|e| corrupt(e.to_string()))?,
            ))
        })
        .collect())
    }

    /// Creators whose metrics, profile, ratings or deliveries changed at or after `since`,
    /// as the index sees them (every creator with metrics when `since` is `None`).
    pub async fn market_creators(
        &self,
        since: Option<OffsetDateTime>,
    ) -> Result<Vec<MarketCreator>, StoreError> {
        let since = since.map_or(0, to_micros);
        with_pool!(&self.db, pool => sqlx::query(
            "SELECT u.id, u.handle, u.suspended, m.followers, m.avg_views, m.engagement_bps, \
             m.audience_countries, m.audience_ages, m.updated_at, \
             p.niches, p.open_to_deals, p.rate, p.rate_currency, \
             (SELECT COUNT(*) FROM offer_ratings r WHERE r.ratee_id = u.id AND r.side = 'brand') \
                 AS ratings, \
             (SELECT COALESCE(CAST(SUM(r.stars) AS BIGINT), 0) FROM offer_ratings r \
                 WHERE r.ratee_id = u.id AND r.side = 'brand') AS stars, \
             (SELECT COUNT(*) FROM offers o WHERE o.creator_id = u.id AND o.status = 'approved') \
                 AS deliveries, \
             (SELECT COUNT(*) FROM offers o WHERE o.creator_id = u.id AND o.status = 'approved' \
                 AND o.on_time = 1) AS on_time \
             FROM creator_metrics m JOIN users u ON u.id = m.creator_id \
             LEFT JOIN creator_profiles p ON p.creator_id = m.creator_id \
             WHERE m.updated_at >= $1 OR p.updated_at >= $1 \
             OR EXISTS (SELECT 1 FROM offer_ratings r WHERE r.ratee_id = u.id \
                 AND r.created_at >= $1) \
             OR EXISTS (SELECT 1 FROM offers o WHERE o.creator_id = u.id AND o.updated_at >= $1)",
        )
        .bind(since)
        .fetch_all(pool)
        .await?
        .iter()
        .map(market_creator_from)
        .collect())
    }
}

fn count(row: &impl Columns, name: &str) -> Result<u32, StoreError> {
    u32::try_from(row.int(name)?).map_err(|e| corrupt(format!("{name}: {e}")))
}

fn market_creator_from(row: &impl Columns) -> Result<MarketCreator, StoreError> {
    let metrics = metrics_from(row)?;
    let niches: Vec<String> = match row.opt_text("niches")? {
        Some(text) => json_of("niches", &text)?,
        None => Vec::new(),
    };
    let open = row.opt_int("open_to_deals")?.is_none_or(|v| v != 0);
    Ok(MarketCreator {
        creator: market::Creator {
            id: row.text("id")?,
            followers: metrics.followers,
            avg_views: metrics.avg_views,
            engagement_bps: metrics.engagement_bps,
            audience_countries: metrics.audience_countries,
            audience_ages: metrics.audience_ages,
            niches,
            ratings: market::Ratings {
                count: count(row, "ratings")?,
                stars_sum: count(row, "stars")?,
            },
            deliveries: market::Deliveries {
                on_time: count(row, "on_time")?,
                total: count(row, "deliveries")?,
            },
            // The creator's stated rate: without one, value for money is neutral.
            fee: rate_from(row)?,
        },
        handle: row.text("handle")?,
        matchable: open && row.int("suspended")? == 0,
    })
}
