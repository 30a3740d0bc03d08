//! The JSON shapes that several parts of the server share, with their OpenAPI schemas:
//! money (`MoneyBody`) and times (`rfc3339`), which most sections' bodies are made of, and
//! the comment and the purchase, which a route answers with and the live events carry
//! (`bus`). A body that only one section uses lives beside its handlers, in
//! `routes/<section>`.

use money::Money;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};
use utoipa::ToSchema;

/// A time from the request in UTC, to the microsecond the store keeps. Its year in UTC must
/// be 1..=9999, so that it can always be written back as RFC 3339 (year 0 at +01:00 is year
/// -1 in UTC).
pub fn time_field(field: &str, value: &str) -> Result<OffsetDateTime, crate::error::ApiError> {
    let t = OffsetDateTime::parse(value, &Rfc3339)
        .map_err(|e| crate::error::invalid(format!("{field} must be an RFC 3339 time: {e}")))?;
    let utc = t
        .checked_to_offset(UtcOffset::UTC)
        .filter(|t| (1..=9999).contains(&t.year()))
        .ok_or_else(|| {
            crate::error::invalid(format!("{field} must be in the years 1 to 9999 in UTC"))
        })?;
    Ok(store::from_micros(store::to_micros(utc)))
}

/// A body encoded once, for the answer and the store (a failure is a bug: 500).
pub fn to_json<T: Serialize>(body: &T) -> Result<String, crate::error::ApiError> {
    serde_json::to_string(body).map_err(|e| crate::error::ApiError::Internal(e.into()))
}

/// RFC 3339 in UTC (`2026-11-30T12:00:00Z`, with a fraction when the second has one).
///
/// Total, because a time that cannot be written must not make every read of it a 500: a
/// year RFC 3339 cannot hold (before 0 or after 9999 in UTC; requests are refused such
/// times, but one may be stored) is written with its sign and all its digits, as ISO 8601's
/// expanded years are.
pub fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.checked_to_offset(UtcOffset::UTC).unwrap_or(t);
    t.format(&Rfc3339).unwrap_or_else(|_| expanded(t))
}

/// `t` in RFC 3339's shape with a signed year of any length: `-0001-12-31T23:00:00Z`.
fn expanded(t: OffsetDateTime) -> String {
    let fraction = match t.nanosecond() {
        0 => String::new(),
        n => format!(".{n:09}").trim_end_matches('0').to_owned(),
    };
    let offset = t.offset();
    let offset = if offset.is_utc() {
        "Z".to_owned()
    } else {
        let (h, m, s) = offset.as_hms();
        let sign = if offset.is_negative() { '-' } else { '+' };
        let (h, m, s) = (h.unsigned_abs(), m.unsigned_abs(), s.unsigned_abs());
        match s {
            0 => format!("{sign}{h:02}:{m:02}"),
            s => format!("{sign}{h:02}:{m:02}:{s:02}"),
        }
    };
    format!(
        "{:+05}-{:02}-{:02}T{:02}:{:02}:{:02}{fraction}{offset}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
    )
}

/// `{"amount": <minor units>, "currency": "USD"}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct MoneyBody {
    /// Integer minor units (cents; yen have none).
    pub amount: i64,
    /// ISO 4217 code.
    pub currency: String,
}

impl From<Money> for MoneyBody {
    fn from(m: Money) -> MoneyBody {
        MoneyBody {
            amount: m.amount(),
            currency: m.currency().code().to_owned(),
        }
    }
}

impl MoneyBody {
    /// The amount as [`Money`], or 422 naming `field` (an unknown currency, a negative
    /// amount, or one above `max`).
    pub fn to_money(&self, field: &str, max: i64) -> Result<Money, crate::error::ApiError> {
        let currency = money::Currency::parse(&self.currency)
            .map_err(|e| crate::error::invalid(format!("{field}.currency: {e}")))?;
        if self.amount <= 0 || self.amount > max {
            return Err(crate::error::invalid(format!(
                "{field}.amount must be 1..={max} minor units"
            )));
        }
        Ok(Money::new(self.amount, currency))
    }
}

/// A badge as shown beside a comment.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BadgeBody {
    /// 1, 2 or 3.
    pub tier: u8,
    /// Hearts.
    pub hearts: u8,
}

/// A comment.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CommentBody {
    /// Id.
    pub id: String,
    /// The live.
    pub live_id: String,
    /// The author.
    pub author_id: String,
    /// The author's handle.
    pub author_handle: String,
    /// Text.
    pub text: String,
    /// The author's highest badge in this live.
    pub badge: Option<BadgeBody>,
    /// RFC 3339.
    pub created_at: String,
}

impl From<&store::Comment> for CommentBody {
    fn from(c: &store::Comment) -> CommentBody {
        CommentBody {
            id: c.id.to_string(),
            live_id: c.live_id.to_string(),
            author_id: c.author_id.to_string(),
            author_handle: c.author_handle.clone(),
            text: c.text.clone(),
            badge: c.badge_tier.map(|t| BadgeBody {
                tier: t.get(),
                hearts: t.hearts(),
            }),
            created_at: rfc3339(c.created_at),
        }
    }
}

/// A badge purchase.
#[derive(Debug, Serialize, ToSchema)]
pub struct PurchaseBody {
    /// Id.
    pub id: String,
    /// The live.
    pub live_id: String,
    /// The buyer.
    pub viewer_id: String,
    /// The live's creator.
    pub creator_id: String,
    /// 1, 2 or 3.
    pub tier: u8,
    /// Hearts.
    pub hearts: u8,
    /// What the buyer paid.
    pub price: MoneyBody,
    /// `succeeded` or `refunded`.
    pub status: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339, once refunded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refunded_at: Option<String>,
}

/// A purchase as a live's viewers are told of it (the `badge` event): what was bought, not
/// who paid what. The buyer's id and the price stay out — the price's currency tells the
/// buyer's country — and the buyer is named by `viewer_handle` beside it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BadgeEventPurchase {
    /// Id.
    pub id: String,
    /// The live.
    pub live_id: String,
    /// The live's creator.
    pub creator_id: String,
    /// 1, 2 or 3.
    pub tier: u8,
    /// Hearts.
    pub hearts: u8,
    /// `succeeded`.
    pub status: String,
    /// RFC 3339.
    pub created_at: String,
}

impl From<&PurchaseBody> for BadgeEventPurchase {
    fn from(p: &PurchaseBody) -> BadgeEventPurchase {
        BadgeEventPurchase {
            id: p.id.clone(),
            live_id: p.live_id.clone(),
            creator_id: p.creator_id.clone(),
            tier: p.tier,
            hearts: p.hearts,
            status: p.status.clone(),
            created_at: p.created_at.clone(),
        }
    }
}

impl From<&store::Purchase> for PurchaseBody {
    fn from(p: &store::Purchase) -> PurchaseBody {
        PurchaseBody {
            id: p.id.to_string(),
            live_id: p.live_id.to_string(),
            viewer_id: p.viewer_id.to_string(),
            creator_id: p.creator_id.to_string(),
            tier: p.tier.get(),
            hearts: p.tier.hearts(),
            price: p.price.into(),
            status: p.status.as_str().to_owned(),
            created_at: rfc3339(p.created_at),
            refunded_at: p.refunded_at.map(rfc3339),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::rfc3339;
    use time::macros::datetime;

    #[test]
    fn times_are_written_in_utc_and_years_rfc_3339_cannot_hold_do_not_panic() {
        assert_eq!(
            rfc3339(datetime!(2026-11-30 13:00:00.25 +01:00)),
            "2026-11-30T12:00:00.25Z"
        );
        assert_eq!(
            rfc3339(datetime!(0000-01-01 00:00 +01:00)),
            "-0001-12-31T23:00:00Z"
        );
        assert_eq!(
            rfc3339(datetime!(9999-12-31 23:00:00.5 -02:00)),
            "9999-12-31T23:00:00.5-02:00",
            "year 10000 in UTC is beyond the time crate: the instant keeps its own offset"
        );
        assert_eq!(
            rfc3339(datetime!(-9999-01-01 00:00:00.000_001 +00:00:30)),
            "-9999-01-01T00:00:00.000001+00:00:30"
        );
    }
}
