//! The JSON bodies of lives, chat, supporters and badge prices, with their OpenAPI schemas.
//! The comment itself is shared with the live events: it is in `crate::dto`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::dto::{CommentBody, MoneyBody, rfc3339};

/// A tier's price.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TierPriceBody {
    /// 1, 2 or 3.
    pub(crate) tier: u8,
    /// Hearts shown.
    pub(crate) hearts: u8,
    /// Local price.
    pub(crate) price: MoneyBody,
}

/// `GET /v1/badges/prices`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PricesBody {
    /// ISO 3166-1 alpha-2.
    pub(crate) country: String,
    /// ISO 4217.
    pub(crate) currency: String,
    /// The three tiers.
    pub(crate) tiers: Vec<TierPriceBody>,
}

/// `POST /v1/lives`.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct CreateLive {
    /// 1–200 characters.
    pub(crate) title: String,
    /// The creator's badge goal for the live, in hearts (1–1,000,000); optional.
    #[serde(default)]
    pub(crate) goal_hearts: Option<i64>,
}

/// `PUT /v1/lives/{id}/goal`: the badge goal in hearts, or `null` for none.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetGoal {
    /// 1–1,000,000 hearts; `null` clears the goal. Required (absent is not `null`).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>, required = true)]
    pub(crate) goal_hearts: Option<Option<i64>>,
}

/// A field that is present, `null` or not: `Some(None)` for `null`, and the field's
/// `#[serde(default)]` gives `None` when it is absent.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    Option::<i64>::deserialize(d).map(Some)
}

/// A live.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LiveBody {
    /// Id.
    pub(crate) id: String,
    /// The creator.
    pub(crate) creator_id: String,
    /// Title.
    pub(crate) title: String,
    /// `live` or `ended`.
    pub(crate) status: String,
    /// RFC 3339.
    pub(crate) started_at: String,
    /// RFC 3339, once ended.
    pub(crate) ended_at: Option<String>,
    /// The creator's badge goal in hearts, if set.
    pub(crate) goal_hearts: Option<u32>,
}

impl From<&store::Live> for LiveBody {
    fn from(l: &store::Live) -> LiveBody {
        LiveBody {
            id: l.id.to_string(),
            creator_id: l.creator_id.to_string(),
            title: l.title.clone(),
            status: if l.active { "live" } else { "ended" }.to_owned(),
            started_at: rfc3339(l.started_at),
            ended_at: l.ended_at.map(rfc3339),
            goal_hearts: l.goal_hearts,
        }
    }
}

/// `POST /v1/lives/{id}/comments`.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct CreateComment {
    /// 1–300 characters after trimming.
    pub(crate) text: String,
}

/// A page of comments.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CommentList {
    /// Oldest first.
    pub(crate) data: Vec<CommentBody>,
    /// Cursor of the next page.
    pub(crate) next_cursor: Option<String>,
}

/// A supporter of a live.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SupporterBody {
    /// The viewer.
    pub(crate) viewer_id: String,
    /// Their handle.
    pub(crate) viewer_handle: String,
    /// Highest tier bought.
    pub(crate) top_tier: u8,
    /// Spent per currency.
    pub(crate) totals: Vec<MoneyBody>,
    /// Purchases made.
    pub(crate) purchases: u64,
}

/// A page of supporters.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SupporterList {
    /// By top tier, then purchases, descending.
    pub(crate) data: Vec<SupporterBody>,
    /// Cursor of the next page.
    pub(crate) next_cursor: Option<String>,
}
