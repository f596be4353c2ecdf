//! `like` / `ilike` patterns, compiled once: Ditto's LikeHelper turns `*` into `.*`, `?` into `.` and
//! quotes everything else, then requires a full `java.util.regex` match (reference §4.3).
//!
//! Java details kept: runs of `*` collapse to one; `.` does not match line terminators (`\n`, `\r`,
//! U+0085, U+2028, U+2029), so wildcards never cross one; `?` is one code point; `ilike` uses
//! `CASE_INSENSITIVE` without `UNICODE_CASE`, i.e. only ASCII letters fold.

/// The longest `like`/`ilike` pattern a filter may carry, in characters. With the pattern bounded,
/// matching a value costs time linear in the value (see [`LikePattern`]); the bound keeps the
/// compiled automaton small and the per-value constant low (`make bench` measures the worst case).
pub const MAX_LIKE_PATTERN_CHARS: usize = 1_024;

/// How much memory one compiled pattern may take (the `regex` crate's size limit).
const COMPILED_SIZE_LIMIT: usize = 1 << 20;

/// Java's line terminators: `.` in a `java.util.regex` pattern matches none of them.
const NOT_LINE_TERMINATOR: &str = "[^\\n\\r\\x{85}\\x{2028}\\x{2029}]";

/// A compiled pattern: the regex Ditto's LikeHelper builds, compiled once by the `regex` crate,
/// whose finite-automaton engines match in time linear in the text for a given pattern. (The
/// backtracking wildcard matcher this replaced was O(text × pattern): one filter with a long
/// pattern against a large attribute stalled a hub for seconds per event.)
#[derive(Debug, Clone)]
pub(crate) struct LikePattern {
    source: Box<str>,
    case_insensitive: bool,
    regex: regex::Regex,
}

impl PartialEq for LikePattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source && self.case_insensitive == other.case_insensitive
    }
}

impl Eq for LikePattern {}

impl LikePattern {
    /// Compiles a pattern; `Err` carries the RQL error message for a pattern over the limits.
    pub(crate) fn new(pattern: &str, case_insensitive: bool) -> Result<LikePattern, String> {
        let chars = pattern.chars().count();
        if chars > MAX_LIKE_PATTERN_CHARS {
            return Err(format!(
                "The like pattern has {chars} characters, more than the limit of \
                 {MAX_LIKE_PATTERN_CHARS}."
            ));
        }
        let mut re = String::with_capacity(pattern.len() * 2 + 8);
        re.push_str("\\A");
        let mut previous_star = false;
        for c in pattern.chars() {
            match c {
                // Ditto: replaceAll("\\*{2,}", "*").
                '*' if previous_star => {}
                '*' => {
                    re.push_str(NOT_LINE_TERMINATOR);
                    re.push('*');
                }
                '?' => re.push_str(NOT_LINE_TERMINATOR),
                // CASE_INSENSITIVE without UNICODE_CASE: only ASCII letters fold.
                c if case_insensitive && c.is_ascii_alphabetic() => {
                    re.push('[');
                    re.push(c.to_ascii_lowercase());
                    re.push(c.to_ascii_uppercase());
                    re.push(']');
                }
                c => {
                    let mut buf = [0u8; 4];
                    re.push_str(&regex::escape(c.encode_utf8(&mut buf)));
                }
            }
            previous_star = c == '*';
        }
        re.push_str("\\z");
        let regex = regex::RegexBuilder::new(&re)
            .size_limit(COMPILED_SIZE_LIMIT)
            .dfa_size_limit(COMPILED_SIZE_LIMIT)
            .build()
            .map_err(|_| {
                format!("The like pattern is too complex to compile (limit {COMPILED_SIZE_LIMIT} bytes).")
            })?;
        Ok(LikePattern {
            source: pattern.into(),
            case_insensitive,
            regex,
        })
    }

    /// True when the pattern is only `*`: it matches every string without line terminators, including
    /// the `Object.toString()` Ditto ends up matching for a JSON null.
    pub(crate) fn is_match_anything(&self) -> bool {
        !self.source.is_empty() && self.source.chars().all(|c| c == '*')
    }

    pub(crate) fn matches(&self, text: &str) -> bool {
        self.regex.is_match(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn like_table() {
        // (pattern, ilike, text, matches)
        let cases: &[(&str, bool, &str, bool)] = &[
            ("*", false, "", true),
            ("*", false, "anything", true),
            ("", false, "", true),
            ("", false, "x", false),
            ("abc", false, "abc", true),
            ("abc", false, "abcd", false),
            ("abc", false, "xabc", false),
            ("a*", false, "abc", true),
            ("*c", false, "abc", true),
            ("*b*", false, "abc", true),
            ("a?c", false, "abc", true),
            ("a?c", false, "ac", false),
            ("a??", false, "aéb", true),
            ("?", false, "😀", true),
            ("a**b", false, "axxb", true),
            ("a***", false, "a", true),
            ("/features/x*", false, "/features/xyz/properties", true),
            ("/features/x*", false, "/features/y", false),
            ("a.c", false, "abc", false),
            ("a.c", false, "a.c", true),
            ("[ab]", false, "a", false),
            ("[ab]", false, "[ab]", true),
            ("a\\*", false, "a\\xyz", true),
            ("\\E*", false, "\\Exx", true),
            ("a+b", false, "a+b", true),
            ("(x)", false, "(x)", true),
            ("*", false, "a\nb", false),
            ("a*b", false, "a\nb", false),
            ("a\nb", false, "a\nb", true),
            ("a*\n*b", false, "axx\nyyb", true),
            ("a?b", false, "a\rb", false),
            ("*", false, "x\u{2028}", false),
            ("ABC", true, "abc", true),
            ("abc", true, "AbC", true),
            ("a*Z", true, "aXYZz", true),
            ("é", true, "É", false),
            ("é", false, "é", true),
            ("abc", false, "ABC", false),
            (
                "*a*a*a*a*a*b",
                false,
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                false,
            ),
        ];
        for &(pattern, ci, text, want) in cases {
            let p = LikePattern::new(pattern, ci).expect("pattern compiles");
            assert_eq!(
                p.matches(text),
                want,
                "pattern {pattern:?} (ilike={ci}) on {text:?}"
            );
        }
    }

    #[test]
    fn only_pure_star_patterns_match_anything() {
        assert!(LikePattern::new("*", false).unwrap().is_match_anything());
        assert!(LikePattern::new("***", true).unwrap().is_match_anything());
        assert!(!LikePattern::new("*?", false).unwrap().is_match_anything());
        assert!(!LikePattern::new("", false).unwrap().is_match_anything());
    }

    #[test]
    fn patterns_over_the_limit_are_refused_with_the_limit_named() {
        let at_limit = "a*".repeat(MAX_LIKE_PATTERN_CHARS / 2);
        assert!(LikePattern::new(&at_limit, true).is_ok());
        let ten_times = "*a".repeat(MAX_LIKE_PATTERN_CHARS * 5);
        let err = LikePattern::new(&ten_times, false).unwrap_err();
        assert!(err.contains("more than the limit of 1024"), "{err}");
    }

    #[test]
    fn the_worst_pattern_at_the_limit_matches_a_megabyte_value() {
        // The backtracking matcher this replaced took O(text x pattern) here: ~10^9 steps.
        let pattern = format!("*{}b", "a*".repeat(MAX_LIKE_PATTERN_CHARS / 2 - 1));
        let p = LikePattern::new(&pattern, false).unwrap();
        let text = "a".repeat(1 << 20);
        assert!(!p.matches(&text));
        assert!(p.matches(&format!("{text}b")));
    }

    /// Independent reference: the regex Ditto's LikeHelper produces, in Rust regex syntax.
    fn reference(pattern: &str, ci: bool) -> regex::Regex {
        const NOT_LT: &str = "[^\\n\\r\\x{85}\\x{2028}\\x{2029}]";
        let mut re = String::from("\\A");
        for c in pattern.chars() {
            match c {
                '*' => re.push_str(&format!("{NOT_LT}*")),
                '?' => re.push_str(NOT_LT),
                c if ci && c.is_ascii_alphabetic() => re.push_str(&format!(
                    "[{}{}]",
                    c.to_ascii_lowercase(),
                    c.to_ascii_uppercase()
                )),
                c => re.push_str(&regex::escape(&c.to_string())),
            }
        }
        re.push_str("\\z");
        match regex::Regex::new(&re) {
            Ok(r) => r,
            Err(e) => panic!("reference regex {re:?} must compile: {e}"),
        }
    }

    proptest! {
        #[test]
        fn like_agrees_with_a_regex_reference(
            pattern in "[aAbé*?.\\n\\\\\\[]{0,8}",
            text in "[aAbBé.\\n\\\\\\[x]{0,10}",
            ci in any::<bool>(),
        ) {
            let want = reference(&pattern, ci).is_match(&text);
            prop_assert_eq!(LikePattern::new(&pattern, ci).unwrap().matches(&text), want);
        }

        #[test]
        fn a_pattern_matches_its_own_literal_text(text in "[a-zA-Z0-9 /:._-]{0,20}") {
            prop_assert!(LikePattern::new(&text, false).unwrap().matches(&text));
            prop_assert!(LikePattern::new(&text.to_ascii_uppercase(), true).unwrap().matches(&text));
        }
    }
}
