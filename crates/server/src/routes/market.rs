//! The brand marketplace: creators' metrics (the platform's) and profiles (their own),
//! brands' campaigns, the ranked matches of a campaign and the campaigns recommended to a
//! creator, offers with their fee held in escrow and each step of them, and ratings. Money
//! moves only through [`crate::flows::deals`], which takes its jobs from the postings home.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use market::Tier;
use postings::rules::{self, StepDetails};
use postings::{IncomeSource, Offer, OfferAction, OfferId, Outcome, Refusal};
use serde::{Deserialize, Serialize};
use store::{Campaign, CampaignId, CreatorMetrics, CreatorProfile, Rating, User, UserId};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::dto::{MoneyBody, rfc3339, time_field, to_json};
use crate::error::{ApiError, invalid};
use crate::extract::{
    Caller, Json, ListParams, Path, json_response, parse_json, plain_id, query_map,
};
use crate::flows::deals::{self, OFFER_TTL, Stepped};
use crate::idempotency::{Idempotency, Keyed, replay};
use crate::state::AppState;

// ---- The JSON bodies of this section, with their OpenAPI schemas ----

/// `PUT /v1/creators/{id}/metrics` (admin: the platform knows them).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MetricsRequest {
    /// 0–10,000,000,000.
    pub(crate) followers: u64,
    /// Average views per post or live, 0–10,000,000,000.
    pub(crate) avg_views: u64,
    /// Engagement rate, 0–10,000 basis points.
    pub(crate) engagement_bps: u32,
    /// Audience share per country (ISO 3166-1 alpha-2) in basis points, summing to at most
    /// 10,000; at most 250 countries.
    #[serde(default)]
    pub(crate) audience_countries: BTreeMap<String, u32>,
    /// Audience share per age range (`13-17`, `18-24`, `65+`: digits, then `-` and digits or
    /// `+`) in basis points, summing to at most 10,000; at most 20 ranges.
    #[serde(default)]
    pub(crate) audience_ages: BTreeMap<String, u32>,
}

/// A creator's metrics, with the tier they put them in.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MetricsBody {
    pub(crate) creator_id: String,
    pub(crate) followers: u64,
    pub(crate) avg_views: u64,
    pub(crate) engagement_bps: u32,
    pub(crate) audience_countries: BTreeMap<String, u32>,
    pub(crate) audience_ages: BTreeMap<String, u32>,
    /// `nano` (< 10k followers), `micro` (< 100k), `mid` (< 500k), `macro` (< 1M), `mega`.
    pub(crate) tier: String,
    /// RFC 3339.
    pub(crate) updated_at: String,
}

/// `PUT /v1/creators/{id}/profile` (that creator).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProfileRequest {
    /// At most 20, each 1–40 characters of `a-z`, `0-9`, `-` and `_` (given in any case:
    /// stored in lower case).
    pub(crate) niches: Vec<String>,
    /// At most 1,000 characters.
    #[serde(default)]
    pub(crate) bio: String,
    /// Whether the creator wants offers (default true); a creator who does not is never
    /// matched.
    #[serde(default = "yes")]
    pub(crate) open_to_deals: bool,
    /// The creator's usual fee for one deal (1..=100,000,000,000 minor units); absent or null:
    /// not stated. With it, the ranking judges value for money: engagements per unit of the
    /// rate, against the creators who state one in the same currency.
    #[serde(default)]
    pub(crate) rate: Option<MoneyBody>,
}

fn yes() -> bool {
    true
}

/// A creator's profile.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProfileBody {
    pub(crate) creator_id: String,
    pub(crate) handle: String,
    pub(crate) niches: Vec<String>,
    pub(crate) bio: String,
    pub(crate) open_to_deals: bool,
    /// The creator's usual fee for one deal, if stated.
    pub(crate) rate: Option<MoneyBody>,
    /// RFC 3339.
    pub(crate) updated_at: String,
}

/// `POST /v1/campaigns` (brand).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CampaignRequest {
    /// 1–200 characters.
    pub(crate) title: String,
    /// What the brand wants made, 1–5,000 characters.
    pub(crate) brief: String,
    /// Wanted niches (none: any), at most 20, as in profiles.
    #[serde(default)]
    pub(crate) niches: Vec<String>,
    /// Wanted audience countries (ISO 3166-1 alpha-2; none: anywhere), at most 50.
    #[serde(default)]
    pub(crate) countries: Vec<String>,
    /// The fee per creator the brand proposes (offers are in its currency).
    pub(crate) fee: MoneyBody,
    /// How many creators it wants, 1–1,000.
    pub(crate) slots: u32,
    /// RFC 3339, in the future and within two years: deliveries are due by then, and the
    /// campaign takes no offer after it.
    pub(crate) deadline: String,
}

/// A campaign.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CampaignBody {
    /// `cmp_…`.
    pub(crate) id: String,
    pub(crate) brand_id: String,
    pub(crate) title: String,
    pub(crate) brief: String,
    pub(crate) niches: Vec<String>,
    pub(crate) countries: Vec<String>,
    pub(crate) fee: MoneyBody,
    pub(crate) slots: u32,
    /// RFC 3339.
    pub(crate) deadline: String,
    /// `open` until its deadline, then `closed`.
    pub(crate) status: String,
    /// RFC 3339.
    pub(crate) created_at: String,
}

/// A page of campaigns.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CampaignList {
    pub(crate) data: Vec<CampaignBody>,
    pub(crate) next_cursor: Option<String>,
}

/// The parts of a match's score, each 0–10,000 basis points.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PartsBody {
    /// Niches, audience countries and ages against the brief.
    pub(crate) fit: u32,
    /// Engagement and views per follower, as percentiles within the creator's tier.
    pub(crate) quality: u32,
    /// Value for money: engagements from the brief's audience per unit of the creator's
    /// stated rate, on a log scale around the median creator's with a rate in that currency
    /// (5,000, neutral, for a creator who states none).
    pub(crate) value: u32,
    /// Ratings and on-time deliveries, shrunk toward the mean until there are enough.
    pub(crate) reliability: u32,
}

/// A creator matched to a campaign.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MatchBody {
    pub(crate) creator_id: String,
    pub(crate) handle: String,
    /// `nano`, `micro`, `mid`, `macro` or `mega`.
    pub(crate) tier: String,
    /// 0–10,000: fit 12 %, quality 12 %, value 70 %, reliability 6 % (with value neutral,
    /// creators rank as fit, quality and reliability 2:2:1 would rank them).
    pub(crate) score: u32,
    pub(crate) parts: PartsBody,
    /// One sentence: why this creator.
    pub(crate) why: String,
}

/// A campaign's matches, best first (each tier's exposure kept in line with its share of
/// quality among the candidates).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MatchList {
    pub(crate) data: Vec<MatchBody>,
    /// `o<n>`: the next `limit` after the first n (at most 1,000 matches in all).
    pub(crate) next_cursor: Option<String>,
}

/// A campaign recommended to a creator.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RecommendedBody {
    #[serde(flatten)]
    pub(crate) campaign: CampaignBody,
    /// How well the creator fits the brief, 0–10,000 basis points.
    pub(crate) fit: u32,
}

/// Open campaigns for a creator, best fit first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RecommendedList {
    pub(crate) data: Vec<RecommendedBody>,
    /// Always null: at most `limit` are recommended.
    pub(crate) next_cursor: Option<String>,
}

/// `POST /v1/campaigns/{id}/offers` (its brand).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OfferRequest {
    /// The creator offered.
    pub(crate) creator_id: String,
    /// In the campaign's currency; held from the brand's wallet until the offer ends.
    pub(crate) fee: MoneyBody,
}

/// `POST /v1/offers/{id}/deliver` (the creator).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeliverRequest {
    /// Where the work is: an absolute `http` or `https` address, at most 2,048 bytes.
    pub(crate) url: String,
}

/// `POST /v1/offers/{id}/request-changes` (the brand).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChangesRequest {
    /// What to change, 1–2,000 characters.
    pub(crate) note: String,
}

/// `POST /v1/offers/{id}/rating` (the brand or the creator of an approved offer, once each).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RatingRequest {
    /// 1–5.
    pub(crate) stars: u8,
}

/// A rating.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RatingBody {
    pub(crate) offer_id: String,
    /// `brand` (the brand rated the creator) or `creator` (the creator rated the brand).
    pub(crate) side: String,
    pub(crate) stars: u8,
    /// RFC 3339.
    pub(crate) created_at: String,
}

/// An offer.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OfferBody {
    /// `off_…`.
    pub(crate) id: String,
    pub(crate) campaign_id: String,
    pub(crate) brand_id: String,
    pub(crate) creator_id: String,
    /// Held from the brand's wallet while the offer is open; paid on approval (less the
    /// platform's fee for brand deals).
    pub(crate) fee: MoneyBody,
    /// `offered`, `accepted`, `declined`, `expired`, `cancelled`, `delivered`,
    /// `changes_requested` or `approved`.
    pub(crate) status: String,
    /// RFC 3339: an offer not accepted by then expires.
    pub(crate) expires_at: String,
    /// The delivery's address, once delivered.
    pub(crate) delivery_url: Option<String>,
    /// RFC 3339, once delivered.
    pub(crate) delivered_at: Option<String>,
    /// RFC 3339: a delivery not answered by then is approved.
    pub(crate) approve_by: Option<String>,
    /// The brand's last request for changes.
    pub(crate) note: Option<String>,
    /// Whether the approval came from time running out.
    pub(crate) auto_approved: bool,
    /// RFC 3339.
    pub(crate) created_at: String,
    /// RFC 3339.
    pub(crate) updated_at: String,
}

/// A page of offers.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OfferList {
    pub(crate) data: Vec<OfferBody>,
    pub(crate) next_cursor: Option<String>,
}

// ---- Validation ----

/// Most followers or views a creator can be reported with.
const AUDIENCE_MAX: u64 = 10_000_000_000;
/// Largest fee, in minor units.
pub(crate) const FEE_MAX: i64 = 100_000_000_000;

fn niche(field: &str, raw: &str) -> Result<String, ApiError> {
    let n = raw.trim().to_ascii_lowercase();
    let ok = (1..=40).contains(&n.len())
        && n.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(n)
    } else {
        Err(invalid(format!(
            "{field}: a niche is 1–40 characters of a-z, 0-9, - and _"
        )))
    }
}

fn niches(field: &str, raw: &[String]) -> Result<Vec<String>, ApiError> {
    if raw.len() > 20 {
        return Err(invalid(format!("{field}: at most 20 niches")));
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (i, n) in raw.iter().enumerate() {
        let n = niche(&format!("{field}[{i}]"), n)?;
        if seen.insert(n.clone()) {
            out.push(n);
        }
    }
    Ok(out)
}

fn country(field: &str, raw: &str) -> Result<String, ApiError> {
    live::CountryCode::parse(raw)
        .map(|c| c.as_str().to_owned())
        .map_err(|e| invalid(format!("{field}: {e}")))
}

fn age_range(field: &str, raw: &str) -> Result<(), ApiError> {
    let digits = |s: &str| (1..=3).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    let ok = match raw.split_once('-') {
        Some((a, b)) => digits(a) && digits(b) && a.parse::<u32>().ok() <= b.parse::<u32>().ok(),
        None => raw.strip_suffix('+').is_some_and(digits),
    };
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "{field}: {raw:?} is not an age range such as 18-24 or 65+"
        )))
    }
}

fn shares(
    field: &str,
    raw: &BTreeMap<String, u32>,
    most: usize,
    key: impl Fn(&str, &str) -> Result<String, ApiError>,
) -> Result<BTreeMap<String, u32>, ApiError> {
    if raw.len() > most {
        return Err(invalid(format!("{field}: at most {most} entries")));
    }
    let mut out = BTreeMap::new();
    let mut total = 0_u64;
    for (k, v) in raw {
        let k = key(&format!("{field}.{k}"), k)?;
        total += u64::from(*v);
        if out.insert(k, *v).is_some() {
            return Err(invalid(format!("{field}: an entry is given twice")));
        }
    }
    if total > 10_000 {
        return Err(invalid(format!(
            "{field}: shares sum to {total} basis points, more than 10000"
        )));
    }
    Ok(out)
}

/// A free-text field, trimmed: `min`–`max` characters that [`freetext`] allows, on one
/// line or several.
fn text(
    field: &str,
    raw: &str,
    min: usize,
    max: usize,
    lines: freetext::Lines,
) -> Result<String, ApiError> {
    let t = raw.trim();
    let n = t.chars().count();
    if n < min || n > max {
        return Err(invalid(format!("{field} must be {min}–{max} characters")));
    }
    freetext::check(t, lines).map_err(|e| invalid(format!("{field}: {e}")))?;
    Ok(t.to_owned())
}

async fn creator_by_id(state: &AppState, id: &str) -> Result<User, ApiError> {
    let id = plain_id(id).ok_or(ApiError::NotFound("creator"))?;
    state
        .store
        .user(&UserId::from_string(id.to_owned()))
        .await?
        .filter(|u| u.kind == live::AccountKind::Creator)
        .ok_or(ApiError::NotFound("creator"))
}

// ---- Bodies ----

fn metrics_body(creator: &UserId, m: &CreatorMetrics) -> MetricsBody {
    MetricsBody {
        creator_id: creator.to_string(),
        followers: m.followers,
        avg_views: m.avg_views,
        engagement_bps: m.engagement_bps,
        audience_countries: m.audience_countries.clone(),
        audience_ages: m.audience_ages.clone(),
        tier: Tier::of(m.followers).as_str().to_owned(),
        updated_at: rfc3339(m.updated_at),
    }
}

fn profile_body(creator: &User, p: &CreatorProfile) -> ProfileBody {
    ProfileBody {
        creator_id: creator.id.to_string(),
        handle: creator.handle.clone(),
        niches: p.niches.clone(),
        bio: p.bio.clone(),
        open_to_deals: p.open_to_deals,
        rate: p.rate.map(MoneyBody::from),
        updated_at: rfc3339(p.updated_at),
    }
}

pub(crate) fn campaign_body(c: &Campaign, now: OffsetDateTime) -> CampaignBody {
    CampaignBody {
        id: c.id.to_string(),
        brand_id: c.brand_id.to_string(),
        title: c.title.clone(),
        brief: c.brief.clone(),
        niches: c.niches.clone(),
        countries: c.countries.clone(),
        fee: c.fee.into(),
        slots: c.slots,
        deadline: rfc3339(c.deadline),
        status: c.status_at(now).to_owned(),
        created_at: rfc3339(c.created_at),
    }
}

pub(crate) fn offer_body(o: &Offer) -> OfferBody {
    OfferBody {
        id: o.id.to_string(),
        campaign_id: o.campaign_id.to_string(),
        brand_id: o.brand_id.to_string(),
        creator_id: o.creator_id.to_string(),
        fee: o.fee.into(),
        status: o.status.as_str().to_owned(),
        expires_at: rfc3339(o.expires_at),
        delivery_url: o.delivery_url.clone(),
        delivered_at: o.delivered_at.map(rfc3339),
        approve_by: o.approve_by.map(rfc3339),
        note: o.note.clone(),
        auto_approved: o.auto_approved,
        created_at: rfc3339(o.created_at),
        updated_at: rfc3339(o.updated_at),
    }
}

/// What the ranking reads of a campaign.
pub(crate) fn brief_of(c: &Campaign) -> market::Brief {
    market::Brief {
        niches: c.niches.clone(),
        countries: c.countries.clone(),
        ages: None,
        fee: c.fee,
    }
}

// ---- Metrics and profiles ----

/// Sets what the platform knows of a creator's audience and work (admin).
#[utoipa::path(put, path = "/v1/creators/{id}/metrics", tag = "market",
    params(("id" = String, Path)),
    request_body = MetricsRequest,
    responses((status = 200, body = MetricsBody),
        (status = 401, body = crate::error::ErrorBody),
        (status = 403, description = "forbidden: needs the admin token", body = crate::error::ErrorBody),
        (status = 404, description = "no such creator", body = crate::error::ErrorBody),
        (status = 422, description = "invalid_request", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn put_metrics(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    request: Keyed,
) -> Result<Json<MetricsBody>, ApiError> {
    caller.admin()?;
    let r: MetricsRequest = parse_json(request.body()?)?;
    let creator = creator_by_id(&state, &id).await?;
    if r.followers > AUDIENCE_MAX || r.avg_views > AUDIENCE_MAX {
        return Err(invalid("followers and avg_views must be 0..=10000000000"));
    }
    if r.engagement_bps > 10_000 {
        return Err(invalid("engagement_bps must be 0..=10000"));
    }
    let metrics = CreatorMetrics {
        followers: r.followers,
        avg_views: r.avg_views,
        engagement_bps: r.engagement_bps,
        audience_countries: shares("audience_countries", &r.audience_countries, 250, country)?,
        audience_ages: shares("audience_ages", &r.audience_ages, 20, |f, k| {
            age_range(f, k).map(|()| k.to_owned())
        })?,
        updated_at: store::now(),
    };
    state
        .store
        .put_creator_metrics(&creator.id, &metrics)
        .await?;
    state.matchmaker.changed();
    Ok(Json(metrics_body(&creator.id, &metrics)))
}

/// A creator's metrics (that creator, or admin).
#[utoipa::path(get, path = "/v1/creators/{id}/metrics", tag = "market",
    params(("id" = String, Path)),
    responses((status = 200, body = MetricsBody),
        (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody),
        (status = 404, description = "no such creator, or no metrics yet", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn get_metrics(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<MetricsBody>, ApiError> {
    let creator = creator_by_id(&state, &id).await?;
    caller.admin_or(&creator.id)?;
    let m = state
        .store
        .creator_metrics(&creator.id)
        .await?
        .ok_or(ApiError::NotFound("metrics"))?;
    Ok(Json(metrics_body(&creator.id, &m)))
}

/// Sets the creator's own profile (that creator).
#[utoipa::path(put, path = "/v1/creators/{id}/profile", tag = "market",
    params(("id" = String, Path)),
    request_body = ProfileRequest,
    responses((status = 200, body = ProfileBody),
        (status = 401, body = crate::error::ErrorBody),
        (status = 403, description = "forbidden: not this creator", body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody),
        (status = 422, description = "invalid_request", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn put_profile(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    request: Keyed,
) -> Result<Json<ProfileBody>, ApiError> {
    let creator = creator_by_id(&state, &id).await?;
    let me = caller.creator()?;
    if me.id != creator.id {
        return Err(ApiError::Forbidden("not yours".into()));
    }
    let r: ProfileRequest = parse_json(request.body()?)?;
    let profile = CreatorProfile {
        niches: niches("niches", &r.niches)?,
        bio: if r.bio.trim().is_empty() {
            String::new()
        } else {
            text("bio", &r.bio, 1, 1_000, freetext::Lines::Many)?
        },
        open_to_deals: r.open_to_deals,
        rate: r
            .rate
            .as_ref()
            .map(|m| m.to_money("rate", FEE_MAX))
            .transpose()?,
        updated_at: store::now(),
    };
    state
        .store
        .put_creator_profile(&creator.id, &profile)
        .await?;
    state.matchmaker.changed();
    Ok(Json(profile_body(&creator, &profile)))
}

/// A creator's profile (any token).
#[utoipa::path(get, path = "/v1/creators/{id}/profile", tag = "market",
    params(("id" = String, Path)),
    responses((status = 200, body = ProfileBody),
        (status = 401, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn get_profile(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ProfileBody>, ApiError> {
    let creator = creator_by_id(&state, &id).await?;
    let profile = state
        .store
        .creator_profile(&creator.id)
        .await?
        .unwrap_or_else(|| CreatorProfile {
            niches: Vec::new(),
            bio: String::new(),
            open_to_deals: true,
            rate: None,
            updated_at: creator.created_at,
        });
    Ok(Json(profile_body(&creator, &profile)))
}

// ---- Campaigns ----

/// Posts a campaign (brand).
#[utoipa::path(post, path = "/v1/campaigns", tag = "market",
    request_body = CampaignRequest,
    responses((status = 201, body = CampaignBody),
        (status = 401, body = crate::error::ErrorBody),
        (status = 403, description = "forbidden: not a brand", body = crate::error::ErrorBody),
        (status = 422, description = "invalid_request", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn create_campaign(
    State(state): State<AppState>,
    caller: Caller,
    request: Keyed,
) -> Result<Response, ApiError> {
    let brand = caller.brand()?;
    let r: CampaignRequest = parse_json(request.body()?)?;
    let now = store::now();
    let deadline = time_field("deadline", &r.deadline)?;
    if deadline <= now || deadline > now + time::Duration::days(731) {
        return Err(invalid(
            "deadline must be in the future and within two years",
        ));
    }
    if !(1..=1_000).contains(&r.slots) {
        return Err(invalid("slots must be 1..=1000"));
    }
    if r.countries.len() > 50 {
        return Err(invalid("countries: at most 50"));
    }
    let mut countries = Vec::new();
    for (i, c) in r.countries.iter().enumerate() {
        let c = country(&format!("countries[{i}]"), c)?;
        if !countries.contains(&c) {
            countries.push(c);
        }
    }
    let campaign = Campaign {
        id: CampaignId::generate(),
        brand_id: brand.id.clone(),
        title: text("title", &r.title, 1, 200, freetext::Lines::One)?,
        brief: text("brief", &r.brief, 1, 5_000, freetext::Lines::Many)?,
        niches: niches("niches", &r.niches)?,
        countries,
        fee: r.fee.to_money("fee", FEE_MAX)?,
        slots: r.slots,
        deadline,
        status: "open".to_owned(),
        created_at: now,
    };
    state.store.insert_campaign(&campaign).await?;
    Ok(json_response(
        StatusCode::CREATED,
        to_json(&campaign_body(&campaign, now))?,
    ))
}

/// A campaign (any token).
#[utoipa::path(get, path = "/v1/campaigns/{id}", tag = "market",
    params(("id" = String, Path)),
    responses((status = 200, body = CampaignBody),
        (status = 401, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn get_campaign(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<CampaignBody>, ApiError> {
    let c = campaign(&state, &id).await?;
    Ok(Json(campaign_body(&c, store::now())))
}

async fn campaign(state: &AppState, id: &str) -> Result<Campaign, ApiError> {
    let id = plain_id(id).ok_or(ApiError::NotFound("campaign"))?;
    state
        .store
        .campaign(id)
        .await?
        .ok_or(ApiError::NotFound("campaign"))
}

/// Campaigns (any token): `?status=open` only those taking offers, `?brand_id=` one
/// brand's.
#[utoipa::path(get, path = "/v1/campaigns", tag = "market",
    params(("status" = Option<String>, Query, description = "`open`"),
        ("brand_id" = Option<String>, Query),
        ("limit" = Option<u32>, Query, description = "1–500, default 50"),
        ("cursor" = Option<String>, Query)),
    responses((status = 200, body = CampaignList),
        (status = 401, body = crate::error::ErrorBody),
        (status = 422, description = "invalid_request", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn list_campaigns(
    State(state): State<AppState>,
    _caller: Caller,
    list: ListParams,
    uri: axum::http::Uri,
) -> Result<Json<CampaignList>, ApiError> {
    let q = query_map(&uri)?;
    let now = store::now();
    let open_at = match q.get("status").map(String::as_str) {
        None | Some("") => None,
        Some("open") => Some(now),
        Some(_) => return Err(invalid("status must be open")),
    };
    let brand = q
        .get("brand_id")
        .map(String::as_str)
        .filter(|b| !b.is_empty());
    if brand.is_some_and(|b| plain_id(b).is_none()) {
        return Ok(Json(CampaignList {
            data: Vec::new(),
            next_cursor: None,
        }));
    }
    let after = list.cursor.as_deref().and_then(plain_id).unwrap_or("");
    let page = state
        .store
        .campaigns(brand, open_at, after, list.limit)
        .await?;
    Ok(Json(CampaignList {
        data: page.data.iter().map(|c| campaign_body(c, now)).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// A campaign's matches, best first (its brand, or admin).
#[utoipa::path(get, path = "/v1/campaigns/{id}/matches", tag = "market",
    params(("id" = String, Path),
        ("limit" = Option<u32>, Query, description = "1–500, default 50"),
        ("cursor" = Option<String>, Query, description = "`o<n>` from `next_cursor`")),
    responses((status = 200, body = MatchList),
        (status = 401, body = crate::error::ErrorBody),
        (status = 403, description = "forbidden: not this campaign's brand", body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody),
        (status = 422, description = "invalid_request", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn matches(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    list: ListParams,
) -> Result<Json<MatchList>, ApiError> {
    let c = campaign(&state, &id).await?;
    caller.admin_or(&c.brand_id)?;
    let skip = match list.cursor.as_deref() {
        None => 0,
        Some(cursor) => cursor
            .strip_prefix('o')
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n < market::MAX_MATCHES)
            .ok_or_else(|| invalid("cursor is not one this list gave"))?,
    };
    let limit = list.limit as usize;
    let wanted = (skip + limit).min(market::MAX_MATCHES);
    let found = state
        .matchmaker
        .top(&state.store, &brief_of(&c), wanted + 1)
        .await?;
    let more = found.len() > wanted && wanted < market::MAX_MATCHES;
    let data = found
        .into_iter()
        .skip(skip)
        .take(wanted.saturating_sub(skip))
        .map(|f| MatchBody {
            creator_id: f.matched.creator_id,
            handle: f.handle,
            tier: f.matched.tier.as_str().to_owned(),
            score: f.matched.score,
            parts: PartsBody {
                fit: f.matched.parts.fit,
                quality: f.matched.parts.quality,
                value: f.matched.parts.value,
                reliability: f.matched.parts.reliability,
            },
            why: f.matched.why,
        })
        .collect();
    Ok(Json(MatchList {
        data,
        next_cursor: more.then(|| format!("o{wanted}")),
    }))
}

/// Open campaigns for a creator, best fit first (that creator).
#[utoipa::path(get, path = "/v1/creators/{id}/campaigns/recommended", tag = "market",
    params(("id" = String, Path), ("limit" = Option<u32>, Query, description = "1–500, default 50")),
    responses((status = 200, body = RecommendedList),
        (status = 401, body = crate::error::ErrorBody),
        (status = 403, description = "forbidden: not this creator", body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody),
        (status = 422, description = "invalid_request", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn recommended(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    list: ListParams,
) -> Result<Json<RecommendedList>, ApiError> {
    let creator = creator_by_id(&state, &id).await?;
    let me = caller.creator()?;
    if me.id != creator.id {
        return Err(ApiError::Forbidden("not yours".into()));
    }
    let now = store::now();
    let data = recommend(&state, &creator, list.limit)
        .await?
        .into_iter()
        .map(|(fit, c)| RecommendedBody {
            campaign: campaign_body(&c, now),
            fit,
        })
        .collect();
    Ok(Json(RecommendedList {
        data,
        next_cursor: None,
    }))
}

/// Most open campaigns weighed for a recommendation.
const RECOMMEND_FROM: u32 = 2_000;

/// The open campaigns that fit `creator` best, at most `limit`, each with its fit.
pub(crate) async fn recommend(
    state: &AppState,
    creator: &User,
    limit: u32,
) -> Result<Vec<(u32, Campaign)>, ApiError> {
    let now = store::now();
    let metrics = state.store.creator_metrics(&creator.id).await?;
    let profile = state.store.creator_profile(&creator.id).await?;
    let me = market::Creator {
        id: creator.id.to_string(),
        followers: metrics.as_ref().map_or(0, |m| m.followers),
        avg_views: metrics.as_ref().map_or(0, |m| m.avg_views),
        engagement_bps: metrics.as_ref().map_or(0, |m| m.engagement_bps),
        audience_countries: metrics
            .as_ref()
            .map(|m| m.audience_countries.clone())
            .unwrap_or_default(),
        audience_ages: metrics
            .as_ref()
            .map(|m| m.audience_ages.clone())
            .unwrap_or_default(),
        fee: profile.as_ref().and_then(|p| p.rate),
        niches: profile.map(|p| p.niches).unwrap_or_default(),
        ratings: market::Ratings::default(),
        deliveries: market::Deliveries::default(),
    };
    let mut scored: Vec<(u32, Campaign)> = state
        .store
        .open_campaigns(now, RECOMMEND_FROM)
        .await?
        .into_iter()
        .map(|c| (market::fit::fit_of(&me, &brief_of(&c)), c))
        .collect();
    // Best fit first; among equals, the newest.
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.created_at.cmp(&a.1.created_at)));
    scored.truncate(limit as usize);
    Ok(scored)
}

// ---- Offers ----

/// Makes an offer to a creator (the campaign's brand): its fee is held from the brand's
/// wallet until the offer is approved (paid) or ends (given back).
#[utoipa::path(post, path = "/v1/campaigns/{id}/offers", tag = "market",
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "1–255 characters")),
    request_body = OfferRequest,
    responses((status = 201, body = OfferBody),
        (status = 401, body = crate::error::ErrorBody),
        (status = 402, description = "insufficient_funds: the wallet cannot hold the fee", body = crate::error::ErrorBody),
        (status = 403, description = "forbidden: not this campaign's brand", body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "invalid_state (the campaign is closed or full, the creator has an open offer or takes none) or idempotency_key_reused", body = crate::error::ErrorBody),
        (status = 422, description = "invalid_request", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn create_offer(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    request: Keyed,
) -> Result<Response, ApiError> {
    let brand = caller.brand()?;
    let body = request.body()?;
    request
        .once(&state, brand.id.as_str(), |idem| {
            make_offer(&state, &brand, &id, body, idem)
        })
        .await
}

async fn make_offer(
    state: &AppState,
    brand: &User,
    campaign_id: &str,
    body: &[u8],
    idem: Option<Idempotency>,
) -> Result<Response, ApiError> {
    let c = campaign(state, campaign_id).await?;
    if c.brand_id != brand.id {
        return Err(ApiError::Forbidden("not this brand's campaign".into()));
    }
    let r: OfferRequest = parse_json(body)?;
    let fee = r.fee.to_money("fee", FEE_MAX)?;
    if fee.currency() != c.fee.currency() {
        return Err(invalid(format!(
            "fee.currency must be the campaign's, {}",
            c.fee.currency()
        )));
    }
    let creator = match plain_id(&r.creator_id) {
        Some(id) => state
            .store
            .user(&UserId::from_string(id.to_owned()))
            .await?
            .filter(|u| u.kind == live::AccountKind::Creator),
        None => None,
    }
    .ok_or_else(|| invalid("creator_id: no such creator"))?;
    let now = store::now();
    if c.status_at(now) != "open" {
        return Err(ApiError::InvalidState(
            "the campaign is closed: its deadline has passed".into(),
        ));
    }
    if creator.suspended
        || state
            .store
            .creator_profile(&creator.id)
            .await?
            .is_some_and(|p| !p.open_to_deals)
    {
        return Err(ApiError::InvalidState("the creator takes no offers".into()));
    }
    if state
        .store
        .campaign_has_offer_for(&c.id, &creator.id)
        .await?
    {
        return Err(ApiError::InvalidState(
            "the creator has an offer for this campaign already".into(),
        ));
    }
    if state.store.campaign_slots_taken(&c.id).await? >= c.slots {
        return Err(ApiError::InvalidState(format!(
            "the campaign's {} slots are taken",
            c.slots
        )));
    }
    let (platform_fee, creator_share) =
        rules::deal_split(fee, state.config.platform_fee_for(IncomeSource::BrandDeals));
    let offer = Offer {
        id: OfferId::generate(),
        campaign_id: c.id.clone(),
        brand_id: brand.id.clone(),
        creator_id: creator.id.clone(),
        fee,
        platform_fee,
        creator_share,
        status: postings::OfferStatus::Offered,
        expires_at: now + OFFER_TTL,
        delivery_url: None,
        delivered_at: None,
        approve_by: None,
        note: None,
        on_time: None,
        auto_approved: false,
        hold_id: None,
        created_at: now,
        updated_at: now,
    };
    let answer = to_json(&offer_body(&offer))?;
    let record = idem
        .as_ref()
        .map(|i| i.record(StatusCode::CREATED, answer.clone()));
    match state
        .store
        .writer()
        .submit(rules::offer_job(&offer, record))
        .await?
    {
        Outcome::Applied => Ok(json_response(StatusCode::CREATED, answer)),
        Outcome::Duplicate(record) => Ok(replay(
            &record,
            idem.as_ref().map_or("", |i| i.fingerprint()),
        )),
        Outcome::Refused(Refusal::InsufficientFunds { .. } | Refusal::Ledger(_)) => {
            Err(ApiError::InsufficientFunds(format!(
                "the wallet cannot hold {fee}: top it up in {}",
                fee.currency()
            )))
        }
        other => Err(ApiError::Internal(anyhow::anyhow!(
            "offer {} refused: {other:?}",
            offer.id
        ))),
    }
}

/// Who may take a step: the offer's creator or its brand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Creator,
    Brand,
}

fn side_of(action: OfferAction) -> Side {
    match action {
        OfferAction::Accept | OfferAction::Decline | OfferAction::Deliver => Side::Creator,
        OfferAction::Cancel
        | OfferAction::RequestChanges
        | OfferAction::Approve
        | OfferAction::Expire => Side::Brand,
    }
}

async fn offer_for(state: &AppState, caller: &Caller, id: &str) -> Result<Offer, ApiError> {
    let id = plain_id(id).ok_or(ApiError::NotFound("offer"))?;
    let offer = state
        .store
        .offer(id)
        .await?
        .ok_or(ApiError::NotFound("offer"))?;
    match caller {
        Caller::Admin => Ok(offer),
        Caller::User(u) if u.id == offer.brand_id || u.id == offer.creator_id => Ok(offer),
        Caller::User(_) => Err(ApiError::Forbidden("not yours".into())),
    }
}

/// Takes `action` on offer `id` for `caller`, with what the step records.
async fn take_step(
    state: &AppState,
    caller: &Caller,
    id: &str,
    action: OfferAction,
    request: &Keyed,
    mut details: StepDetails,
) -> Result<Response, ApiError> {
    let offer = offer_for(state, caller, id).await?;
    let user = caller.user()?;
    let allowed = match side_of(action) {
        Side::Creator => user.id == offer.creator_id,
        Side::Brand => user.id == offer.brand_id,
    };
    if !allowed {
        return Err(ApiError::Forbidden(format!(
            "only the offer's {} can do this",
            if side_of(action) == Side::Creator {
                "creator"
            } else {
                "brand"
            }
        )));
    }
    let now = store::now();
    if action == OfferAction::Deliver {
        // On time when delivered by the campaign's deadline (it counts for reliability).
        let deadline = state
            .store
            .campaign(offer.campaign_id.as_str())
            .await?
            .map(|c| c.deadline);
        details.on_time = Some(deadline.is_none_or(|d| now <= d));
    }
    let scope = user.id.clone();
    request
        .once(state, scope.as_str(), |idem| async move {
            let times = deals::step_times(now, state.config.hold_period, false);
            let answer = |after: &Offer| {
                let body = to_json(&offer_body(after)).ok()?;
                idem.as_ref().map(|i| i.record(StatusCode::OK, body))
            };
            let id = offer.id.clone();
            match deals::step(&state.store, offer, action, &details, times, answer).await? {
                Stepped::Done(after) => {
                    if action == OfferAction::Approve {
                        state.matchmaker.changed();
                    }
                    Ok(json_response(StatusCode::OK, to_json(&offer_body(&after))?))
                }
                Stepped::Replayed(record) => Ok(replay(
                    &record,
                    idem.as_ref().map_or("", |i| i.fingerprint()),
                )),
                Stepped::Invalid(e) => Err(ApiError::InvalidState(format!(
                    "the offer is {}: it cannot be {}",
                    e.from,
                    action_past(action)
                ))),
                Stepped::Missing => Err(ApiError::NotFound("offer")),
                Stepped::Refused(outcome) => Err(ApiError::Internal(anyhow::anyhow!(
                    "offer {id}: {action:?} was {outcome:?}"
                ))),
            }
        })
        .await
}

fn action_past(action: OfferAction) -> &'static str {
    match action {
        OfferAction::Accept => "accepted",
        OfferAction::Decline => "declined",
        OfferAction::Expire => "expired",
        OfferAction::Cancel => "cancelled",
        OfferAction::Deliver => "delivered",
        OfferAction::RequestChanges => "sent back for changes",
        OfferAction::Approve => "approved",
    }
}

/// A body that must be empty or `{}`.
fn no_fields(request: &Keyed) -> Result<(), ApiError> {
    let body = request.body()?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Empty {}
    parse_json::<Empty>(body).map(drop)
}

macro_rules! simple_step {
    ($name:ident, $path:literal, $action:expr, $doc:literal, $who:literal) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, tag = "market",
            params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "1–255 characters")),
            responses((status = 200, body = OfferBody),
                (status = 401, body = crate::error::ErrorBody),
                (status = 403, description = $who, body = crate::error::ErrorBody),
                (status = 404, body = crate::error::ErrorBody),
                (status = 409, description = "invalid_state: not allowed from the offer's status; or idempotency_key_reused", body = crate::error::ErrorBody),
                (status = 422, description = "invalid_request: the body must be empty or {}", body = crate::error::ErrorBody)),
            security(("bearer" = [])))]
        pub(crate) async fn $name(
            State(state): State<AppState>,
            caller: Caller,
            Path(id): Path<String>,
            request: Keyed,
        ) -> Result<Response, ApiError> {
            no_fields(&request)?;
            take_step(&state, &caller, &id, $action, &request, StepDetails::default()).await
        }
    };
}

simple_step!(
    accept,
    "/v1/offers/{id}/accept",
    OfferAction::Accept,
    "Accepts an offer (its creator).",
    "forbidden: not the offer's creator"
);
simple_step!(
    decline,
    "/v1/offers/{id}/decline",
    OfferAction::Decline,
    "Declines an offer (its creator): the hold goes back to the brand's wallet.",
    "forbidden: not the offer's creator"
);
simple_step!(
    approve,
    "/v1/offers/{id}/approve",
    OfferAction::Approve,
    "Approves a delivery (the brand): the fee is paid to the creator's pending balance (source `brand_deals`, less the platform's fee).",
    "forbidden: not the offer's brand"
);
simple_step!(
    cancel,
    "/v1/offers/{id}/cancel",
    OfferAction::Cancel,
    "Cancels an offer before delivery (the brand): the hold goes back to the wallet.",
    "forbidden: not the offer's brand"
);

/// Delivers the work (the offer's creator, once accepted or after changes were asked); a
/// delivery the brand does not answer in 7 days is approved.
#[utoipa::path(post, path = "/v1/offers/{id}/deliver", tag = "market",
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "1–255 characters")),
    request_body = DeliverRequest,
    responses((status = 200, body = OfferBody),
        (status = 401, body = crate::error::ErrorBody),
        (status = 403, description = "forbidden: not the offer's creator", body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "invalid_state", body = crate::error::ErrorBody),
        (status = 422, description = "invalid_request", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn deliver(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    request: Keyed,
) -> Result<Response, ApiError> {
    let r: DeliverRequest = parse_json(request.body()?)?;
    let details = StepDetails {
        delivery_url: Some(
            shop::ProductRules::url(&r.url).map_err(crate::flows::shop::shop_invalid)?,
        ),
        ..StepDetails::default()
    };
    take_step(
        &state,
        &caller,
        &id,
        OfferAction::Deliver,
        &request,
        details,
    )
    .await
}

/// Asks for changes to a delivery (the brand); the creator delivers again.
#[utoipa::path(post, path = "/v1/offers/{id}/request-changes", tag = "market",
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "1–255 characters")),
    request_body = ChangesRequest,
    responses((status = 200, body = OfferBody),
        (status = 401, body = crate::error::ErrorBody),
        (status = 403, description = "forbidden: not the offer's brand", body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "invalid_state", body = crate::error::ErrorBody),
        (status = 422, description = "invalid_request", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn request_changes(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    request: Keyed,
) -> Result<Response, ApiError> {
    let r: ChangesRequest = parse_json(request.body()?)?;
    let note = text("note", &r.note, 1, 2_000, freetext::Lines::Many)?;
    take_step(
        &state,
        &caller,
        &id,
        OfferAction::RequestChanges,
        &request,
        StepDetails {
            note: Some(note),
            ..StepDetails::default()
        },
    )
    .await
}

/// An offer (its brand, its creator, or admin).
#[utoipa::path(get, path = "/v1/offers/{id}", tag = "market",
    params(("id" = String, Path)),
    responses((status = 200, body = OfferBody),
        (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn get_offer(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<OfferBody>, ApiError> {
    Ok(Json(offer_body(&offer_for(&state, &caller, &id).await?)))
}

/// A campaign's offers (its brand, or admin).
#[utoipa::path(get, path = "/v1/campaigns/{id}/offers", tag = "market",
    params(("id" = String, Path), ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = OfferList),
        (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody),
        (status = 422, description = "invalid_request", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn campaign_offers(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    list: ListParams,
) -> Result<Json<OfferList>, ApiError> {
    let c = campaign(&state, &id).await?;
    caller.admin_or(&c.brand_id)?;
    let after = list.cursor.as_deref().and_then(plain_id).unwrap_or("");
    let page = state
        .store
        .offers(Some(c.id.as_str()), None, after, list.limit)
        .await?;
    Ok(Json(OfferList {
        data: page.data.iter().map(offer_body).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// A creator's offers (that creator, or admin).
#[utoipa::path(get, path = "/v1/creators/{id}/offers", tag = "market",
    params(("id" = String, Path), ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = OfferList),
        (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody),
        (status = 422, description = "invalid_request", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn creator_offers(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    list: ListParams,
) -> Result<Json<OfferList>, ApiError> {
    let creator = creator_by_id(&state, &id).await?;
    caller.admin_or(&creator.id)?;
    let after = list.cursor.as_deref().and_then(plain_id).unwrap_or("");
    let page = state
        .store
        .offers(None, Some(creator.id.as_str()), after, list.limit)
        .await?;
    Ok(Json(OfferList {
        data: page.data.iter().map(offer_body).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Rates the other side of an approved offer, once per side: the brand rates the creator
/// (it counts toward the creator's reliability), the creator rates the brand.
#[utoipa::path(post, path = "/v1/offers/{id}/rating", tag = "market",
    params(("id" = String, Path)),
    request_body = RatingRequest,
    responses((status = 201, body = RatingBody),
        (status = 401, body = crate::error::ErrorBody),
        (status = 403, description = "forbidden: not the offer's brand or creator", body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "invalid_state: not approved, or rated already by this side", body = crate::error::ErrorBody),
        (status = 422, description = "invalid_request", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn rate(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    request: Keyed,
) -> Result<Response, ApiError> {
    let offer = offer_for(&state, &caller, &id).await?;
    let user = caller.user()?;
    let r: RatingRequest = parse_json(request.body()?)?;
    if !(1..=5).contains(&r.stars) {
        return Err(invalid("stars must be 1..=5"));
    }
    if offer.status != postings::OfferStatus::Approved {
        return Err(ApiError::InvalidState(format!(
            "the offer is {}: only an approved offer is rated",
            offer.status.as_str()
        )));
    }
    let (side, ratee) = if user.id == offer.brand_id {
        ("brand", offer.creator_id.clone())
    } else {
        ("creator", offer.brand_id.clone())
    };
    let rating = Rating {
        offer_id: offer.id.clone(),
        side,
        rater_id: user.id.clone(),
        ratee_id: ratee,
        stars: r.stars,
        created_at: store::now(),
    };
    if !state.store.insert_rating(&rating).await? {
        return Err(ApiError::InvalidState(format!(
            "the {side} has rated this offer already"
        )));
    }
    if side == "brand" {
        state.matchmaker.changed();
    }
    Ok(json_response(
        StatusCode::CREATED,
        to_json(&RatingBody {
            offer_id: offer.id.to_string(),
            side: side.to_owned(),
            stars: r.stars,
            created_at: rfc3339(rating.created_at),
        })?,
    ))
}

/// What a run of time's steps on offers did.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DueOffersBody {
    /// Offers not accepted in 7 days: expired, their hold given back.
    pub(crate) expired: u64,
    /// Deliveries not answered in 7 days: approved, the fee paid.
    pub(crate) approved: u64,
    /// Offers another run or a person moved first.
    pub(crate) skipped: u64,
}

/// Expires unanswered offers and approves unanswered deliveries now (admin); `serve` does
/// it every minute on every node, and `ovation offers run` from the command line.
#[utoipa::path(post, path = "/v1/offers/run-due", tag = "market",
    responses((status = 200, body = DueOffersBody),
        (status = 401, body = crate::error::ErrorBody),
        (status = 403, description = "forbidden: needs the admin token", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn run_due_offers(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<DueOffersBody>, ApiError> {
    caller.admin()?;
    let report = deals::run_due(&state.store, store::now(), state.config.hold_period).await?;
    state.matchmaker.changed();
    Ok(Json(DueOffersBody {
        expired: report.expired,
        approved: report.approved,
        skipped: report.skipped,
    }))
}
