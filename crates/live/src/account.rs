//! `AccountKind`: whether an account is a creator, a viewer or a brand, parsed from and
//! written as the lower-case name that is stored and sent over the API.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{LiveError, echo};

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
