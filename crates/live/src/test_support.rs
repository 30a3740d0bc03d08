//! Helpers shared by the unit tests of several modules.

use crate::country::CountryCode;

/// Parses a country code that the test knows is assigned.
pub(crate) fn country(code: &str) -> CountryCode {
    CountryCode::parse(code).expect("test countries are assigned")
}
