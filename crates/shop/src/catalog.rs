//! What a product, a shop, a coupon code and an order's lines may be. Each rule names the
//! field it checks, so the API's 422 says which one is wrong.

use money::{Bps, Money};

/// Why shop input is refused: the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ShopError {
    /// The field, as the API names it.
    pub field: &'static str,
    /// What is wrong.
    pub reason: String,
}

fn refuse(field: &'static str, reason: impl Into<String>) -> ShopError {
    ShopError {
        field,
        reason: reason.into(),
    }
}

/// The limits of the catalog.
#[derive(Debug)]
pub struct ProductRules;

impl ProductRules {
    /// Longest product title, in characters.
    pub const TITLE_MAX: usize = 200;
    /// Longest category, in characters.
    pub const CATEGORY_MAX: usize = 50;
    /// Longest product URL, in bytes.
    pub const URL_MAX: usize = 2_048;
    /// Highest commission: 90 %.
    pub const COMMISSION_BPS_MAX: u32 = 9_000;
    /// Longest return window, in days.
    pub const RETURN_WINDOW_MAX: u16 = 365;
    /// The return window when none is given.
    pub const RETURN_WINDOW_DEFAULT: u16 = 30;
    /// Most products in one creator's shop.
    pub const SHOP_MAX: usize = 200;
    /// The attribution window when a brand set none, in days.
    pub const WINDOW_DEFAULT: u16 = 7;
    /// Longest attribution window, in days.
    pub const WINDOW_MAX: u16 = 90;
    /// Most lines in one order.
    pub const ORDER_LINES_MAX: usize = 100;
    /// Most units of one line.
    pub const QUANTITY_MAX: u32 = 10_000;
    /// Longest order id a brand may send.
    pub const ORDER_ID_MAX: usize = 100;

    /// A title: 1–200 characters, not blank, no control characters.
    pub fn title(title: &str) -> Result<String, ShopError> {
        text("title", title, Self::TITLE_MAX)
    }

    /// A category: 1–50 characters, not blank, no control characters.
    pub fn category(category: &str) -> Result<String, ShopError> {
        text("category", category, Self::CATEGORY_MAX)
    }

    /// A product's page: an absolute `http` or `https` URL with a host, no spaces or control
    /// characters, at most 2,048 bytes.
    pub fn url(url: &str) -> Result<String, ShopError> {
        if url.len() > Self::URL_MAX {
            return Err(refuse("url", "at most 2048 bytes"));
        }
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or_else(|| refuse("url", "must start with http:// or https://"))?;
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(refuse(
                "url",
                "must not contain spaces or control characters",
            ));
        }
        let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..host_end];
        let host = authority.rsplit('@').next().unwrap_or_default();
        let host = host.split(':').next().unwrap_or_default();
        if host.is_empty() || authority.contains('\\') {
            return Err(refuse("url", "must name a host"));
        }
        Ok(url.to_owned())
    }

    /// A price: positive.
    pub fn price(price: Money) -> Result<Money, ShopError> {
        if price.is_positive() {
            Ok(price)
        } else {
            Err(refuse("price", "must be positive"))
        }
    }

    /// A commission rate: 1–9,000 basis points.
    pub fn commission_bps(bps: i64) -> Result<Bps, ShopError> {
        u32::try_from(bps)
            .ok()
            .filter(|b| (1..=Self::COMMISSION_BPS_MAX).contains(b))
            .and_then(|b| Bps::new(b).ok())
            .ok_or_else(|| refuse("commission_bps", "must be 1 to 9000"))
    }

    /// A return window: 0–365 days.
    pub fn return_window_days(days: i64) -> Result<u16, ShopError> {
        u16::try_from(days)
            .ok()
            .filter(|d| *d <= Self::RETURN_WINDOW_MAX)
            .ok_or_else(|| refuse("return_window_days", "must be 0 to 365"))
    }

    /// An attribution window: 1–90 days.
    pub fn attribution_window_days(days: i64) -> Result<u16, ShopError> {
        u16::try_from(days)
            .ok()
            .filter(|d| (1..=Self::WINDOW_MAX).contains(d))
            .ok_or_else(|| refuse("attribution_window_days", "must be 1 to 90"))
    }

    /// A brand's order id: 1–100 printable ASCII characters.
    pub fn order_id(id: &str) -> Result<String, ShopError> {
        if id.is_empty() || id.len() > Self::ORDER_ID_MAX {
            return Err(refuse("order_id", "must be 1 to 100 characters"));
        }
        if !id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(refuse("order_id", "must be printable ASCII without spaces"));
        }
        Ok(id.to_owned())
    }

    /// A quantity: 1–10,000.
    pub fn quantity(field: &'static str, quantity: i64) -> Result<u32, ShopError> {
        u32::try_from(quantity)
            .ok()
            .filter(|q| (1..=Self::QUANTITY_MAX).contains(q))
            .ok_or_else(|| refuse(field, "must be 1 to 10000"))
    }

    /// A shop's products: at most 200, none twice.
    pub fn shop(products: &[String]) -> Result<&[String], ShopError> {
        if products.len() > Self::SHOP_MAX {
            return Err(refuse("products", "at most 200"));
        }
        for (i, p) in products.iter().enumerate() {
            if products[..i].contains(p) {
                return Err(refuse("products", format!("{p} is listed twice")));
            }
        }
        Ok(products)
    }
}

fn text(field: &'static str, value: &str, max: usize) -> Result<String, ShopError> {
    let n = value.chars().count();
    if value.trim().is_empty() || n > max {
        return Err(refuse(
            field,
            format!("must be 1 to {max} characters, not blank"),
        ));
    }
    freetext::check(value, freetext::Lines::One).map_err(|e| {
        refuse(
            field,
            format!("must not contain control, invisible or direction-changing characters ({e})"),
        )
    })?;
    Ok(value.to_owned())
}

/// A coupon code: 4–20 of `A-Z` and `0-9`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CouponCode(String);

impl CouponCode {
    /// Checks `code`.
    pub fn parse(code: &str) -> Result<CouponCode, ShopError> {
        if (4..=20).contains(&code.len())
            && code
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            Ok(CouponCode(code.to_owned()))
        } else {
            Err(refuse("code", "must be 4 to 20 of A-Z and 0-9"))
        }
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use money::Currency;

    #[test]
    fn product_fields_are_checked_at_their_bounds() {
        assert!(ProductRules::title("Serum").is_ok());
        assert_eq!(ProductRules::title(" ").unwrap_err().field, "title");
        assert!(ProductRules::title(&"é".repeat(200)).is_ok());
        assert!(ProductRules::title(&"é".repeat(201)).is_err());
        assert!(ProductRules::title("a\u{0}b").is_err());
        for bps in [1, 9_000] {
            assert!(ProductRules::commission_bps(bps).is_ok());
        }
        for bps in [0, 9_001, -1, i64::MAX] {
            assert_eq!(
                ProductRules::commission_bps(bps).unwrap_err().field,
                "commission_bps"
            );
        }
        assert_eq!(ProductRules::return_window_days(0), Ok(0));
        assert_eq!(ProductRules::return_window_days(365), Ok(365));
        assert!(ProductRules::return_window_days(366).is_err());
        assert!(ProductRules::return_window_days(-1).is_err());
        assert!(ProductRules::attribution_window_days(0).is_err());
        assert_eq!(ProductRules::attribution_window_days(90), Ok(90));
        assert!(ProductRules::attribution_window_days(91).is_err());
        assert!(ProductRules::price(Money::new(0, Currency::USD)).is_err());
        assert!(ProductRules::quantity("quantity", 0).is_err());
    }

    #[test]
    fn product_urls_are_absolute_http_with_a_host() {
        for ok in [
            "https://brand.example/p/1",
            "http://brand.example",
            "https://brand.example:8443/p?x=1#top",
        ] {
            assert!(ProductRules::url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ftp://brand.example",
            "javascript:alert(1)",
            "https://",
            "https:///path",
            "https://brand.example/a b",
            "//brand.example",
            "https://a\\b.example",
            "https://user@/x",
        ] {
            assert_eq!(ProductRules::url(bad).unwrap_err().field, "url", "{bad}");
        }
        assert!(ProductRules::url(&format!("https://b.example/{}", "a".repeat(2_100))).is_err());
    }

    #[test]
    fn coupon_codes_are_4_to_20_capitals_and_digits() {
        assert!(CouponCode::parse("ANA10").is_ok());
        assert!(CouponCode::parse("ABCD").is_ok());
        assert!(CouponCode::parse(&"A".repeat(20)).is_ok());
        for bad in ["ABC", "ana10", "ANA-10", "", &"A".repeat(21)] {
            assert!(CouponCode::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_shop_lists_each_product_once_and_at_most_200() {
        let many: Vec<String> = (0..201).map(|i| format!("prod_{i}")).collect();
        assert!(ProductRules::shop(&many[..200]).is_ok());
        assert!(ProductRules::shop(&many).is_err());
        let twice = vec!["prod_a".to_owned(), "prod_a".to_owned()];
        assert!(ProductRules::shop(&twice).is_err());
    }
}
