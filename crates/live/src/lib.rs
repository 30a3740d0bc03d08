//! Lives, chat and badges as plain values: the validated inputs (`Handle`, `CountryCode`,
//! `CommentText`, `LiveTitle`, `Tier`), the per-country badge price table, the split of a
//! badge price between creator and platform, and the rules that decide whether a creator
//! may go live and sell badges. This crate owns those rules and nothing else. It must never
//! know about IO, clocks (callers pass `today`), async, databases (sqlx) or HTTP (axum), and
//! it never uses floating point: prices are `money::Money` in integer minor units.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use money::{Bps, Currency, Money};
use serde::{Deserialize, Serialize};
use time::Date;

/// Longest handle, in characters.
const HANDLE_CHARS_MAX: usize = 30;
/// Longest comment, in characters after trimming.
const COMMENT_CHARS_MAX: usize = 300;
/// Longest live title, in characters after trimming.
const TITLE_CHARS_MAX: usize = 200;
/// The most characters of rejected input an error message repeats back.
const ECHO_CHARS_MAX: usize = 16;

/// Why an input was rejected; each message names the field and says what was expected.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum LiveError {
    /// The handle is empty, too long, or has a character outside `a-z 0-9 _ .`.
    #[error("handle must be 1–30 characters of a-z, 0-9, _ and . ({0})")]
    InvalidHandle(String),
    /// The country is not an assigned upper-case ISO 3166-1 alpha-2 code.
    #[error(
        "country must be an assigned ISO 3166-1 alpha-2 code in upper case, such as US (got {0:?})"
    )]
    InvalidCountry(String),
    /// The account kind is not one of creator, viewer or brand.
    #[error("kind must be creator, viewer or brand (got {0:?})")]
    InvalidKind(String),
    /// The badge tier is not 1, 2 or 3.
    #[error("tier must be 1, 2 or 3 (got {0})")]
    UnknownTier(i64),
    /// The comment text is empty after trimming, too long, or has control characters.
    #[error("comment text must be 1–300 characters after trimming ({0})")]
    InvalidComment(String),
    /// The live title is empty after trimming, too long, or has control characters.
    #[error("title must be 1–200 characters on one line after trimming ({0})")]
    InvalidTitle(String),
    /// The badge price table breaks one of its rules.
    #[error("invalid price table: {0}")]
    InvalidPriceTable(String),
}

/// The first few characters of rejected input, so errors stay small whatever was sent.
fn echo(input: &str) -> String {
    input.chars().take(ECHO_CHARS_MAX).collect()
}

/// A unique public name: 1–30 characters of `a-z`, `0-9`, `_` and `.`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Handle(String);

impl Handle {
    /// Validates a handle; nothing is trimmed or lower-cased on the caller's behalf.
    pub fn parse(s: &str) -> Result<Handle, LiveError> {
        if s.is_empty() {
            return Err(LiveError::InvalidHandle("got an empty handle".into()));
        }
        if let Some((position, c)) = s
            .chars()
            .enumerate()
            .find(|&(_, c)| !matches!(c, 'a'..='z' | '0'..='9' | '_' | '.'))
        {
            return Err(LiveError::InvalidHandle(format!(
                "got {c:?} at position {}",
                position + 1
            )));
        }
        // Only ASCII is left, so bytes and characters agree.
        if s.len() > HANDLE_CHARS_MAX {
            return Err(LiveError::InvalidHandle(format!(
                "got {} characters",
                s.len()
            )));
        }
        Ok(Handle(s.to_owned()))
    }

    /// The handle as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Handle {
    type Err = LiveError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Handle::parse(s)
    }
}

impl TryFrom<String> for Handle {
    type Error = LiveError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Handle::parse(&s)
    }
}

impl From<Handle> for String {
    fn from(handle: Handle) -> String {
        handle.0
    }
}

/// Every officially assigned ISO 3166-1 alpha-2 code (249), sorted for binary search.
const ISO_3166_ALPHA2: [[u8; 2]; 249] = [
    *b"AD", *b"AE", *b"AF", *b"AG", *b"AI", *b"AL", *b"AM", *b"AO", *b"AQ", *b"AR", *b"AS", *b"AT",
    *b"AU", *b"AW", *b"AX", *b"AZ", *b"BA", *b"BB", *b"BD", *b"BE", *b"BF", *b"BG", *b"BH", *b"BI",
    *b"BJ", *b"BL", *b"BM", *b"BN", *b"BO", *b"BQ", *b"BR", *b"BS", *b"BT", *b"BV", *b"BW", *b"BY",
    *b"BZ", *b"CA", *b"CC", *b"CD", *b"CF", *b"CG", *b"CH", *b"CI", *b"CK", *b"CL", *b"CM", *b"CN",
    *b"CO", *b"CR", *b"CU", *b"CV", *b"CW", *b"CX", *b"CY", *b"CZ", *b"DE", *b"DJ", *b"DK", *b"DM",
    *b"DO", *b"DZ", *b"EC", *b"EE", *b"EG", *b"EH", *b"ER", *b"ES", *b"ET", *b"FI", *b"FJ", *b"FK",
    *b"FM", *b"FO", *b"FR", *b"GA", *b"GB", *b"GD", *b"GE", *b"GF", *b"GG", *b"GH", *b"GI", *b"GL",
    *b"GM", *b"GN", *b"GP", *b"GQ", *b"GR", *b"GS", *b"GT", *b"GU", *b"GW", *b"GY", *b"HK", *b"HM",
    *b"HN", *b"HR", *b"HT", *b"HU", *b"ID", *b"IE", *b"IL", *b"IM", *b"IN", *b"IO", *b"IQ", *b"IR",
    *b"IS", *b"IT", *b"JE", *b"JM", *b"JO", *b"JP", *b"KE", *b"KG", *b"KH", *b"KI", *b"KM", *b"KN",
    *b"KP", *b"KR", *b"KW", *b"KY", *b"KZ", *b"LA", *b"LB", *b"LC", *b"LI", *b"LK", *b"LR", *b"LS",
    *b"LT", *b"LU", *b"LV", *b"LY", *b"MA", *b"MC", *b"MD", *b"ME", *b"MF", *b"MG", *b"MH", *b"MK",
    *b"ML", *b"MM", *b"MN", *b"MO", *b"MP", *b"MQ", *b"MR", *b"MS", *b"MT", *b"MU", *b"MV", *b"MW",
    *b"MX", *b"MY", *b"MZ", *b"NA", *b"NC", *b"NE", *b"NF", *b"NG", *b"NI", *b"NL", *b"NO", *b"NP",
    *b"NR", *b"NU", *b"NZ", *b"OM", *b"PA", *b"PE", *b"PF", *b"PG", *b"PH", *b"PK", *b"PL", *b"PM",
    *b"PN", *b"PR", *b"PS", *b"PT", *b"PW", *b"PY", *b"QA", *b"RE", *b"RO", *b"RS", *b"RU", *b"RW",
    *b"SA", *b"SB", *b"SC", *b"SD", *b"SE", *b"SG", *b"SH", *b"SI", *b"SJ", *b"SK", *b"SL", *b"SM",
    *b"SN", *b"SO", *b"SR", *b"SS", *b"ST", *b"SV", *b"SX", *b"SY", *b"SZ", *b"TC", *b"TD", *b"TF",
    *b"TG", *b"TH", *b"TJ", *b"TK", *b"TL", *b"TM", *b"TN", *b"TO", *b"TR", *b"TT", *b"TV", *b"TW",
    *b"TZ", *b"UA", *b"UG", *b"UM", *b"US", *b"UY", *b"UZ", *b"VA", *b"VC", *b"VE", *b"VG", *b"VI",
    *b"VN", *b"VU", *b"WF", *b"WS", *b"YE", *b"YT", *b"ZA", *b"ZM", *b"ZW",
];

/// An assigned ISO 3166-1 alpha-2 country code in upper case, e.g. `US`; serialized as a string.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    /// United States.
    pub const US: CountryCode = CountryCode(*b"US");
    /// France.
    pub const FR: CountryCode = CountryCode(*b"FR");
    /// United Kingdom.
    pub const GB: CountryCode = CountryCode(*b"GB");
    /// Germany.
    pub const DE: CountryCode = CountryCode(*b"DE");
    /// Italy.
    pub const IT: CountryCode = CountryCode(*b"IT");
    /// Türkiye.
    pub const TR: CountryCode = CountryCode(*b"TR");
    /// Spain.
    pub const ES: CountryCode = CountryCode(*b"ES");
    /// Brazil.
    pub const BR: CountryCode = CountryCode(*b"BR");
    /// Mexico.
    pub const MX: CountryCode = CountryCode(*b"MX");
    /// Australia.
    pub const AU: CountryCode = CountryCode(*b"AU");
    /// Japan.
    pub const JP: CountryCode = CountryCode(*b"JP");

    /// Parses an upper-case, officially assigned ISO 3166-1 alpha-2 code such as `"US"`.
    pub fn parse(s: &str) -> Result<CountryCode, LiveError> {
        let code: [u8; 2] = s
            .as_bytes()
            .try_into()
            .map_err(|_| LiveError::InvalidCountry(echo(s)))?;
        if ISO_3166_ALPHA2.binary_search(&code).is_err() {
            return Err(LiveError::InvalidCountry(echo(s)));
        }
        Ok(CountryCode(code))
    }

    /// The two-letter code, e.g. `"US"`.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("only codes from the ASCII ISO list are stored")
    }
}

impl fmt::Debug for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CountryCode").field(&self.as_str()).finish()
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CountryCode {
    type Err = LiveError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CountryCode::parse(s)
    }
}

impl TryFrom<String> for CountryCode {
    type Error = LiveError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        CountryCode::parse(&s)
    }
}

impl From<CountryCode> for String {
    fn from(code: CountryCode) -> String {
        code.as_str().to_owned()
    }
}

/// The eleven countries of the Live Badges launch, the default badge country list.
pub const LAUNCH_COUNTRIES: [CountryCode; 11] = [
    CountryCode::US,
    CountryCode::FR,
    CountryCode::GB,
    CountryCode::DE,
    CountryCode::IT,
    CountryCode::TR,
    CountryCode::ES,
    CountryCode::BR,
    CountryCode::MX,
    CountryCode::AU,
    CountryCode::JP,
];

/// What an account is for; serialized in lower case.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountKind {
    /// Goes live and earns.
    Creator,
    /// Watches, comments and buys badges.
    Viewer,
    /// Hires creators through the marketplace.
    Brand,
}

impl AccountKind {
    /// Parses `"creator"`, `"viewer"` or `"brand"` (lower case only).
    pub fn parse(s: &str) -> Result<AccountKind, LiveError> {
        match s {
            "creator" => Ok(AccountKind::Creator),
            "viewer" => Ok(AccountKind::Viewer),
            "brand" => Ok(AccountKind::Brand),
            _ => Err(LiveError::InvalidKind(echo(s))),
        }
    }

    /// The lower-case name, as stored and sent over the API.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Creator => "creator",
            AccountKind::Viewer => "viewer",
            AccountKind::Brand => "brand",
        }
    }
}

impl fmt::Display for AccountKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AccountKind {
    type Err = LiveError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AccountKind::parse(s)
    }
}

/// A badge tier, 1 to 3; higher tiers cost more and show more hearts. Serialized as an integer.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "u8")]
pub struct Tier(u8);

impl Tier {
    /// The three tiers, lowest first.
    pub const ALL: [Tier; 3] = [Tier(1), Tier(2), Tier(3)];

    /// Validates a tier number; anything but 1, 2 or 3 is `LiveError::UnknownTier`.
    pub fn new(n: i64) -> Result<Tier, LiveError> {
        match n {
            1..=3 => Ok(Tier(u8::try_from(n).expect("1..=3 fits in u8"))),
            _ => Err(LiveError::UnknownTier(n)),
        }
    }

    /// The tier number, 1 to 3.
    pub fn get(self) -> u8 {
        self.0
    }

    /// Hearts shown on the badge: tier 1 shows 1 heart, tier 2 shows 2, tier 3 shows 3.
    pub fn hearts(self) -> u8 {
        self.0
    }

    /// Position in a per-tier array, 0 to 2.
    fn index(self) -> usize {
        usize::from(self.0 - 1)
    }
}

impl TryFrom<i64> for Tier {
    type Error = LiveError;

    fn try_from(n: i64) -> Result<Self, Self::Error> {
        Tier::new(n)
    }
}

impl From<Tier> for u8 {
    fn from(tier: Tier) -> u8 {
        tier.0
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The price of one tier.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct TierPrice {
    /// The tier.
    pub tier: Tier,
    /// What it costs in the country's currency.
    pub price: Money,
}

/// One country's badge prices; the price of tier `t` is `tiers[t - 1]`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct CountryPrices {
    /// The country these prices apply to (the buyer's country).
    pub country: CountryCode,
    /// The currency every tier is priced in.
    pub currency: Currency,
    /// Prices for tiers 1, 2 and 3, in that order.
    pub tiers: [Money; 3],
}

impl CountryPrices {
    /// The price of `tier`.
    pub fn price(&self, tier: Tier) -> Money {
        self.tiers[tier.index()]
    }

    /// Every tier with its price, lowest tier first.
    pub fn tier_prices(&self) -> [TierPrice; 3] {
        Tier::ALL.map(|tier| TierPrice {
            tier,
            price: self.price(tier),
        })
    }

    /// Checks one entry: every price in `currency`, positive, and rising with the tier.
    fn validate(&self) -> Result<(), LiveError> {
        let country = self.country;
        for (tier, price) in Tier::ALL.into_iter().zip(self.tiers) {
            if price.currency() != self.currency {
                return Err(LiveError::InvalidPriceTable(format!(
                    "{country} tier {tier} is priced in {} but the country's currency is {}",
                    price.currency(),
                    self.currency
                )));
            }
            if !price.is_positive() {
                return Err(LiveError::InvalidPriceTable(format!(
                    "{country} tier {tier} price must be positive, got {price}"
                )));
            }
        }
        for (lower, higher) in self.tiers.iter().zip(&self.tiers[1..]) {
            if higher.amount() <= lower.amount() {
                return Err(LiveError::InvalidPriceTable(format!(
                    "{country} prices must rise strictly with the tier, got {lower} then {higher}"
                )));
            }
        }
        Ok(())
    }
}

/// Badge prices for every country where badges are sold, keyed by the buyer's country.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PriceTable {
    by_country: BTreeMap<CountryCode, CountryPrices>,
}

impl PriceTable {
    /// The shipped prices for the eleven launch countries (US 0.99 / 1.99 / 4.99 USD).
    pub fn defaults() -> PriceTable {
        let entry =
            |country: CountryCode, currency: Currency, [t1, t2, t3]: [i64; 3]| CountryPrices {
                country,
                currency,
                tiers: [
                    Money::new(t1, currency),
                    Money::new(t2, currency),
                    Money::new(t3, currency),
                ],
            };
        // App-store-like local price points for the US$0.99 / 1.99 / 4.99 tiers.
        let entries = vec![
            entry(CountryCode::US, Currency::USD, [99, 199, 499]),
            entry(CountryCode::FR, Currency::EUR, [109, 219, 549]),
            entry(CountryCode::DE, Currency::EUR, [109, 219, 549]),
            entry(CountryCode::IT, Currency::EUR, [109, 219, 549]),
            entry(CountryCode::ES, Currency::EUR, [109, 219, 549]),
            entry(CountryCode::GB, Currency::GBP, [99, 199, 499]),
            entry(CountryCode::TR, Currency::TRY, [2_999, 5_999, 14_999]),
            entry(CountryCode::BR, Currency::BRL, [590, 1_190, 2_790]),
            entry(CountryCode::MX, Currency::MXN, [1_900, 3_900, 9_900]),
            entry(CountryCode::AU, Currency::AUD, [149, 299, 799]),
            entry(CountryCode::JP, Currency::JPY, [120, 250, 610]),
        ];
        PriceTable::new(entries).expect("the shipped price table is valid (checked by a test)")
    }

    /// Builds a table, checking that no country appears twice and that each country's
    /// prices are in its currency, positive and strictly rising by tier.
    pub fn new(entries: Vec<CountryPrices>) -> Result<PriceTable, LiveError> {
        let mut by_country = BTreeMap::new();
        for entry in entries {
            entry.validate()?;
            if by_country.insert(entry.country, entry).is_some() {
                return Err(LiveError::InvalidPriceTable(format!(
                    "{} appears more than once",
                    entry.country
                )));
            }
        }
        Ok(PriceTable { by_country })
    }

    /// The prices for buyers in `c`, or `None` where badges are not offered.
    pub fn for_country(&self, c: CountryCode) -> Option<&CountryPrices> {
        self.by_country.get(&c)
    }

    /// The price of tier `t` for buyers in `c`, or `None` where badges are not offered.
    pub fn price(&self, c: CountryCode, t: Tier) -> Option<Money> {
        self.for_country(c).map(|prices| prices.price(t))
    }

    /// Countries with prices, in code order.
    pub fn countries(&self) -> impl Iterator<Item = CountryCode> + '_ {
        self.by_country.keys().copied()
    }
}

/// The operator's creator-eligibility settings.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct EligibilityRules {
    /// Age in completed years from which a creator counts as an adult.
    pub adult_age_years: u8,
    /// Followers a creator needs at least.
    pub follower_minimum: u64,
    /// Countries where creators may sell badges.
    pub countries: Vec<CountryCode>,
}

impl EligibilityRules {
    /// The documented defaults: adult at 18, no follower minimum, the launch countries.
    pub fn defaults() -> EligibilityRules {
        EligibilityRules {
            adult_age_years: 18,
            follower_minimum: 0,
            countries: LAUNCH_COUNTRIES.to_vec(),
        }
    }
}

/// What the eligibility check needs to know about a creator.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct CreatorFacts {
    /// The account's kind; only creators are eligible.
    pub kind: AccountKind,
    /// The creator's country.
    pub country: CountryCode,
    /// Birth date, when the platform sent one.
    pub birth_date: Option<Date>,
    /// Follower count on the host platform; `None` counts as zero.
    pub followers: Option<u64>,
    /// Whether the account is suspended.
    pub suspended: bool,
}

/// Why a creator may not go live or sell badges; the message is safe to show the creator.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
pub enum Ineligible {
    /// The account is a viewer or a brand.
    #[error("only creator accounts can go live")]
    NotACreator,
    /// The account is suspended.
    #[error("creator account is suspended")]
    Suspended,
    /// The creator is younger than the adult age.
    #[error("creator must be at least {adult_age_years} years old")]
    Minor {
        /// The configured adult age, in years.
        adult_age_years: u8,
    },
    /// Badges are not offered in the creator's country.
    #[error("badges are not offered in the creator's country ({0})")]
    CountryNotSupported(CountryCode),
    /// The creator has fewer followers than the configured minimum.
    #[error("creator needs at least {need} followers, has {have}")]
    TooFewFollowers {
        /// Followers the creator has.
        have: u64,
        /// Followers the rules require.
        need: u64,
    },
}

/// Decides whether a creator may go live and sell badges on `today`.
///
/// Checks, in order, reporting the first that fails: the account is a creator, it is not
/// suspended, it is not a minor, its country is in `rules.countries`, and it has at least
/// `rules.follower_minimum` followers (an unknown count is zero). An unknown birth date
/// counts as adult: the host platform vouches for the age of accounts it does not date.
pub fn check_creator_eligible(
    f: &CreatorFacts,
    rules: &EligibilityRules,
    today: Date,
) -> Result<(), Ineligible> {
    if f.kind != AccountKind::Creator {
        return Err(Ineligible::NotACreator);
    }
    if f.suspended {
        return Err(Ineligible::Suspended);
    }
    if is_minor(f.birth_date, today, rules.adult_age_years) {
        return Err(Ineligible::Minor {
            adult_age_years: rules.adult_age_years,
        });
    }
    if !rules.countries.contains(&f.country) {
        return Err(Ineligible::CountryNotSupported(f.country));
    }
    let have = f.followers.unwrap_or(0);
    if have < rules.follower_minimum {
        return Err(Ineligible::TooFewFollowers {
            have,
            need: rules.follower_minimum,
        });
    }
    Ok(())
}

/// Completed years from `birth` to `today` (0 if `today` is earlier).
///
/// Someone born on 29 February turns a year older on 1 March in non-leap years.
pub fn age_years(birth: Date, today: Date) -> u16 {
    if today <= birth {
        return 0;
    }
    let mut years = today.year() - birth.year();
    // Comparing (month, day) pairs puts a 29 February birthday after 28 February, so in a
    // non-leap year it is reached on 1 March.
    if (u8::from(today.month()), today.day()) < (u8::from(birth.month()), birth.day()) {
        years -= 1;
    }
    u16::try_from(years).unwrap_or(0)
}

/// True when `birth` is known and the person is younger than `adult_age_years` on `today`;
/// an unknown birth date counts as adult.
pub fn is_minor(birth: Option<Date>, today: Date, adult_age_years: u8) -> bool {
    birth.is_some_and(|birth| age_years(birth, today) < u16::from(adult_age_years))
}

/// Trims `s` and checks its length in characters and its control characters.
fn trimmed_text(s: &str, chars_max: usize, allow_line_breaks: bool) -> Result<&str, String> {
    let text = s.trim();
    let chars = text.chars().count();
    if chars == 0 {
        return Err("got nothing but whitespace".into());
    }
    if chars > chars_max {
        return Err(format!("got {chars} characters"));
    }
    // Control characters break rendering and NUL cannot be stored in PostgreSQL text.
    let allowed = |c: char| allow_line_breaks && matches!(c, '\n' | '\r' | '\t');
    if let Some(c) = text.chars().find(|&c| c.is_control() && !allowed(c)) {
        return Err(format!("got the control character {c:?}"));
    }
    Ok(text)
}

/// A chat comment: 1–300 characters after trimming; line breaks allowed, other control
/// characters not.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CommentText(String);

impl CommentText {
    /// Trims `s` and validates it as a comment.
    pub fn parse(s: &str) -> Result<CommentText, LiveError> {
        trimmed_text(s, COMMENT_CHARS_MAX, true)
            .map(|text| CommentText(text.to_owned()))
            .map_err(LiveError::InvalidComment)
    }

    /// The trimmed text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CommentText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for CommentText {
    type Error = LiveError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        CommentText::parse(&s)
    }
}

impl From<CommentText> for String {
    fn from(text: CommentText) -> String {
        text.0
    }
}

/// A live's title: 1–200 characters on one line after trimming.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LiveTitle(String);

impl LiveTitle {
    /// Trims `s` and validates it as a title.
    pub fn parse(s: &str) -> Result<LiveTitle, LiveError> {
        trimmed_text(s, TITLE_CHARS_MAX, false)
            .map(|text| LiveTitle(text.to_owned()))
            .map_err(LiveError::InvalidTitle)
    }

    /// The trimmed title.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LiveTitle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for LiveTitle {
    type Error = LiveError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        LiveTitle::parse(&s)
    }
}

impl From<LiveTitle> for String {
    fn from(title: LiveTitle) -> String {
        title.0
    }
}

/// How a badge price divides between the payment processor, the platform and the creator.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct BadgeSplit {
    /// What the creator earns: the price minus both fees.
    pub creator_share: Money,
    /// What the platform keeps.
    pub platform_fee: Money,
    /// What the payment processor keeps (zero for a wallet payment: the processor was paid
    /// when the wallet was topped up).
    pub processor_fee: Money,
}

/// A payment processor's price: a percentage and a fixed amount per payment.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ProcessorFee {
    /// The percentage part, in basis points.
    pub bps: Bps,
    /// The fixed part, in minor units of the payment's currency.
    pub fixed_minor: i64,
}

impl ProcessorFee {
    /// No fee (the sandbox, and wallet payments).
    pub const NONE: ProcessorFee = ProcessorFee {
        bps: Bps::ZERO,
        fixed_minor: 0,
    };

    /// The fee on `amount`: `bps` of it rounded toward zero, plus the fixed part; never
    /// more than the amount itself, never negative.
    ///
    /// ```
    /// use live::ProcessorFee;
    /// use money::{Bps, Currency, Money};
    ///
    /// // Stripe's 2.9 % + 30¢ on US$4.99: 14.471¢ rounds to 14, plus 30.
    /// let fee = ProcessorFee { bps: Bps::new(290)?, fixed_minor: 30 };
    /// assert_eq!(fee.on(Money::new(499, Currency::USD)), Money::new(44, Currency::USD));
    /// # Ok::<(), money::MoneyError>(())
    /// ```
    pub fn on(self, amount: Money) -> Money {
        if !amount.is_positive() {
            return Money::zero(amount.currency());
        }
        let (percent, _) = amount.split_bps(self.bps);
        let fee = percent
            .amount()
            .saturating_add(self.fixed_minor.max(0))
            .min(amount.amount());
        Money::new(fee, amount.currency())
    }
}

/// Splits a badge price. First the processor's fee ([`ProcessorFee::on`]); then the
/// platform's fee, `platform_fee_bps` of what is left, rounded toward zero; the creator gets
/// the remainder. The three always sum to the price.
///
/// ```
/// use live::{ProcessorFee, split_badge_price};
/// use money::{Bps, Currency, Money};
///
/// let split = split_badge_price(Money::new(499, Currency::USD), ProcessorFee::NONE, Bps::new(1_500)?);
/// assert_eq!(split.platform_fee, Money::new(74, Currency::USD)); // 74.85 rounds down
/// assert_eq!(split.creator_share, Money::new(425, Currency::USD));
///
/// let card = ProcessorFee { bps: Bps::new(290)?, fixed_minor: 30 };
/// let split = split_badge_price(Money::new(499, Currency::USD), card, Bps::new(3_000)?);
/// assert_eq!(split.processor_fee, Money::new(44, Currency::USD));
/// assert_eq!(split.platform_fee, Money::new(136, Currency::USD)); // 30 % of 455 = 136.5
/// assert_eq!(split.creator_share, Money::new(319, Currency::USD));
/// # Ok::<(), money::MoneyError>(())
/// ```
pub fn split_badge_price(
    price: Money,
    processor_fee: ProcessorFee,
    platform_fee_bps: Bps,
) -> BadgeSplit {
    let processor_fee = processor_fee.on(price);
    let net = Money::new(price.amount() - processor_fee.amount(), price.currency());
    let (platform_fee, creator_share) = net.split_bps(platform_fee_bps);
    BadgeSplit {
        creator_share,
        platform_fee,
        processor_fee,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Month;

    fn date(year: i32, month: Month, day: u8) -> Date {
        Date::from_calendar_date(year, month, day).expect("test dates are valid")
    }

    fn country(code: &str) -> CountryCode {
        CountryCode::parse(code).expect("test countries are assigned")
    }

    // Handles.

    #[test]
    fn handle_accepts_the_allowed_alphabet_up_to_30_characters() {
        for s in ["a", "ana", "ana_b.99", "_", ".", &"x".repeat(30)] {
            assert_eq!(
                Handle::parse(s).map(|h| h.as_str().to_owned()),
                Ok(s.to_owned())
            );
        }
        assert_eq!(Handle::parse("ana").expect("valid").to_string(), "ana");
    }

    #[test]
    fn handle_of_31_characters_is_rejected() {
        assert_eq!(
            Handle::parse(&"x".repeat(31)),
            Err(LiveError::InvalidHandle("got 31 characters".into()))
        );
    }

    #[test]
    fn handle_with_upper_case_is_rejected() {
        assert_eq!(
            Handle::parse("Ana"),
            Err(LiveError::InvalidHandle("got 'A' at position 1".into()))
        );
    }

    #[test]
    fn handle_rejects_empty_spaces_dashes_and_non_ascii() {
        for s in ["", " ana", "ana ", "an-a", "anä", "ana@x", "a\u{0}"] {
            assert!(Handle::parse(s).is_err(), "{s:?}");
        }
        assert_eq!(
            Handle::parse("").map_err(|e| e.to_string()),
            Err("handle must be 1–30 characters of a-z, 0-9, _ and . (got an empty handle)".into())
        );
    }

    #[test]
    fn handle_serde_validates() {
        let handle: Handle = serde_json::from_str("\"ana\"").expect("valid");
        assert_eq!(
            serde_json::to_string(&handle).expect("serializes"),
            "\"ana\""
        );
        assert!(serde_json::from_str::<Handle>("\"ANA\"").is_err());
    }

    // Countries.

    #[test]
    fn iso_list_is_sorted_unique_upper_case_and_complete() {
        assert_eq!(ISO_3166_ALPHA2.len(), 249);
        assert!(ISO_3166_ALPHA2.windows(2).all(|w| w[0] < w[1]));
        assert!(ISO_3166_ALPHA2.iter().flatten().all(u8::is_ascii_uppercase));
    }

    #[test]
    fn country_accepts_assigned_codes() {
        for code in ["US", "JP", "AX", "ZW", "SS", "BQ", "CW", "SX"] {
            assert_eq!(
                CountryCode::parse(code).map(|c| c.to_string()),
                Ok(code.to_owned())
            );
        }
        assert_eq!(country("GB"), CountryCode::GB);
    }

    #[test]
    fn unassigned_country_zz_is_rejected() {
        assert_eq!(
            CountryCode::parse("ZZ"),
            Err(LiveError::InvalidCountry("ZZ".into()))
        );
    }

    #[test]
    fn lower_case_country_is_rejected() {
        assert_eq!(
            CountryCode::parse("us"),
            Err(LiveError::InvalidCountry("us".into()))
        );
    }

    #[test]
    fn country_rejects_wrong_lengths_and_reserved_codes() {
        // UK and EU are exceptionally reserved, XK is user-assigned: none is an assigned code.
        for code in ["", "U", "USA", "UK", "EU", "XK", "U ", "ÜS"] {
            assert!(CountryCode::parse(code).is_err(), "{code:?}");
        }
    }

    #[test]
    fn country_serializes_as_a_string_and_debugs_readably() {
        assert_eq!(
            serde_json::to_string(&CountryCode::JP).expect("serializes"),
            "\"JP\""
        );
        assert_eq!(
            serde_json::from_str::<CountryCode>("\"FR\"").expect("valid"),
            CountryCode::FR
        );
        assert!(serde_json::from_str::<CountryCode>("\"fr\"").is_err());
        assert_eq!(format!("{:?}", CountryCode::US), "CountryCode(\"US\")");
    }

    #[test]
    fn launch_countries_are_assigned_codes() {
        for code in LAUNCH_COUNTRIES {
            assert_eq!(CountryCode::parse(code.as_str()), Ok(code));
        }
    }

    // Account kinds and tiers.

    #[test]
    fn account_kind_parses_lower_case_names_only() {
        for kind in [
            AccountKind::Creator,
            AccountKind::Viewer,
            AccountKind::Brand,
        ] {
            assert_eq!(AccountKind::parse(kind.as_str()), Ok(kind));
            assert_eq!(
                serde_json::to_string(&kind).expect("serializes"),
                format!("\"{kind}\"")
            );
        }
        assert_eq!(
            AccountKind::parse("Creator"),
            Err(LiveError::InvalidKind("Creator".into()))
        );
        assert!(serde_json::from_str::<AccountKind>("\"admin\"").is_err());
    }

    #[test]
    fn tiers_are_one_to_three_with_as_many_hearts() {
        for n in 1..=3 {
            let tier = Tier::new(n).expect("1..=3 is valid");
            assert_eq!(i64::from(tier.get()), n);
            assert_eq!(tier.hearts(), tier.get());
        }
        assert_eq!(Tier::ALL.map(Tier::get), [1, 2, 3]);
        for n in [0, 4, -1, i64::MAX, i64::MIN] {
            assert_eq!(Tier::new(n), Err(LiveError::UnknownTier(n)));
        }
    }

    #[test]
    fn tier_serde_is_a_validated_integer() {
        let tier: Tier = serde_json::from_str("2").expect("valid");
        assert_eq!(tier.get(), 2);
        assert_eq!(serde_json::to_string(&tier).expect("serializes"), "2");
        assert!(serde_json::from_str::<Tier>("4").is_err());
        assert!(serde_json::from_str::<Tier>("0").is_err());
    }

    // Prices.

    #[test]
    fn defaults_cover_the_eleven_launch_countries_with_rising_prices_in_local_currency() {
        let table = PriceTable::defaults();
        let expected = [
            ("US", Currency::USD),
            ("FR", Currency::EUR),
            ("DE", Currency::EUR),
            ("IT", Currency::EUR),
            ("ES", Currency::EUR),
            ("GB", Currency::GBP),
            ("TR", Currency::TRY),
            ("BR", Currency::BRL),
            ("MX", Currency::MXN),
            ("AU", Currency::AUD),
            ("JP", Currency::JPY),
        ];
        assert_eq!(table.countries().count(), expected.len());
        for (code, currency) in expected {
            let prices = table
                .for_country(country(code))
                .expect("launch country has prices");
            assert_eq!(prices.currency, currency, "{code}");
            for tier in Tier::ALL {
                assert_eq!(prices.price(tier).currency(), currency, "{code}");
                assert!(prices.price(tier).is_positive(), "{code}");
            }
            assert!(
                prices.tiers[0].amount() < prices.tiers[1].amount(),
                "{code}"
            );
            assert!(
                prices.tiers[1].amount() < prices.tiers[2].amount(),
                "{code}"
            );
        }
        let mut launch: Vec<_> = LAUNCH_COUNTRIES.to_vec();
        launch.sort();
        assert_eq!(table.countries().collect::<Vec<_>>(), launch);
    }

    #[test]
    fn default_us_prices_are_99_199_499_cents() {
        let table = PriceTable::defaults();
        let prices = Tier::ALL.map(|t| table.price(CountryCode::US, t));
        assert_eq!(
            prices,
            [99, 199, 499].map(|a| Some(Money::new(a, Currency::USD)))
        );
    }

    #[test]
    fn default_jp_tier_one_is_120_yen() {
        let tier_one = Tier::new(1).expect("valid");
        assert_eq!(
            PriceTable::defaults().price(CountryCode::JP, tier_one),
            Some(Money::new(120, Currency::JPY))
        );
    }

    #[test]
    fn unsupported_country_has_no_prices() {
        let table = PriceTable::defaults();
        assert_eq!(table.for_country(country("CA")), None);
        assert_eq!(table.price(country("CA"), Tier::ALL[0]), None);
    }

    #[test]
    fn tier_prices_list_every_tier_in_order() {
        let table = PriceTable::defaults();
        let prices = table.for_country(CountryCode::GB).expect("GB has prices");
        let listed = prices.tier_prices();
        assert_eq!(listed.map(|p| p.tier), Tier::ALL);
        assert_eq!(listed.map(|p| p.price.amount()), [99, 199, 499]);
    }

    fn prices(country: CountryCode, currency: Currency, amounts: [i64; 3]) -> CountryPrices {
        CountryPrices {
            country,
            currency,
            tiers: amounts.map(|a| Money::new(a, currency)),
        }
    }

    #[test]
    fn price_table_rejects_duplicate_countries() {
        let us = prices(CountryCode::US, Currency::USD, [1, 2, 3]);
        assert_eq!(
            PriceTable::new(vec![us, us]),
            Err(LiveError::InvalidPriceTable(
                "US appears more than once".into()
            ))
        );
    }

    #[test]
    fn price_table_rejects_prices_that_do_not_rise_strictly() {
        for amounts in [[1, 1, 2], [1, 3, 2], [3, 2, 1]] {
            let entry = prices(CountryCode::US, Currency::USD, amounts);
            assert!(PriceTable::new(vec![entry]).is_err(), "{amounts:?}");
        }
    }

    #[test]
    fn price_table_rejects_zero_and_negative_prices() {
        for amounts in [[0, 1, 2], [-1, 1, 2]] {
            let entry = prices(CountryCode::US, Currency::USD, amounts);
            assert!(PriceTable::new(vec![entry]).is_err(), "{amounts:?}");
        }
    }

    #[test]
    fn price_table_rejects_a_tier_in_another_currency() {
        let mut entry = prices(CountryCode::JP, Currency::JPY, [120, 250, 610]);
        entry.tiers[2] = Money::new(499, Currency::USD);
        let error = PriceTable::new(vec![entry]).expect_err("mixed currencies");
        assert_eq!(
            error.to_string(),
            "invalid price table: JP tier 3 is priced in USD but the country's currency is JPY"
        );
    }

    #[test]
    fn empty_price_table_is_allowed_and_offers_nothing() {
        let table = PriceTable::new(Vec::new()).expect("an operator may offer badges nowhere");
        assert_eq!(table.countries().count(), 0);
    }

    // Eligibility.

    fn today() -> Date {
        date(2026, Month::June, 15)
    }

    fn adult_creator() -> CreatorFacts {
        CreatorFacts {
            kind: AccountKind::Creator,
            country: CountryCode::US,
            birth_date: Some(date(1990, Month::April, 1)),
            followers: Some(12_000),
            suspended: false,
        }
    }

    #[test]
    fn adult_creator_in_a_launch_country_is_eligible() {
        let rules = EligibilityRules::defaults();
        assert_eq!(
            check_creator_eligible(&adult_creator(), &rules, today()),
            Ok(())
        );
    }

    #[test]
    fn viewers_and_brands_are_not_creators() {
        let rules = EligibilityRules::defaults();
        for kind in [AccountKind::Viewer, AccountKind::Brand] {
            let facts = CreatorFacts {
                kind,
                ..adult_creator()
            };
            assert_eq!(
                check_creator_eligible(&facts, &rules, today()),
                Err(Ineligible::NotACreator)
            );
        }
    }

    #[test]
    fn a_minor_creator_is_ineligible_with_the_configured_age_in_the_message() {
        let facts = CreatorFacts {
            birth_date: Some(date(2010, Month::January, 1)),
            ..adult_creator()
        };
        let error = check_creator_eligible(&facts, &EligibilityRules::defaults(), today())
            .expect_err("16 is under 18");
        assert_eq!(
            error,
            Ineligible::Minor {
                adult_age_years: 18
            }
        );
        assert_eq!(error.to_string(), "creator must be at least 18 years old");
    }

    #[test]
    fn a_creator_turns_adult_on_the_birthday() {
        let rules = EligibilityRules::defaults();
        let facts = CreatorFacts {
            birth_date: Some(date(2008, Month::June, 15)),
            ..adult_creator()
        };
        assert_eq!(check_creator_eligible(&facts, &rules, today()), Ok(()));
        let day_before = today().previous_day().expect("not the first date");
        assert_eq!(
            check_creator_eligible(&facts, &rules, day_before),
            Err(Ineligible::Minor {
                adult_age_years: 18
            })
        );
    }

    #[test]
    fn unknown_birth_date_counts_as_adult() {
        let facts = CreatorFacts {
            birth_date: None,
            ..adult_creator()
        };
        assert_eq!(
            check_creator_eligible(&facts, &EligibilityRules::defaults(), today()),
            Ok(())
        );
    }

    #[test]
    fn creator_outside_the_badge_countries_is_ineligible() {
        let facts = CreatorFacts {
            country: country("CA"),
            ..adult_creator()
        };
        let error = check_creator_eligible(&facts, &EligibilityRules::defaults(), today())
            .expect_err("CA is not a launch country");
        assert_eq!(error, Ineligible::CountryNotSupported(country("CA")));
        assert_eq!(
            error.to_string(),
            "badges are not offered in the creator's country (CA)"
        );
    }

    #[test]
    fn follower_minimum_is_inclusive_and_unknown_counts_as_zero() {
        let rules = EligibilityRules {
            follower_minimum: 10_000,
            ..EligibilityRules::defaults()
        };
        let exactly = CreatorFacts {
            followers: Some(10_000),
            ..adult_creator()
        };
        assert_eq!(check_creator_eligible(&exactly, &rules, today()), Ok(()));
        let short = CreatorFacts {
            followers: Some(9_999),
            ..adult_creator()
        };
        assert_eq!(
            check_creator_eligible(&short, &rules, today()),
            Err(Ineligible::TooFewFollowers {
                have: 9_999,
                need: 10_000
            })
        );
        let unknown = CreatorFacts {
            followers: None,
            ..adult_creator()
        };
        assert_eq!(
            check_creator_eligible(&unknown, &rules, today()),
            Err(Ineligible::TooFewFollowers {
                have: 0,
                need: 10_000
            })
        );
        let unknown_without_minimum = CreatorFacts {
            followers: None,
            ..adult_creator()
        };
        assert_eq!(
            check_creator_eligible(
                &unknown_without_minimum,
                &EligibilityRules::defaults(),
                today()
            ),
            Ok(())
        );
    }

    #[test]
    fn suspended_creator_is_ineligible_before_anything_else_about_them() {
        let facts = CreatorFacts {
            suspended: true,
            country: country("CA"),
            ..adult_creator()
        };
        assert_eq!(
            check_creator_eligible(&facts, &EligibilityRules::defaults(), today()),
            Err(Ineligible::Suspended)
        );
    }

    #[test]
    fn ineligible_messages_are_lower_case_without_a_trailing_dot() {
        let reasons = [
            Ineligible::NotACreator,
            Ineligible::Suspended,
            Ineligible::Minor {
                adult_age_years: 18,
            },
            Ineligible::CountryNotSupported(CountryCode::JP),
            Ineligible::TooFewFollowers { have: 1, need: 2 },
        ];
        for reason in reasons {
            let message = reason.to_string();
            assert!(message.starts_with(char::is_lowercase), "{message}");
            assert!(!message.ends_with('.'), "{message}");
        }
    }

    // Ages.

    #[test]
    fn age_counts_completed_years() {
        let birth = date(2000, Month::June, 15);
        assert_eq!(age_years(birth, date(2018, Month::June, 14)), 17);
        assert_eq!(age_years(birth, date(2018, Month::June, 15)), 18);
        assert_eq!(age_years(birth, date(2018, Month::December, 31)), 18);
        assert_eq!(age_years(birth, birth), 0);
        assert_eq!(
            age_years(birth, date(1999, Month::January, 1)),
            0,
            "future birth dates are age 0"
        );
    }

    #[test]
    fn feb_29_birthday_counts_on_march_1_in_non_leap_years() {
        let birth = date(2008, Month::February, 29);
        assert_eq!(age_years(birth, date(2026, Month::February, 28)), 17);
        assert_eq!(age_years(birth, date(2026, Month::March, 1)), 18);
        // In a leap year the birthday itself exists.
        assert_eq!(age_years(birth, date(2024, Month::February, 28)), 15);
        assert_eq!(age_years(birth, date(2024, Month::February, 29)), 16);
    }

    #[test]
    fn is_minor_treats_unknown_birth_dates_as_adult() {
        let today = today();
        assert!(!is_minor(None, today, 18));
        assert!(is_minor(Some(date(2010, Month::January, 1)), today, 18));
        assert!(!is_minor(Some(date(2008, Month::June, 15)), today, 18));
        assert!(is_minor(Some(date(2008, Month::June, 16)), today, 18));
        assert!(
            !is_minor(Some(today), today, 0),
            "an adult age of 0 makes everyone adult"
        );
    }

    // Comments and titles.

    #[test]
    fn comment_of_300_characters_is_accepted_and_301_rejected() {
        let ok = "é".repeat(300);
        assert_eq!(
            CommentText::parse(&ok).map(|c| c.as_str().chars().count()),
            Ok(300)
        );
        assert_eq!(
            CommentText::parse(&"é".repeat(301)),
            Err(LiveError::InvalidComment("got 301 characters".into()))
        );
    }

    #[test]
    fn comment_length_is_measured_after_trimming() {
        let padded = format!("  {}\n\t", "a".repeat(300));
        assert_eq!(
            CommentText::parse(&padded).map(|c| c.as_str().len()),
            Ok(300)
        );
        assert_eq!(
            CommentText::parse("  hi  ").map(|c| c.to_string()),
            Ok("hi".into())
        );
    }

    #[test]
    fn whitespace_only_comment_is_rejected() {
        for s in ["", " ", "\n\t  ", "\u{3000}"] {
            assert_eq!(
                CommentText::parse(s),
                Err(LiveError::InvalidComment(
                    "got nothing but whitespace".into()
                )),
                "{s:?}"
            );
        }
    }

    #[test]
    fn comment_keeps_line_breaks_but_rejects_other_control_characters() {
        assert!(CommentText::parse("line one\nline two").is_ok());
        assert!(CommentText::parse("nul\u{0}byte").is_err());
        assert!(CommentText::parse("bell\u{7}").is_err());
    }

    #[test]
    fn comment_serde_trims_and_validates() {
        let text: CommentText = serde_json::from_str("\" hello \"").expect("valid");
        assert_eq!(text.as_str(), "hello");
        assert!(serde_json::from_str::<CommentText>("\"   \"").is_err());
    }

    #[test]
    fn title_is_trimmed_and_limited_to_200_characters_on_one_line() {
        assert_eq!(
            LiveTitle::parse("  Friday Q&A ").map(|t| t.as_str().to_owned()),
            Ok("Friday Q&A".into())
        );
        assert!(LiveTitle::parse(&"t".repeat(200)).is_ok());
        assert_eq!(
            LiveTitle::parse(&"t".repeat(201)),
            Err(LiveError::InvalidTitle("got 201 characters".into()))
        );
        assert!(LiveTitle::parse(" \n ").is_err());
        assert!(LiveTitle::parse("two\nlines").is_err());
    }

    #[test]
    fn live_errors_name_the_field_in_lower_case() {
        let errors = [
            LiveError::InvalidHandle("got 31 characters".into()),
            LiveError::InvalidCountry("ZZ".into()),
            LiveError::InvalidKind("admin".into()),
            LiveError::UnknownTier(4),
            LiveError::InvalidComment("got 301 characters".into()),
            LiveError::InvalidTitle("got 201 characters".into()),
            LiveError::InvalidPriceTable("US appears more than once".into()),
        ];
        let fields = [
            "handle",
            "country",
            "kind",
            "tier",
            "comment",
            "title",
            "price table",
        ];
        for (error, field) in errors.iter().zip(fields) {
            let message = error.to_string();
            assert!(message.contains(field), "{message}");
            assert!(message.starts_with(char::is_lowercase), "{message}");
            assert!(!message.ends_with('.'), "{message}");
        }
    }

    // Badge splits.

    #[test]
    fn badge_fee_rounds_toward_zero_and_the_creator_gets_the_remainder() {
        let fee = Bps::new(3_000).expect("in range");
        let split = split_badge_price(Money::new(199, Currency::USD), ProcessorFee::NONE, fee);
        assert_eq!(split.platform_fee, Money::new(59, Currency::USD));
        assert_eq!(split.creator_share, Money::new(140, Currency::USD));
        let free = split_badge_price(
            Money::new(120, Currency::JPY),
            ProcessorFee::NONE,
            Bps::ZERO,
        );
        assert_eq!(free.platform_fee, Money::zero(Currency::JPY));
        assert_eq!(free.creator_share, Money::new(120, Currency::JPY));
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;
    use time::Duration;

    fn date() -> impl Strategy<Value = Date> {
        // Julian days from 1900-01-01 to 2100-12-31.
        (2_415_021..=2_488_434_i32)
            .prop_map(|day| Date::from_julian_day(day).expect("generated within range"))
    }

    proptest! {
        #[test]
        fn badge_split_always_sums_to_the_price(
            amount in any::<i64>(),
            currency in prop::sample::select(vec![Currency::USD, Currency::JPY, Currency::BHD]),
            fee_bps in 0..=10_000_u32,
            processor_bps in 0..=10_000_u32,
            fixed in 0..1_000_i64,
        ) {
            let price = Money::new(amount, currency);
            let processor = ProcessorFee { bps: Bps::new(processor_bps).expect("generated in range"), fixed_minor: fixed };
            let split = split_badge_price(price, processor, Bps::new(fee_bps).expect("generated in range"));
            let sum = split.creator_share.checked_add(split.platform_fee).and_then(|s| s.checked_add(split.processor_fee));
            prop_assert_eq!(sum, Ok(price));
            if price.is_positive() {
                prop_assert!(!split.platform_fee.is_negative());
                prop_assert!(!split.creator_share.is_negative());
                prop_assert!(!split.processor_fee.is_negative());
                prop_assert!(split.processor_fee.amount() <= price.amount());
            }
        }

        #[test]
        fn handles_from_the_alphabet_parse_and_round_trip(s in "[a-z0-9_.]{1,30}") {
            prop_assert_eq!(Handle::parse(&s).map(|h| h.as_str().to_owned()), Ok(s));
        }

        #[test]
        fn handles_never_contain_anything_outside_the_alphabet(s in any::<String>()) {
            if let Ok(handle) = Handle::parse(&s) {
                let text = handle.as_str();
                prop_assert!((1..=30).contains(&text.len()));
                prop_assert!(text.bytes().all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.')));
            }
        }

        #[test]
        fn parsed_comments_are_trimmed_and_within_bounds(s in any::<String>()) {
            if let Ok(comment) = CommentText::parse(&s) {
                let text = comment.as_str();
                prop_assert_eq!(text, text.trim());
                prop_assert!((1..=300).contains(&text.chars().count()));
            }
        }

        #[test]
        fn age_grows_by_one_on_each_anniversary(birth in date(), years in 0_i32..100) {
            let Ok(anniversary) = birth.replace_year(birth.year() + years) else {
                // A 29 February birth date in a non-leap year: the birthday is 1 March.
                let march_first = Date::from_calendar_date(birth.year() + years, time::Month::March, 1)
                    .expect("1 March always exists");
                prop_assert_eq!(i32::from(age_years(birth, march_first)), years);
                return Ok(());
            };
            prop_assert_eq!(i32::from(age_years(birth, anniversary)), years);
            if years > 0 {
                let eve = anniversary - Duration::days(1);
                prop_assert_eq!(i32::from(age_years(birth, eve)), years - 1);
            }
        }

        #[test]
        fn age_never_decreases_as_time_passes(birth in date(), a in date(), b in date()) {
            let (earlier, later) = if a <= b { (a, b) } else { (b, a) };
            prop_assert!(age_years(birth, earlier) <= age_years(birth, later));
        }
    }
}
