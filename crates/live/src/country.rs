//! `CountryCode`, an upper-case ISO 3166-1 alpha-2 code checked against the full list of
//! the 249 officially assigned codes, and `LAUNCH_COUNTRIES`, the eleven countries of the
//! Live Badges launch that serve as the default list for prices and creator eligibility.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{LiveError, echo};

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

    /// Every officially assigned ISO 3166-1 alpha-2 code, in alphabetical order: what
    /// [`CountryCode::parse`] takes.
    pub fn all() -> impl Iterator<Item = CountryCode> {
        ISO_3166_ALPHA2.iter().copied().map(CountryCode)
    }

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::country;

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
}
