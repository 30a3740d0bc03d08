//! The platform's insights (admin): how creators' income is spread — the Gini coefficient,
//! the top 1 %'s share, the median, each tier's share and the Lorenz curve — computed by
//! `insights` from the ledger's income per creator (`store::Store::creator_income`).

use std::collections::{BTreeMap, HashMap};

use axum::extract::State;
use axum::http::Uri;
use insights::Distribution;
use market::Tier;
use money::Currency;
use serde::Serialize;
use store::IncomeSource;
use time::{Duration, OffsetDateTime};
use utoipa::ToSchema;

use crate::dto::{MoneyBody, rfc3339};
use crate::error::{ApiError, invalid};
use crate::extract::{Caller, Json, query_map};
use crate::state::AppState;

// ---- The JSON bodies of this section, with their OpenAPI schemas ----

/// One tier's creators and share of the income.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TierShareBody {
    /// `nano` (< 10k followers), `micro` (< 100k), `mid` (< 500k), `macro` (< 1M) or `mega`.
    pub(crate) tier: String,
    /// Creators of the distribution in this tier.
    pub(crate) creators: u64,
    /// Their share of the total, in basis points, toward zero (the five sum to 9,996–10,000
    /// when there is income, else 0).
    pub(crate) share_bps: u32,
}

/// `GET /v1/insights/income`: how income in one currency is spread across the creators who
/// earned some in the window.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct IncomeDistributionBody {
    /// Creators whose net income in the currency (from the source asked for) over the window
    /// is above zero: creators who earned nothing, or whose refunds outweighed their income,
    /// are left out.
    pub(crate) creators: u64,
    /// Their income together, net of refunds, chargebacks and returns.
    pub(crate) total: MoneyBody,
    /// The Gini coefficient in basis points (0: everyone earns the same; 10,000 × (n − 1)/n:
    /// one creator earns everything), toward zero.
    pub(crate) gini_bps: u32,
    /// Share of the total earned by the top ⌈1 % of `creators`⌉ (at least one), in basis
    /// points, toward zero.
    pub(crate) top_1_percent_share_bps: u32,
    /// The median creator's income (with an even count, the mean of the middle two, rounded
    /// down to the minor unit).
    pub(crate) median: MoneyBody,
    /// Every tier, nano to mega, by followers as the platform last reported them (else as
    /// given at sign-up).
    pub(crate) by_tier: Vec<TierShareBody>,
    /// The Lorenz curve: `[x_bps, y_bps]` pairs — the lowest-earning `x_bps` of creators earn
    /// `y_bps` of the income — from `[0, 0]` to `[10000, 10000]`, at most 101 points (every
    /// creator up to 100, else every percentile), toward zero.
    #[schema(value_type = Vec<Vec<u32>>)]
    pub(crate) lorenz: Vec<[u32; 2]>,
    /// RFC 3339: the window's start (now less `days`).
    pub(crate) since: String,
}

// ---- Handlers and their helpers ----

/// Days in the window unless `days` says otherwise.
pub(crate) const DAYS_DEFAULT: u16 = 90;
/// Most days a window may cover (ten years).
const DAYS_MAX: u16 = 3_650;

/// What `GET /v1/insights/income` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IncomeQuery {
    /// The currency.
    pub(crate) currency: Currency,
    /// One source, or every source (`None`).
    pub(crate) source: Option<IncomeSource>,
    /// The window, in days back from now.
    pub(crate) days: u16,
}

impl IncomeQuery {
    /// Reads `?currency=&source=&days=`: 422 naming the field that is missing or wrong.
    pub(crate) fn parse(query: &HashMap<String, String>) -> Result<IncomeQuery, ApiError> {
        let currency = query
            .get("currency")
            .ok_or_else(|| invalid("currency is required (an ISO 4217 code such as USD)"))?;
        let currency = Currency::parse(currency)
            .map_err(|_| invalid("currency must be an ISO 4217 code such as USD"))?;
        let source = match query.get("source").map(String::as_str) {
            None | Some("all") => None,
            Some(name) => Some(IncomeSource::parse(name).ok_or_else(|| {
                invalid("source must be all, badges, match, commissions or brand_deals")
            })?),
        };
        let days = match query.get("days") {
            None => DAYS_DEFAULT,
            Some(days) => days
                .parse::<u16>()
                .ok()
                .filter(|d| (1..=DAYS_MAX).contains(d))
                .ok_or_else(|| invalid(format!("days must be an integer from 1 to {DAYS_MAX}")))?,
        };
        Ok(IncomeQuery {
            currency,
            source,
            days,
        })
    }
}

/// The start of a window of `days` days ending now.
pub(crate) fn window_start(days: u16) -> OffsetDateTime {
    store::now() - Duration::days(i64::from(days))
}

/// The distribution of income since `since` in each currency that has some (only
/// `currency`, when given, and then even without income), from `source` or every source.
/// Each creator's income is the sum of their sources; only creators above zero count.
pub(crate) async fn distributions(
    state: &AppState,
    since: OffsetDateTime,
    currency: Option<Currency>,
    source: Option<IncomeSource>,
) -> Result<Vec<Distribution>, ApiError> {
    let rows = state.store.creator_income(since, currency).await?;
    let mut by_currency: BTreeMap<Currency, HashMap<store::UserId, (u64, i64)>> = BTreeMap::new();
    if let Some(currency) = currency {
        by_currency.entry(currency).or_default();
    }
    for row in rows {
        if source.is_some_and(|s| s != row.source) {
            continue;
        }
        let entry = by_currency
            .entry(row.amount.currency())
            .or_default()
            .entry(row.creator)
            .or_insert((row.followers, 0));
        entry.1 = entry.1.saturating_add(row.amount.amount());
    }
    Ok(by_currency
        .into_iter()
        .map(|(currency, creators)| {
            Distribution::new(
                currency,
                creators
                    .into_values()
                    .filter(|(_, amount)| *amount > 0)
                    .map(|(followers, amount)| (amount, Tier::of(followers))),
            )
        })
        .collect())
}

/// How income in one currency is spread across creators over the last `days` days (admin).
#[utoipa::path(get, path = "/v1/insights/income", tag = "insights",
    params(
        ("currency" = String, Query, description = "ISO 4217, required"),
        ("source" = Option<String>, Query, description = "all (default), badges, match, commissions or brand_deals"),
        ("days" = Option<u16>, Query, description = "1–3650, default 90"),
    ),
    responses((status = 200, body = IncomeDistributionBody),
        (status = 401, description = "unauthenticated", body = crate::error::ErrorBody),
        (status = 403, description = "forbidden: not the admin token", body = crate::error::ErrorBody),
        (status = 422, description = "invalid_request: currency, source or days", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn income(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
) -> Result<Json<IncomeDistributionBody>, ApiError> {
    caller.admin()?;
    let query = IncomeQuery::parse(&query_map(&uri)?)?;
    let since = window_start(query.days);
    let distribution = distributions(&state, since, Some(query.currency), query.source)
        .await?
        .into_iter()
        .next()
        .unwrap_or_else(|| Distribution::new(query.currency, []));
    Ok(Json(IncomeDistributionBody {
        creators: distribution.creators(),
        total: distribution.total().into(),
        gini_bps: distribution.gini_bps(),
        top_1_percent_share_bps: distribution.top_1_percent_share_bps(),
        median: distribution.median().into(),
        by_tier: distribution
            .by_tier()
            .iter()
            .map(|t| TierShareBody {
                tier: t.tier.as_str().to_owned(),
                creators: t.creators,
                share_bps: t.share_bps,
            })
            .collect(),
        lorenz: distribution
            .lorenz()
            .iter()
            .map(|p| [p.x_bps, p.y_bps])
            .collect(),
        since: rfc3339(since),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<IncomeQuery, String> {
        let map = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        IncomeQuery::parse(&map).map_err(|e| e.to_string())
    }

    #[test]
    fn a_query_defaults_to_every_source_over_ninety_days() {
        assert_eq!(
            parse(&[("currency", "USD")]),
            Ok(IncomeQuery {
                currency: Currency::USD,
                source: None,
                days: 90
            })
        );
        assert_eq!(
            parse(&[("currency", "JPY"), ("source", "match"), ("days", "3650")]),
            Ok(IncomeQuery {
                currency: Currency::JPY,
                source: Some(IncomeSource::Match),
                days: 3_650
            })
        );
        assert_eq!(
            parse(&[("currency", "EUR"), ("source", "all"), ("days", "1")]).map(|q| q.source),
            Ok(None)
        );
    }

    #[test]
    fn a_wrong_field_is_named() {
        for (pairs, field) in [
            (&[][..], "currency"),
            (&[("currency", "usd")][..], "currency"),
            (&[("currency", "ZZZ")][..], "currency"),
            (&[("currency", "USD"), ("source", "tips")][..], "source"),
            (&[("currency", "USD"), ("days", "0")][..], "days"),
            (&[("currency", "USD"), ("days", "3651")][..], "days"),
            (&[("currency", "USD"), ("days", "-1")][..], "days"),
            (&[("currency", "USD"), ("days", "ninety")][..], "days"),
        ] {
            let message = parse(pairs).expect_err("refused");
            assert!(message.starts_with(field), "{pairs:?}: {message}");
        }
    }
}
