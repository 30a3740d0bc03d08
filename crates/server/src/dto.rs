//! The JSON shapes that several parts of the server share, with their OpenAPI schemas:
//! money (`MoneyBody`) and times (`rfc3339`), which most sections' bodies are made of, and
//! the comment and the purchase, which a route answers with and the live events carry
//! (`bus`). A body that only one section uses lives beside its handlers, in
//! `routes/<section>`.

use money::Money;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

/// RFC 3339 in UTC.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339)
        .expect("a UTC time always formats as RFC 3339")
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
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BadgeBody {
    /// 1, 2 or 3.
    pub tier: u8,
    /// Hearts.
    pub hearts: u8,
}

/// A comment.
#[derive(Debug, Serialize, ToSchema)]
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
