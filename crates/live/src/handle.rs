//! `Handle`, the unique public name of an account, validated once at the edge: 1–30
//! characters of `a-z`, `0-9`, `_` and `.`, never trimmed or lower-cased on the caller's
//! behalf.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::LiveError;

/// Longest handle, in characters.
const HANDLE_CHARS_MAX: usize = 30;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
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
    }
}
