//! What a ranking sees: a creator as the platform knows them, and a brand's brief.

use std::collections::BTreeMap;

use money::Money;

use crate::MarketError;
use crate::score::WHOLE_BPS;

/// A creator as a ranking sees them: only what the platform observes, never their true value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Creator {
    /// The creator's id.
    pub id: String,
    /// Follower count; decides the [`Tier`](crate::Tier).
    pub followers: u64,
    /// Average views per post.
    pub avg_views: u64,
    /// Engagement rate in basis points (interactions per view), 0–10,000.
    pub engagement_bps: u32,
    /// Audience share per country code, in basis points; the shares sum to at most 10,000.
    pub audience_countries: BTreeMap<String, u32>,
    /// Audience share per age range (`"18-24"`), in basis points; summing to at most 10,000.
    pub audience_ages: BTreeMap<String, u32>,
    /// The creator's niches (`"cooking"`), lower case.
    pub niches: Vec<String>,
    /// Ratings from brands so far.
    pub ratings: Ratings,
    /// Deliveries so far.
    pub deliveries: Deliveries,
    /// The creator's fee per deal when the platform knows it (their rate, or what their
    /// deals have paid); `None` leaves the score's value-for-money part neutral.
    pub fee: Option<Money>,
}

/// Ratings received so far: how many, and the sum of their stars (each 1–5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ratings {
    /// Number of ratings.
    pub count: u32,
    /// Sum of the stars; between `count` and `5 × count`.
    pub stars_sum: u32,
}

/// Deliveries so far: how many were on time, out of how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Deliveries {
    /// Deliveries made by their deadline.
    pub on_time: u32,
    /// All deliveries; at least `on_time`.
    pub total: u32,
}

/// A brand's brief: whom the campaign wants to reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Brief {
    /// Wanted niches; none means every niche.
    pub niches: Vec<String>,
    /// Wanted audience countries; none means anywhere.
    pub countries: Vec<String>,
    /// Wanted audience age ranges (keys of [`Creator::audience_ages`]); `None` or none listed
    /// means any age.
    pub ages: Option<Vec<String>>,
    /// The fee offered per creator.
    pub fee: Money,
}

impl Creator {
    /// Checks what an input can get wrong: an empty id, shares or engagement over the whole,
    /// stars outside 1–5 on average, more on-time deliveries than deliveries.
    pub fn validate(&self) -> Result<(), MarketError> {
        if self.id.is_empty() {
            return Err(MarketError::EmptyId);
        }
        if self.engagement_bps > WHOLE_BPS {
            return Err(MarketError::OverWhole {
                what: "engagement_bps",
                bps: u64::from(self.engagement_bps),
            });
        }
        for (what, shares) in [
            ("audience_countries", &self.audience_countries),
            ("audience_ages", &self.audience_ages),
        ] {
            let bps: u64 = shares.values().map(|&v| u64::from(v)).sum();
            if bps > u64::from(WHOLE_BPS) {
                return Err(MarketError::OverWhole { what, bps });
            }
        }
        let Ratings { count, stars_sum } = self.ratings;
        if stars_sum < count || u64::from(stars_sum) > 5 * u64::from(count) {
            return Err(MarketError::StarsOutOfRange { count, stars_sum });
        }
        let Deliveries { on_time, total } = self.deliveries;
        if on_time > total {
            return Err(MarketError::OnTimeOverTotal { on_time, total });
        }
        if let Some(fee) = self.fee
            && !fee.is_positive()
        {
            return Err(MarketError::FeeNotPositive(fee.amount()));
        }
        Ok(())
    }

    /// The creator's tier by followers.
    pub fn tier(&self) -> crate::Tier {
        crate::Tier::of(self.followers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn creator(id: &str) -> Creator {
        Creator {
            id: id.into(),
            followers: 50_000,
            avg_views: 10_000,
            engagement_bps: 400,
            audience_countries: BTreeMap::from([("US".into(), 6_000), ("CA".into(), 1_000)]),
            audience_ages: BTreeMap::from([("18-24".into(), 4_000)]),
            niches: vec!["cooking".into()],
            ratings: Ratings::default(),
            deliveries: Deliveries::default(),
            fee: None,
        }
    }

    #[test]
    fn a_plain_creator_is_valid() {
        assert_eq!(creator("ana").validate(), Ok(()));
    }

    #[test]
    fn what_an_input_can_get_wrong_is_refused() {
        let mut c = creator("");
        assert_eq!(c.validate(), Err(MarketError::EmptyId));
        c = creator("ana");
        c.audience_countries.insert("GB".into(), 3_001);
        assert!(matches!(
            c.validate(),
            Err(MarketError::OverWhole {
                what: "audience_countries",
                bps: 10_001
            })
        ));
        c = creator("ana");
        c.engagement_bps = 10_001;
        assert!(c.validate().is_err());
        c = creator("ana");
        c.ratings = Ratings {
            count: 2,
            stars_sum: 11,
        };
        assert!(c.validate().is_err());
        c.ratings = Ratings {
            count: 2,
            stars_sum: 1,
        };
        assert!(c.validate().is_err());
        c = creator("ana");
        c.deliveries = Deliveries {
            on_time: 3,
            total: 2,
        };
        assert!(c.validate().is_err());
        c = creator("ana");
        c.fee = Some(Money::zero(money::Currency::USD));
        assert_eq!(c.validate(), Err(MarketError::FeeNotPositive(0)));
    }
}
