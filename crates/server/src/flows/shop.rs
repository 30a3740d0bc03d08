//! Shop orders and their returns on the store: attribution (a coupon of the brand, else the
//! last click of the same client on the brand's products in its window), the commission's
//! booking through [`postings::rules::order_job`], and returns through
//! [`postings::rules::order_return_job`]. The route validates and answers; this decides and
//! submits.

use money::Money;
use postings::{IdempotencyRecord, OrderAttribution, ShopOrder, ShopOrderId, UserId, rules};
use store::{Outcome, Refusal, RowRef, Store};
use time::{Duration, OffsetDateTime};

use crate::clicks::Clicks;
use crate::error::{ApiError, invalid};
use crate::extract::plain_id;
use crate::settings::Config;

/// What shop orders are booked with.
#[derive(Clone, Copy)]
pub struct Orders<'a> {
    /// The store.
    pub store: &'a Store,
    /// Fees and windows.
    pub config: &'a Config,
    /// The click log (flushed before a click an order names is looked up).
    pub clicks: &'a Clicks,
}

impl std::fmt::Debug for Orders<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Orders").finish_non_exhaustive()
    }
}

/// A line of a reported order, checked.
#[derive(Debug, Clone)]
pub struct NewLine {
    /// The product (one of the brand's).
    pub product: store::Product,
    /// Units.
    pub quantity: u32,
    /// Paid for the line.
    pub amount: Money,
}

/// A reported order, checked.
#[derive(Debug, Clone)]
pub struct NewOrder {
    /// The brand reporting it.
    pub brand: UserId,
    /// The brand's id of it.
    pub order_id: String,
    /// The click the brand saw (`ovc`).
    pub click_id: Option<String>,
    /// The coupon used.
    pub coupon: Option<String>,
    /// When it was placed.
    pub ordered_at: OffsetDateTime,
    /// Its lines.
    pub lines: Vec<NewLine>,
}

/// What booking an order came to.
#[derive(Debug)]
pub enum Booked {
    /// Booked now.
    New(ShopOrder),
    /// The brand's order id was booked before: the stored order.
    Existing(ShopOrder),
    /// The brand's idempotency key was used before: its stored answer.
    Answered(IdempotencyRecord),
}

/// Who an order is credited to, and what credited them.
#[derive(Debug, Default)]
struct Credit {
    attribution: Option<OrderAttribution>,
    creator: Option<UserId>,
    click_id: Option<String>,
    link: Option<String>,
    coupon: Option<String>,
}

impl Orders<'_> {
    /// Who `order` is attributed to, decided by [`shop::attribute`] from the brand's coupon
    /// the order names (if any) and the clicks of the client of the click it names: the
    /// named click and that client's others on the brand's products in its window.
    async fn attribute(self, order: &NewOrder) -> Result<Credit, ApiError> {
        let coupon = match &order.coupon {
            Some(code) => match shop::CouponCode::parse(&code.to_ascii_uppercase()) {
                Ok(code) => self.store.coupon(&order.brand, code.as_str()).await?,
                Err(_) => None,
            },
            None => None,
        };
        // A coupon outranks any click: the clicks (and the brand's window) are not read then.
        let (candidates, window) = match (&coupon, order.click_id.as_deref().and_then(plain_id)) {
            (None, Some(click_id)) => {
                let days = self
                    .store
                    .attribution_window(&order.brand)
                    .await?
                    .unwrap_or(shop::ProductRules::WINDOW_DEFAULT);
                let window = Duration::days(i64::from(days));
                (self.clicks_of_named(click_id, order, window).await?, window)
            }
            _ => (Vec::new(), Duration::ZERO),
        };
        let views: Vec<shop::Click> = candidates
            .iter()
            .map(|c| shop::Click {
                id: c.id.clone(),
                creator_id: c.creator_id.to_string(),
                brand_id: c.brand_id.to_string(),
                at: c.at,
            })
            .collect();
        let coupon_creator = coupon.as_ref().map(|c| c.creator_id.as_str());
        Ok(
            match shop::attribute(
                order.brand.as_str(),
                coupon_creator,
                &views,
                order.ordered_at,
                window,
            ) {
                shop::Attribution::Coupon { creator_id } => Credit {
                    attribution: Some(OrderAttribution::Coupon),
                    creator: Some(UserId::from_string(creator_id)),
                    coupon: coupon.map(|c| c.code),
                    ..Credit::default()
                },
                shop::Attribution::Click {
                    creator_id,
                    click_id,
                } => Credit {
                    attribution: Some(OrderAttribution::Click),
                    creator: Some(UserId::from_string(creator_id)),
                    link: candidates
                        .iter()
                        .find(|c| c.id == click_id)
                        .map(|c| c.code.clone()),
                    click_id: Some(click_id),
                    coupon: None,
                },
                shop::Attribution::None => Credit::default(),
            },
        )
    }

    /// The click `click_id` (flushing this node's click log if it is not stored yet) and the
    /// same client's other clicks on `order`'s brand in the `window` before the order.
    async fn clicks_of_named(
        self,
        click_id: &str,
        order: &NewOrder,
        window: Duration,
    ) -> Result<Vec<store::Click>, ApiError> {
        let named = match self.store.click(click_id).await? {
            Some(c) => Some(c),
            None => {
                // It may still be in this node's log.
                self.clicks.log.flush().await;
                self.store.click(click_id).await?
            }
        };
        let Some(named) = named else {
            return Ok(Vec::new());
        };
        let mut candidates = self
            .store
            .clicks_of_client(
                &named.client_hash,
                &order.brand,
                order.ordered_at - window,
                order.ordered_at,
            )
            .await?;
        candidates.push(named);
        Ok(candidates)
    }

    /// The order `new` would book now, its commission decided.
    pub async fn decide(self, new: &NewOrder) -> Result<ShopOrder, ApiError> {
        let lines: Vec<shop::Line> = new
            .lines
            .iter()
            .map(|l| shop::Line {
                product_id: l.product.id.to_string(),
                quantity: l.quantity,
                returned: 0,
                amount: l.amount,
                commission_bps: l.product.commission_bps,
                return_window_days: l.product.return_window_days,
            })
            .collect();
        let currency = shop::commission::currency_of(&lines).map_err(shop_invalid)?;
        let Credit {
            attribution,
            creator,
            click_id,
            link,
            coupon,
        } = self.attribute(new).await?;
        let attribution = attribution.unwrap_or(OrderAttribution::None);
        let commission = if creator.is_some() {
            shop::commission(&lines).map_err(shop_invalid)?
        } else {
            Money::zero(currency)
        };
        let fee = self
            .config
            .platform_fee_for(postings::IncomeSource::Commissions);
        let (platform_fee, creator_share) = rules::commission_split(commission, fee);
        let now = store::now();
        Ok(ShopOrder {
            id: ShopOrderId::generate(),
            order_id: new.order_id.clone(),
            brand_id: new.brand.clone(),
            creator_id: creator,
            attribution,
            click_id,
            link,
            coupon,
            locks_at: shop::locks_at(new.ordered_at, &lines),
            lines,
            commission,
            platform_fee,
            creator_share,
            returns: 0,
            hold_id: None,
            ordered_at: new.ordered_at,
            created_at: now,
            updated_at: now,
        })
    }

    /// Books `order` (from [`Orders::decide`]) with `answer` (the brand's key's record, made
    /// from the order) stored with it.
    pub async fn book(
        self,
        order: &ShopOrder,
        answer: Option<IdempotencyRecord>,
    ) -> Result<Booked, ApiError> {
        let outcome = self
            .store
            .writer()
            .submit(rules::order_job(order, answer))
            .await?;
        match outcome {
            Outcome::Applied => Ok(Booked::New(order.clone())),
            Outcome::Duplicate(record) if record.account_id.starts_with("shop-orders:") => {
                self.existing(&record.body).await.map(Booked::Existing)
            }
            Outcome::Duplicate(record) => Ok(Booked::Answered(record)),
            Outcome::Replayed => self.existing(order.id.as_str()).await.map(Booked::Existing),
            Outcome::Refused(Refusal::InsufficientFunds { .. }) => {
                Err(ApiError::InsufficientFunds(format!(
                    "the brand's {} wallet holds less than the commission of {}",
                    order.commission.currency(),
                    order.commission
                )))
            }
            Outcome::Refused(other) => Err(ApiError::Internal(anyhow::anyhow!(
                "shop order refused: {other:?}"
            ))),
        }
    }

    async fn existing(self, id: &str) -> Result<ShopOrder, ApiError> {
        // The claim is committed with the order, so it is there.
        self.store
            .shop_order(id)
            .await?
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("claimed order {id} not stored")))
    }

    /// Records a return of `items` (product, units) on order `id` of `brand`, made at `now`;
    /// `answer` makes the brand's key's record from the order after it. Two returns of one
    /// order at once each claim the next number: the loser reads the order again and retries.
    pub async fn return_items(
        self,
        id: &str,
        brand: Option<&UserId>,
        items: &[(String, u32)],
        answer: impl Fn(&ShopOrder) -> Option<IdempotencyRecord>,
    ) -> Result<Result<ShopOrder, IdempotencyRecord>, ApiError> {
        for _ in 0..8 {
            let order = self
                .store
                .shop_order(id)
                .await?
                .ok_or(ApiError::NotFound("order"))?;
            if let Some(brand) = brand
                && &order.brand_id != brand
            {
                return Err(ApiError::Forbidden("not this brand's order".into()));
            }
            let now = store::now();
            if now >= order.locks_at {
                return Err(ApiError::OrderLocked);
            }
            let mut lines = order.lines.clone();
            for (product, quantity) in items {
                shop::commission::record_return(&mut lines, product, *quantity)
                    .map_err(shop_invalid)?;
            }
            let (mut job, after) =
                rules::order_return_job(&order, lines, now, None).map_err(shop_invalid)?;
            job.idempotency = answer(&after);
            match self.store.writer().submit(job).await? {
                Outcome::Applied | Outcome::Replayed => return Ok(Ok(after)),
                Outcome::Duplicate(record) if record.account_id.starts_with("shop-returns:") => {
                    continue;
                }
                Outcome::Duplicate(record) => return Ok(Err(record)),
                Outcome::Refused(Refusal::Status(RowRef::Hold(_))) => {
                    return Err(ApiError::OrderLocked);
                }
                Outcome::Refused(other) => {
                    return Err(ApiError::Internal(anyhow::anyhow!(
                        "shop return refused: {other:?}"
                    )));
                }
            }
        }
        Err(ApiError::Unavailable)
    }
}

/// A refused shop input as the API's 422.
#[allow(clippy::needless_pass_by_value)] // used as `map_err(shop_invalid)`
pub fn shop_invalid(e: shop::ShopError) -> ApiError {
    invalid(e.to_string())
}
