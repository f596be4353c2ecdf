//! `like` / `ilike` patterns, compiled once: Ditto's LikeHelper turns `*` into `.*`, `?` into `.` and
//! quotes everything else, then requires a full `java.util.regex` match (reference §4.3).
//!
//! Java details kept: runs of `*` collapse to one; `.` does not match line terminators (`\n`, `\r`,
//! U+0085, U+2028, U+2029), so wildcards never cross one; `?` is one code point; `ilike` uses
//! `CASE_INSENSITIVE` without `UNICODE_CASE`, i.e. only ASCII letters fold.

/// A compiled pattern. Literal line terminators split it into pieces: since no wildcard can consume a
/// line terminator, each one in the text must meet the same literal in the pattern, and the pieces in
/// between can be matched independently with the classic wildcard algorithm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LikePattern {
    pieces: Box<[Box<[Tok]>]>,
    separators: Box<[char]>,
    case_insensitive: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Lit(char),
    One,
    Star,
}

fn is_line_terminator(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

impl LikePattern {
    pub(crate) fn new(pattern: &str, case_insensitive: bool) -> LikePattern {
        let mut pieces = Vec::new();
        let mut separators = Vec::new();
        let mut current: Vec<Tok> = Vec::new();
        for c in pattern.chars() {
            match c {
                // Ditto: replaceAll("\\*{2,}", "*").
                '*' if current.last() == Some(&Tok::Star) => {}
                '*' => current.push(Tok::Star),
                '?' => current.push(Tok::One),
                c if is_line_terminator(c) => {
                    pieces.push(std::mem::take(&mut current).into_boxed_slice());
                    separators.push(c);
                }
                c => current.push(Tok::Lit(c)),
            }
        }
        pieces.push(current.into_boxed_slice());
        LikePattern {
            pieces: pieces.into_boxed_slice(),
            separators: separators.into_boxed_slice(),
            case_insensitive,
        }
    }

    /// True when the pattern is only `*`: it matches every string without line terminators, including
    /// the `Object.toString()` Ditto ends up matching for a JSON null.
    pub(crate) fn is_match_anything(&self) -> bool {
        self.separators.is_empty() && self.pieces.first().is_some_and(|p| **p == [Tok::Star])
    }

    pub(crate) fn matches(&self, text: &str) -> bool {
        let mut rest = text;
        for (i, piece) in self.pieces.iter().enumerate() {
            let end = rest.find(is_line_terminator).unwrap_or(rest.len());
            let (segment, after) = rest.split_at(end);
            if !self.piece_matches(piece, segment) {
                return false;
            }
            match self.separators.get(i) {
                Some(&sep) => {
                    let mut chars = after.chars();
                    if chars.next() != Some(sep) {
                        return false;
                    }
                    rest = chars.as_str();
                }
                None => return after.is_empty(),
            }
        }
        // Unreachable: the last piece has no separator and returns above.
        rest.is_empty()
    }

    /// Classic wildcard match with backtracking to the most recent `*`; linear for typical patterns.
    fn piece_matches(&self, toks: &[Tok], text: &str) -> bool {
        let (mut pi, mut ti) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        loop {
            if let Some(&tok) = toks.get(pi) {
                let next = text[ti..].chars().next();
                match (tok, next) {
                    (Tok::Star, _) => {
                        star = Some((pi + 1, ti));
                        pi += 1;
                        continue;
                    }
                    (Tok::One, Some(c)) => {
                        pi += 1;
                        ti += c.len_utf8();
                        continue;
                    }
                    (Tok::Lit(p), Some(c)) if self.char_eq(p, c) => {
                        pi += 1;
                        ti += c.len_utf8();
                        continue;
                    }
                    _ => {}
                }
            } else if ti == text.len() {
                return true;
            }
            match star {
                Some((after_star, star_ti)) => match text[star_ti..].chars().next() {
                    Some(c) => {
                        let grown = star_ti + c.len_utf8();
                        star = Some((after_star, grown));
                        pi = after_star;
                        ti = grown;
                    }
                    None => return false,
                },
                None => return false,
            }
        }
    }

    fn char_eq(&self, pattern: char, text: char) -> bool {
        pattern == text || (self.case_insensitive && pattern.eq_ignore_ascii_case(&text))
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
            let p = LikePattern::new(pattern, ci);
            assert_eq!(
                p.matches(text),
                want,
                "pattern {pattern:?} (ilike={ci}) on {text:?}"
            );
        }
    }

    #[test]
    fn only_pure_star_patterns_match_anything() {
        assert!(LikePattern::new("*", false).is_match_anything());
        assert!(LikePattern::new("***", true).is_match_anything());
        assert!(!LikePattern::new("*?", false).is_match_anything());
        assert!(!LikePattern::new("", false).is_match_anything());
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
            prop_assert_eq!(LikePattern::new(&pattern, ci).matches(&text), want);
        }

        #[test]
        fn a_pattern_matches_its_own_literal_text(text in "[a-zA-Z0-9 /:._-]{0,20}") {
            prop_assert!(LikePattern::new(&text, false).matches(&text));
            prop_assert!(LikePattern::new(&text.to_ascii_uppercase(), true).matches(&text));
        }
    }
}
