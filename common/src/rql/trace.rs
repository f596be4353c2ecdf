//! Parse-error reporting modelled on parboiled2, the parser generator behind Ditto's RQL parser, so a
//! bad filter gets the same kind of `message` as from Ditto (reference §1.5):
//!
//! ```text
//! Invalid input ' ', expected DoubleLiteral, LongLiteral, ... or 'n' (line 1, column 13):
//! eq(username, 123)
//!             ^
//! ```
//!
//! parboiled2's method: the error index is the furthest position any terminal matched up to; a second
//! run records a trace (the stack of rule frames plus the failing terminal) for every mismatch at that
//! index; the traces lose their common prefix and are reported by the outermost rule name that starts
//! exactly at the error index, or by the terminal itself (`ParseError.effectiveTraces`,
//! `RuleTrace.dropUnreportedPrefix`, `ErrorFormatter`). parse.rs mirrors the frame structure that
//! parboiled2's macros generate for Ditto's grammar; this module does the bookkeeping and formatting.

/// The end-of-input character parboiled2 reports (and matches) as `EOI`.
pub(crate) const EOI: u16 = 0xFFFF;

/// parboiled2's default `errorTraceCollectionLimit`.
const TRACE_LIMIT: usize = 24;

/// Rule-trace frame kinds that occur in Ditto's grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Key {
    Named(&'static str),
    RuleCall,
    Sequence,
    FirstOf,
    Optional,
    ZeroOrMore,
    OneOrMore,
    Capture,
    StringMatch(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Terminal {
    Char(u16),
    AnyOf(&'static str),
    Any,
    /// A negative predicate over a rule call that matched `len` characters.
    NotRule(&'static str, usize),
    /// A negative predicate over a string literal that matched `len` characters.
    NotString(&'static str, usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NonTerminal {
    key: Key,
    /// Where the frame started, relative to the error index (<= 0).
    offset: isize,
}

#[derive(Debug, Clone)]
struct Trace {
    prefix: Vec<NonTerminal>,
    terminal: Terminal,
}

/// Frame stack and error bookkeeping for one parser run.
#[derive(Debug, Default)]
pub(crate) struct Tracer {
    frames: Vec<(Key, usize)>,
    /// `Some(error index)` on the second run, which records traces.
    collect_at: Option<usize>,
    /// Inside a negative predicate parboiled2 neither advances the error index nor records traces.
    not_depth: u32,
    max_cursor: usize,
    traces: Vec<Trace>,
}

impl Tracer {
    pub(crate) fn collecting(at: usize) -> Tracer {
        Tracer {
            collect_at: Some(at),
            ..Tracer::default()
        }
    }

    pub(crate) fn max_cursor(&self) -> usize {
        self.max_cursor
    }

    pub(crate) fn push(&mut self, key: Key, start: usize) {
        self.frames.push((key, start));
    }

    pub(crate) fn pop(&mut self) {
        self.frames.pop();
    }

    pub(crate) fn enter_not(&mut self) {
        self.not_depth += 1;
    }

    pub(crate) fn exit_not(&mut self) {
        self.not_depth = self.not_depth.saturating_sub(1);
    }

    /// A terminal matched and the cursor is now at `pos`.
    pub(crate) fn reached(&mut self, pos: usize) {
        if self.not_depth == 0 && pos > self.max_cursor {
            self.max_cursor = pos;
        }
    }

    /// A terminal failed at `pos`; `extra` is a frame that exists only for the failing terminal (the
    /// `StringMatch` around one character of a string literal).
    pub(crate) fn mismatch(&mut self, pos: usize, terminal: Terminal, extra: Option<(Key, usize)>) {
        let Some(at) = self.collect_at else { return };
        if self.not_depth > 0 || pos < at || self.traces.len() >= TRACE_LIMIT {
            return;
        }
        let offset = |start: usize| start as isize - at as isize;
        let prefix = self
            .frames
            .iter()
            .chain(extra.iter())
            .map(|&(key, start)| NonTerminal {
                key,
                offset: offset(start),
            })
            .collect();
        self.traces.push(Trace { prefix, terminal });
    }

    /// The complete error message for a failed parse of `input` with error index `at`.
    pub(crate) fn format(&self, input: &[u16], at: usize) -> String {
        let traces = effective_traces(&self.traces);
        let mut out = String::new();
        if at < input.len() {
            let len = mismatch_length(&traces).min(input.len() - at);
            if len == 1 {
                out.push_str("Invalid input '");
                out.push_str(&escape_unit(input[at]));
                out.push('\'');
            } else {
                out.push_str("Invalid input \"");
                for &u in &input[at..at + len] {
                    out.push_str(&escape_unit(u));
                }
                out.push('"');
            }
        } else {
            out.push_str("Unexpected end of input");
        }
        out.push_str(", expected ");
        let mut expected: Vec<String> = Vec::new();
        for t in &traces {
            let e = format_expected(t);
            if !expected.contains(&e) {
                expected.push(e);
            }
        }
        match expected.as_slice() {
            [] => out.push_str("???"),
            [one] => out.push_str(one),
            [init @ .., last] => {
                out.push_str(&init.join(", "));
                out.push_str(" or ");
                out.push_str(last);
            }
        }
        let (line, column) = position(input, at);
        out.push_str(&format!(" (line {line}, column {column}):\n"));
        out.push_str(&String::from_utf16_lossy(line_text(input, line)));
        out.push('\n');
        out.extend(std::iter::repeat_n(' ', column - 1));
        out.push('^');
        out
    }
}

/// `ParseError.effectiveTraces`.
fn effective_traces(traces: &[Trace]) -> Vec<Trace> {
    let common = common_prefix_len(traces);
    traces
        .iter()
        .map(|t| {
            let prefix = &t.prefix[common.min(t.prefix.len())..];
            Trace {
                prefix: drop_unreported_prefix(prefix).to_vec(),
                terminal: t.terminal,
            }
        })
        .collect()
}

/// `RuleTrace.commonNonAtomicPrefixLength`: the shared frames, cut back to the start of the last
/// unbroken chain of rule names.
fn common_prefix_len(traces: &[Trace]) -> usize {
    let Some((first, rest)) = traces.split_first() else {
        return 0;
    };
    if rest.is_empty() {
        return 0;
    }
    let mut named_ix: Option<usize> = None;
    for (ix, elem) in first.prefix.iter().enumerate() {
        if !rest.iter().all(|t| t.prefix.get(ix) == Some(elem)) {
            return named_ix.unwrap_or(ix);
        }
        match elem.key {
            Key::Named(_) => named_ix = named_ix.or(Some(ix)),
            Key::RuleCall => {}
            _ => named_ix = None,
        }
    }
    named_ix.unwrap_or(first.prefix.len())
}

/// `RuleTrace.dropUnreportedPrefix`: keep the outermost chain of rule names whose body starts at the
/// error index; otherwise nothing (the terminal is reported).
fn drop_unreported_prefix(prefix: &[NonTerminal]) -> &[NonTerminal] {
    let mut named: Option<usize> = None;
    for (ix, nt) in prefix.iter().enumerate() {
        match nt.key {
            Key::Named(_) => named = named.or(Some(ix)),
            Key::RuleCall => {}
            _ => {
                if let (true, Some(n)) = (nt.offset >= 0, named) {
                    return &prefix[n..];
                }
                named = None;
            }
        }
    }
    named.map_or(&[], |n| &prefix[n..])
}

/// `ErrorFormatter.mismatchLength`: a failing negative predicate shows everything its inner rule
/// matched.
fn mismatch_length(traces: &[Trace]) -> usize {
    traces.iter().fold(1, |len, t| match t.terminal {
        Terminal::NotRule(_, n) | Terminal::NotString(_, n) => len.max(n),
        _ => len,
    })
}

fn format_expected(t: &Trace) -> String {
    match t.prefix.first().map(|nt| nt.key) {
        Some(Key::Named(name)) => name.to_owned(),
        // Not produced by dropUnreportedPrefix for this grammar; rendered as parboiled2 would.
        Some(Key::RuleCall) => "call".to_owned(),
        Some(Key::Sequence) => "~".to_owned(),
        Some(Key::FirstOf) => "|".to_owned(),
        Some(Key::Optional) => "?".to_owned(),
        Some(Key::ZeroOrMore) => "*".to_owned(),
        Some(Key::OneOrMore) => "+".to_owned(),
        Some(Key::Capture) => "capture".to_owned(),
        Some(Key::StringMatch(s)) => format!("\"{}\"", escape_str(s)),
        None => match t.terminal {
            Terminal::Char(c) => format!("'{}'", escape_unit(c)),
            Terminal::AnyOf(s) => format!("[{}]", escape_str(s)),
            Terminal::Any => "ANY".to_owned(),
            Terminal::NotRule(name, _) => format!("!{name}"),
            Terminal::NotString(s, _) => format!("!\"{}\"", escape_str(s)),
        },
    }
}

/// `CharUtils.escape` for one UTF-16 unit.
fn escape_unit(u: u16) -> String {
    match u {
        0x09 => "\\t".to_owned(),
        0x0D => "\\r".to_owned(),
        0x0A => "\\n".to_owned(),
        EOI => "EOI".to_owned(),
        0x00..=0x1F | 0x7F..=0x9F => format!("\\u{u:04x}"),
        _ => String::from_utf16_lossy(&[u]),
    }
}

fn escape_str(s: &str) -> String {
    s.encode_utf16().map(escape_unit).collect()
}

/// 1-based line and column of `at` (lines end at `\n`; columns count UTF-16 units, as in Java).
fn position(input: &[u16], at: usize) -> (usize, usize) {
    let before = &input[..at.min(input.len())];
    let line = 1 + before.iter().filter(|&&u| u == u16::from(b'\n')).count();
    let line_start = before
        .iter()
        .rposition(|&u| u == u16::from(b'\n'))
        .map_or(0, |i| i + 1);
    (line, at - line_start + 1)
}

fn line_text(input: &[u16], line: usize) -> &[u16] {
    input
        .split(|&u| u == u16::from(b'\n'))
        .nth(line - 1)
        .unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nt(key: Key, offset: isize) -> NonTerminal {
        NonTerminal { key, offset }
    }

    // Cases from parboiled2's ErrorReportingSpec, with the frames its macros generate.

    #[test]
    fn a_single_trace_at_the_start_of_a_rule_reports_the_rule_name() {
        // rule `targetRule = 'a' ~ ...` on "": expected targetRule
        let t = Trace {
            prefix: vec![
                nt(Key::Named("targetRule"), 0),
                nt(Key::RuleCall, 0),
                nt(Key::Sequence, 0),
            ],
            terminal: Terminal::Char(u16::from(b'a')),
        };
        let e = effective_traces(&[t]);
        assert_eq!(format_expected(&e[0]), "targetRule");
    }

    #[test]
    fn a_trace_inside_a_started_sequence_reports_the_terminal() {
        // "ax": /targetRule/ + / 'b' -> expected 'b'
        let t = Trace {
            prefix: vec![
                nt(Key::Named("targetRule"), -1),
                nt(Key::RuleCall, -1),
                nt(Key::Sequence, -1),
                nt(Key::OneOrMore, 0),
            ],
            terminal: Terminal::Char(u16::from(b'b')),
        };
        let e = effective_traces(&[t]);
        assert_eq!(format_expected(&e[0]), "'b'");
    }

    #[test]
    fn common_prefixes_are_dropped_before_reporting() {
        // rule("a" | 'b' | "c") on "x": expected 'a', 'b' or 'c'
        let base = vec![
            nt(Key::Named("targetRule"), 0),
            nt(Key::RuleCall, 0),
            nt(Key::FirstOf, 0),
        ];
        let mut with_string = base.clone();
        with_string.push(nt(Key::StringMatch("a"), 0));
        let traces = [
            Trace {
                prefix: with_string,
                terminal: Terminal::Char(u16::from(b'a')),
            },
            Trace {
                prefix: base,
                terminal: Terminal::Char(u16::from(b'b')),
            },
        ];
        let e = effective_traces(&traces);
        assert_eq!(format_expected(&e[0]), "'a'");
        assert_eq!(format_expected(&e[1]), "'b'");
    }

    #[test]
    fn positions_count_lines_and_utf16_columns() {
        let input: Vec<u16> = "ab\ncd😀e".encode_utf16().collect();
        assert_eq!(position(&input, 0), (1, 1));
        assert_eq!(position(&input, 4), (2, 2));
        assert_eq!(position(&input, 7), (2, 5));
        assert_eq!(String::from_utf16_lossy(line_text(&input, 2)), "cd😀e");
    }

    #[test]
    fn control_characters_are_escaped_like_parboiled() {
        assert_eq!(escape_unit(u16::from(b'\n')), "\\n");
        assert_eq!(escape_unit(0x0C), "\\u000c");
        assert_eq!(escape_unit(EOI), "EOI");
        assert_eq!(escape_str(" \n\r\t\u{c}"), " \\n\\r\\t\\u000c");
    }
}
