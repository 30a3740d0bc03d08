//! Which creator a sale belongs to. A valid coupon of the brand first (a code typed at
//! checkout is the buyer's own choice); else the last click, by the same client, on a link to
//! one of the brand's products within the brand's window before the order; else no one.

use time::{Duration, OffsetDateTime};

/// A counted click on a creator's link, as attribution sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Click {
    /// The click's id (the `ovc` the product page received).
    pub id: String,
    /// Whose link.
    pub creator_id: String,
    /// The brand of the link's product.
    pub brand_id: String,
    /// When.
    pub at: OffsetDateTime,
}

/// Who a sale is attributed to, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribution {
    /// The creator whose coupon the buyer used.
    Coupon {
        /// The creator.
        creator_id: String,
    },
    /// The creator whose link the buyer clicked last.
    Click {
        /// The creator.
        creator_id: String,
        /// The click.
        click_id: String,
    },
    /// No one: no coupon, no click in the window.
    None,
}

impl Attribution {
    /// `coupon`, `click` or `none`, as the API names it.
    pub fn kind(&self) -> &'static str {
        match self {
            Attribution::Coupon { .. } => "coupon",
            Attribution::Click { .. } => "click",
            Attribution::None => "none",
        }
    }

    /// The creator credited, if any.
    pub fn creator(&self) -> Option<&str> {
        match self {
            Attribution::Coupon { creator_id } | Attribution::Click { creator_id, .. } => {
                Some(creator_id)
            }
            Attribution::None => None,
        }
    }
}

/// Attributes an order of `brand` placed at `ordered_at`. `coupon_creator` is the creator of
/// the order's coupon when it is a coupon of this brand; `clicks` are the candidate clicks
/// (the one the order names and the same client's others): those on another brand's
/// products, after the order, or older than `window` do not count, and of the rest the
/// latest wins (ties: the greater id, which is later for time-ordered ids).
pub fn attribute(
    brand: &str,
    coupon_creator: Option<&str>,
    clicks: &[Click],
    ordered_at: OffsetDateTime,
    window: Duration,
) -> Attribution {
    if let Some(creator) = coupon_creator {
        return Attribution::Coupon {
            creator_id: creator.to_owned(),
        };
    }
    clicks
        .iter()
        .filter(|c| c.brand_id == brand && c.at <= ordered_at && ordered_at - c.at <= window)
        .max_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)))
        .map_or(Attribution::None, |c| Attribution::Click {
            creator_id: c.creator_id.clone(),
            click_id: c.id.clone(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-12-03 12:00 UTC);
    const WEEK: Duration = Duration::days(7);

    fn click(id: &str, creator: &str, brand: &str, ago: Duration) -> Click {
        Click {
            id: id.into(),
            creator_id: creator.into(),
            brand_id: brand.into(),
            at: NOW - ago,
        }
    }

    #[test]
    fn a_coupon_beats_a_click() {
        let clicks = [click("c1", "ana", "b", Duration::hours(1))];
        assert_eq!(
            attribute("b", Some("cy"), &clicks, NOW, WEEK),
            Attribution::Coupon {
                creator_id: "cy".into()
            }
        );
    }

    #[test]
    fn the_last_click_in_the_window_wins() {
        let clicks = [
            click("c1", "ana", "b", Duration::days(3)),
            click("c2", "cy", "b", Duration::hours(2)),
            click("c3", "dee", "b", Duration::days(1)),
        ];
        let got = attribute("b", None, &clicks, NOW, WEEK);
        assert_eq!(got.creator(), Some("cy"));
        assert_eq!(got.kind(), "click");
    }

    #[test]
    fn a_click_outside_the_window_after_the_order_or_on_another_brand_is_none() {
        for c in [
            click("c1", "ana", "b", WEEK + Duration::SECOND),
            click("c2", "ana", "b", -Duration::SECOND),
            click("c3", "ana", "other", Duration::hours(1)),
        ] {
            assert_eq!(attribute("b", None, &[c], NOW, WEEK), Attribution::None);
        }
        assert_eq!(attribute("b", None, &[], NOW, WEEK), Attribution::None);
        // The window's edge counts.
        let edge = click("c4", "ana", "b", WEEK);
        assert_eq!(
            attribute("b", None, &[edge], NOW, WEEK).creator(),
            Some("ana")
        );
    }

    proptest! {
        #[test]
        fn the_winner_is_a_counted_click_no_counted_click_is_later(
            clicks in proptest::collection::vec((0u8..4, 0u8..2, -2i64..10), 0..12)
        ) {
            let clicks: Vec<Click> = clicks
                .iter()
                .enumerate()
                .map(|(i, (creator, brand, days))| Click {
                    id: format!("c{i:02}"),
                    creator_id: format!("cr{creator}"),
                    brand_id: format!("b{brand}"),
                    at: NOW - Duration::days(*days),
                })
                .collect();
            let counts = |c: &Click| c.brand_id == "b0" && c.at <= NOW && NOW - c.at <= WEEK;
            match attribute("b0", None, &clicks, NOW, WEEK) {
                Attribution::Click { click_id, creator_id } => {
                    let won = clicks.iter().find(|c| c.id == click_id).expect("one of them");
                    prop_assert!(counts(won));
                    prop_assert_eq!(&won.creator_id, &creator_id);
                    prop_assert!(clicks.iter().filter(|c| counts(c)).all(|c| (c.at, &c.id) <= (won.at, &won.id)));
                }
                Attribution::None => prop_assert!(!clicks.iter().any(counts)),
                Attribution::Coupon { .. } => prop_assert!(false, "no coupon was given"),
            }
        }
    }
}
