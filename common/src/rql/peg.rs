//! The PEG machine the RQL grammar runs on: parboiled2's primitives (`rule`, `seq`, `first_of`,
//! `optional`, `zero_or_more`, ...) over UTF-16 input, with the same backtracking and the same frames,
//! because the frames decide the wording of error messages (trace.rs). The grammar's rules are in
//! parse.rs (Ditto's `RqlPredicateParser`) and literal.rs (`RqlParserBase`).

use super::trace::{Key, Terminal, Tracer, EOI};

pub(super) enum Stop {
    NoMatch,
    /// An action threw in Ditto's parser (number overflow, bad placeholder): the message it gives.
    Fatal(String),
    /// The input went past one of our limits (parse.rs); the message names the limit.
    Limit(String),
}

pub(super) type P<T> = Result<T, Stop>;

pub(super) struct Parser<'a> {
    pub(super) s: &'a [u16],
    pub(super) pos: usize,
    pub(super) tracer: Tracer,
    /// Ditto's shared StringBuilder for property and string values.
    pub(super) sb: Vec<u16>,
    /// How many `Query` rules are open: the grammar recurses once per level of nesting.
    pub(super) depth: usize,
}

pub(super) fn u(c: u8) -> u16 {
    u16::from(c)
}

/// Line terminators that Java's `.` does not match: ParsedPlaceholder's `(?<name>.+)` fails on them.
pub(super) fn is_line_terminator(c: u16) -> bool {
    matches!(c, 0x0A | 0x0D | 0x85 | 0x2028 | 0x2029)
}

impl<'a> Parser<'a> {
    pub(super) fn new(s: &'a [u16], tracer: Tracer) -> Parser<'a> {
        Parser {
            s,
            pos: 0,
            tracer,
            sb: Vec::new(),
            depth: 0,
        }
    }

    /// parboiled2's `cursorChar`: past the end it is EOI (and a literal U+FFFF reads the same).
    pub(super) fn cur(&self) -> u16 {
        self.s.get(self.pos).copied().unwrap_or(EOI)
    }

    pub(super) fn advance(&mut self) {
        if self.pos < self.s.len() {
            self.pos += 1;
        }
        self.tracer.reached(self.pos);
    }

    pub(super) fn miss<T>(&mut self, terminal: Terminal, extra: Option<(Key, usize)>) -> P<T> {
        self.tracer.mismatch(self.pos, terminal, extra);
        Err(Stop::NoMatch)
    }

    pub(super) fn ch(&mut self, c: u16) -> P<()> {
        if self.cur() == c {
            self.advance();
            Ok(())
        } else {
            self.miss(Terminal::Char(c), None)
        }
    }

    pub(super) fn string(&mut self, s: &'static str) -> P<()> {
        for (ix, c) in s.encode_utf16().enumerate() {
            if self.cur() == c {
                self.advance();
            } else {
                let start = self.pos - ix;
                return self.miss(Terminal::Char(c), Some((Key::StringMatch(s), start)));
            }
        }
        Ok(())
    }

    pub(super) fn any_of(&mut self, set: &'static str) -> P<()> {
        let c = self.cur();
        if c != EOI && set.encode_utf16().any(|x| x == c) {
            self.advance();
            Ok(())
        } else {
            self.miss(Terminal::AnyOf(set), None)
        }
    }

    pub(super) fn any(&mut self) -> P<()> {
        if self.cur() != EOI {
            self.advance();
            Ok(())
        } else {
            self.miss(Terminal::Any, None)
        }
    }

    pub(super) fn frame<T>(&mut self, key: Key, body: impl FnOnce(&mut Self) -> P<T>) -> P<T> {
        self.tracer.push(key, self.pos);
        let r = body(self);
        self.tracer.pop();
        r
    }

    /// A named rule (`def X = rule { ... }`): parboiled2 wraps its body in `Named(X)` and `RuleCall`.
    pub(super) fn rule<T>(
        &mut self,
        name: &'static str,
        body: impl FnOnce(&mut Self) -> P<T>,
    ) -> P<T> {
        let start = self.pos;
        self.tracer.push(Key::Named(name), start);
        self.tracer.push(Key::RuleCall, start);
        let r = body(self);
        self.tracer.pop();
        self.tracer.pop();
        r
    }

    pub(super) fn seq<T>(&mut self, body: impl FnOnce(&mut Self) -> P<T>) -> P<T> {
        self.frame(Key::Sequence, body)
    }

    pub(super) fn first_of<T>(&mut self, alternatives: &[fn(&mut Self) -> P<T>]) -> P<T> {
        self.frame(Key::FirstOf, |p| {
            let mark = p.pos;
            for alt in alternatives {
                p.pos = mark;
                match alt(p) {
                    Err(Stop::NoMatch) => continue,
                    other => return other,
                }
            }
            Err(Stop::NoMatch)
        })
    }

    pub(super) fn optional<T>(&mut self, body: impl FnOnce(&mut Self) -> P<T>) -> P<Option<T>> {
        self.frame(Key::Optional, |p| {
            let mark = p.pos;
            match body(p) {
                Ok(v) => Ok(Some(v)),
                Err(Stop::NoMatch) => {
                    p.pos = mark;
                    Ok(None)
                }
                Err(fatal) => Err(fatal),
            }
        })
    }

    pub(super) fn zero_or_more(&mut self, mut body: impl FnMut(&mut Self) -> P<()>) -> P<()> {
        self.frame(Key::ZeroOrMore, |p| loop {
            let mark = p.pos;
            match body(p) {
                Ok(()) => {}
                Err(Stop::NoMatch) => {
                    p.pos = mark;
                    return Ok(());
                }
                Err(fatal) => return Err(fatal),
            }
        })
    }

    /// `oneOrMore(op)` / `oneOrMore(op).separatedBy(sep)`: on a failed repetition the cursor goes back
    /// to just after the last matched `op` (before its separator).
    pub(super) fn one_or_more<T>(
        &mut self,
        mut body: impl FnMut(&mut Self) -> P<T>,
        mut separator: Option<fn(&mut Self) -> P<()>>,
    ) -> P<Vec<T>> {
        self.frame(Key::OneOrMore, |p| {
            let mut items = Vec::new();
            let mut mark = p.pos;
            loop {
                match body(p) {
                    Ok(v) => items.push(v),
                    Err(Stop::NoMatch) => break,
                    Err(fatal) => return Err(fatal),
                }
                mark = p.pos;
                if let Some(sep) = separator.as_mut() {
                    match sep(p) {
                        Ok(()) => {}
                        Err(Stop::NoMatch) => break,
                        Err(fatal) => return Err(fatal),
                    }
                }
            }
            p.pos = mark;
            if items.is_empty() {
                Err(Stop::NoMatch)
            } else {
                Ok(items)
            }
        })
    }

    /// `!rule`: never consumes; fails (and reports `!name`) when `inner` matches.
    pub(super) fn not_followed_by(
        &mut self,
        report: fn(usize) -> Terminal,
        inner: impl FnOnce(&mut Self) -> P<()>,
    ) -> P<()> {
        let mark = self.pos;
        self.tracer.enter_not();
        let r = inner(self);
        self.tracer.exit_not();
        let matched_len = self.pos - mark;
        self.pos = mark;
        match r {
            Ok(()) => self.miss(report(matched_len), None),
            Err(Stop::NoMatch) => Ok(()),
            Err(fatal) => Err(fatal),
        }
    }

    pub(super) fn capture(&mut self, body: impl FnOnce(&mut Self) -> P<()>) -> P<&'a [u16]> {
        self.frame(Key::Capture, |p| {
            let start = p.pos;
            body(p)?;
            Ok(&p.s[start..p.pos])
        })
    }

    /// `appendSB()`: the character just consumed.
    pub(super) fn append_last(&mut self) {
        if let Some(&c) = self.pos.checked_sub(1).and_then(|i| self.s.get(i)) {
            self.sb.push(c);
        }
    }
}
