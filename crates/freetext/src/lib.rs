//! Free text that people type and others read — comments, titles, briefs, bios, notes: the
//! one place that says which characters it may hold.
//!
//! Control characters break rendering (and NUL cannot be stored in PostgreSQL text); line
//! breaks are allowed only where the caller says so. Characters that change the direction
//! text is shown in, or show nothing, are the tools of spoofing ("evil\u{202E}gnp.exe" shows
//! as "evilexe.png"; a zero-width space makes two names that look the same differ): they are
//! refused, never stripped, so what is stored is what was sent. Zero-width joiners are kept
//! only where they join two characters that are not ASCII (emoji sequences, Persian,
//! Devanagari).

/// Whether a text may span lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    /// One line: no line breaks or tabs.
    One,
    /// Several: `\n`, `\r` and `\t` allowed.
    Many,
}

/// [`check`]'s rule as a JSON Schema (ECMA-262) pattern for one-line text, for API documents:
/// no control, invisible or direction-changing character, and at least one character that
/// is not whitespace. It is stricter than [`check`] in one way only: it refuses zero-width
/// joiners everywhere rather than only outside words.
pub const PATTERN_ONE_LINE: &str = concat!(
    r"^[^\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]*",
    r"[^\s\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]",
    r"[^\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]*$"
);

/// [`PATTERN_ONE_LINE`] for text that may span lines (tabs and line breaks allowed).
pub const PATTERN_MANY_LINES: &str = concat!(
    r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]*",
    r"[^\s\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]",
    r"[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]*$"
);

/// Checks the characters of `text`; the error says which character was refused.
pub fn check(text: &str, lines: Lines) -> Result<(), String> {
    let allowed = |c: char| lines == Lines::Many && matches!(c, '\n' | '\r' | '\t');
    if let Some(c) = text.chars().find(|&c| c.is_control() && !allowed(c)) {
        return Err(format!("got the control character {c:?}"));
    }
    if let Some(c) = text
        .chars()
        .find(|&c| is_bidi_control(c) || is_invisible(c))
    {
        return Err(format!(
            "got the invisible or direction-changing character U+{:04X}",
            u32::from(c)
        ));
    }
    let chars: Vec<char> = text.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        if matches!(c, '\u{200C}' | '\u{200D}') {
            let joins = i > 0
                && !chars[i - 1].is_ascii()
                && chars.get(i + 1).is_some_and(|next| !next.is_ascii());
            if !joins {
                return Err(format!(
                    "got the zero-width joiner U+{:04X} outside a word or emoji",
                    u32::from(*c)
                ));
            }
        }
    }
    Ok(())
}

/// `s` trimmed, if it holds 1 to `chars_max` characters (counted after trimming) that pass
/// [`check`].
pub fn trimmed(s: &str, chars_max: usize, lines: Lines) -> Result<&str, String> {
    let text = s.trim();
    let chars = text.chars().count();
    if chars == 0 {
        return Err("got nothing but whitespace".into());
    }
    if chars > chars_max {
        return Err(format!("got {chars} characters"));
    }
    check(text, lines)?;
    Ok(text)
}

/// Characters that change the direction text is shown in (Trojan Source, CVE-2021-42574):
/// embeddings, overrides, isolates and the marks.
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// Characters that show nothing and join nothing: zero-width space, word joiner, invisible
/// operators, the byte-order mark, the Mongolian vowel separator, soft hyphen.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}' | '\u{180E}' | '\u{200B}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn direction_overrides_and_invisible_characters_are_refused() {
        for s in [
            "evil\u{202E}gnp.exe",
            "\u{2066}isolated\u{2069}",
            "mark\u{200F}",
            "arabic\u{061C}mark",
            "zero\u{200B}width",
            "word\u{2060}joiner",
            "\u{FEFF}bom",
            "soft\u{00AD}hyphen",
            "a\u{200D}na",
            "\u{200D}start",
            "end\u{200C}",
        ] {
            assert!(check(s, Lines::Many).is_err(), "{s:?}");
            assert!(check(s, Lines::One).is_err(), "{s:?}");
        }
    }

    #[test]
    fn joiners_inside_emoji_and_scripts_that_need_them_stay() {
        for s in [
            "👩\u{200D}💻 coding",
            "می\u{200C}خواهم",
            "मि\u{200D}त्र",
            "مرحبا",
            "שלום",
        ] {
            assert_eq!(check(s, Lines::One), Ok(()), "{s:?}");
        }
    }

    #[test]
    fn line_breaks_only_where_allowed() {
        assert_eq!(check("one\ntwo\r\n\tthree", Lines::Many), Ok(()));
        assert!(check("one\ntwo", Lines::One).is_err());
        for lines in [Lines::One, Lines::Many] {
            assert!(check("nul\u{0}", lines).is_err());
            assert!(check("bell\u{7}", lines).is_err());
            assert!(check("next line\u{85}", lines).is_err());
        }
    }

    #[test]
    fn trimmed_counts_characters_after_trimming() {
        assert_eq!(trimmed("  hi \n", 2, Lines::One), Ok("hi"));
        assert_eq!(
            trimmed(&"é".repeat(3), 2, Lines::One),
            Err("got 3 characters".into())
        );
        assert_eq!(
            trimmed(" \u{3000}\t", 5, Lines::Many),
            Err("got nothing but whitespace".into())
        );
    }

    /// What the patterns match, `trimmed` takes (the patterns may be stricter, never looser).
    fn pattern_agrees(pattern: &str, s: &str, lines: Lines) -> Result<(), TestCaseError> {
        let re = regex::Regex::new(pattern).expect("the pattern compiles");
        if re.is_match(s) {
            prop_assert!(
                trimmed(s, usize::MAX, lines).is_ok(),
                "{:?} matches but is refused",
                s
            );
        }
        Ok(())
    }

    #[test]
    fn the_patterns_take_plain_text_and_refuse_what_check_refuses() {
        let one = regex::Regex::new(PATTERN_ONE_LINE).expect("compiles");
        let many = regex::Regex::new(PATTERN_MANY_LINES).expect("compiles");
        for s in ["Friday Q&A", "日本語 👍", " padded "] {
            assert!(one.is_match(s) && many.is_match(s), "{s:?}");
        }
        assert!(many.is_match("one\ntwo") && !one.is_match("one\ntwo"));
        for s in [
            "",
            "   ",
            "evil\u{202E}gnp",
            "zero\u{200B}width",
            "nul\u{0}",
            "\u{FEFF}",
        ] {
            assert!(!one.is_match(s) && !many.is_match(s), "{s:?}");
        }
    }

    proptest! {
        #[test]
        fn what_a_pattern_matches_is_taken(s in "\\PC{0,20}|[ \t\n\u{200B}-\u{2069}a-z]{0,20}") {
            pattern_agrees(PATTERN_ONE_LINE, &s, Lines::One)?;
            pattern_agrees(PATTERN_MANY_LINES, &s, Lines::Many)?;
        }

        #[test]
        fn what_passes_holds_no_refused_character(s in "\\PC{0,40}") {
            if check(&s, Lines::One).is_ok() {
                prop_assert!(!s.chars().any(|c| c.is_control() || is_bidi_control(c) || is_invisible(c)));
            }
        }

        #[test]
        fn plain_text_always_passes(s in "[a-zA-Z0-9 .,!?éü日本語👍]{0,40}") {
            prop_assert_eq!(check(&s, Lines::One), Ok(()));
        }
    }
}
