//! Typed ids of the records Ovation keeps: each wraps the text stored and sent, is only
//! compared, never interpreted, and a fresh one is time-ordered (UUIDv7) with a prefix that
//! says what it names (`pur_…`, `pay_…`).

use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn generate() -> $name {
                $name(format!(concat!($prefix, "_{}"), uuid::Uuid::now_v7().simple()))
            }

            /// Wraps an id that came from outside (a path, the store); it is only compared,
            /// never interpreted.
            pub fn from_string(id: String) -> $name {
                $name(id)
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// A user account's id (creator, viewer or brand).
    UserId,
    "acc"
);
id_type!(
    /// A live's id.
    LiveId,
    "live"
);
id_type!(
    /// A comment's id.
    CommentId,
    "cmt"
);
id_type!(
    /// A badge purchase's id.
    PurchaseId,
    "pur"
);

id_type!(
    /// A wallet top-up's id.
    TopupId,
    "top"
);
id_type!(
    /// A payout's id.
    PayoutId,
    "pay"
);
id_type!(
    /// A match program's id.
    MatchProgramId,
    "mp"
);
id_type!(
    /// A brand's product in the shop catalog.
    ProductId,
    "prod"
);
id_type!(
    /// A shop order Ovation booked (the brand's own order id is kept beside it).
    ShopOrderId,
    "ord"
);
id_type!(
    /// A counted click on a creator's tracked link (the `ovc` a product page receives).
    ClickId,
    "clk"
);
id_type!(
    /// A brand's campaign in the marketplace.
    CampaignId,
    "cmp"
);
id_type!(
    /// A brand's offer to a creator for a campaign, paid through escrow.
    OfferId,
    "off"
);
