//! Why an input was rejected: `LiveError`, the one error that every parse-at-the-edge
//! constructor in this crate returns (handles, countries, account kinds, tiers, comments,
//! titles and the price table), and the helper that keeps its messages small by repeating
//! only the start of the rejected input.

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
pub(crate) fn echo(input: &str) -> String {
    input.chars().take(ECHO_CHARS_MAX).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
