//! Free text that people type: `CommentText` for chat and `LiveTitle` for a live. Both are
//! trimmed, bounded in characters and hold only the characters [`freetext`] allows (no
//! control characters, nothing that changes text direction or shows nothing), except that
//! a comment keeps its line breaks and a title stays on one line.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::LiveError;

/// Longest comment, in characters after trimming.
const COMMENT_CHARS_MAX: usize = 300;
/// Longest live title, in characters after trimming.
const TITLE_CHARS_MAX: usize = 200;

/// A chat comment: 1–300 characters after trimming; line breaks allowed, other control
/// characters not.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CommentText(String);

impl CommentText {
    /// Trims `s` and validates it as a comment.
    pub fn parse(s: &str) -> Result<CommentText, LiveError> {
        freetext::trimmed(s, COMMENT_CHARS_MAX, freetext::Lines::Many)
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
        freetext::trimmed(s, TITLE_CHARS_MAX, freetext::Lines::One)
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn direction_overrides_and_invisible_characters_are_refused_in_comments_and_titles() {
        for s in [
            "evil\u{202E}gnp.exe",
            "\u{2066}isolated\u{2069}",
            "mark\u{200F}",
            "zero\u{200B}width",
            "word\u{2060}joiner",
            "\u{FEFF}bom",
            "a\u{200D}na",
            "\u{200D}start",
        ] {
            assert!(CommentText::parse(s).is_err(), "{s:?}");
            assert!(LiveTitle::parse(s).is_err(), "{s:?}");
        }
        // Joiners inside emoji and scripts that need them stay.
        for s in ["👩\u{200D}💻 coding", "می\u{200C}خواهم", "مرحبا", "שלום"] {
            assert!(CommentText::parse(s).is_ok(), "{s:?}");
        }
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
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn parsed_comments_are_trimmed_and_within_bounds(s in any::<String>()) {
            if let Ok(comment) = CommentText::parse(&s) {
                let text = comment.as_str();
                prop_assert_eq!(text, text.trim());
                prop_assert!((1..=300).contains(&text.chars().count()));
            }
        }
    }
}
