//! The RQL predicate grammar of Ditto's `RqlPredicateParser` / `RqlParserBase` (reference §4.1), as a
//! PEG parser producing a raw syntax tree; names and fields are checked later, in ast.rs.
//!
//! Every rule below mirrors one parboiled2 rule of Ditto's grammar, with the same alternatives in the
//! same order and the same frames (`rule`, `seq`, `first_of`, ...), because the frames decide the
//! wording of error messages (trace.rs). What the grammar implies, and clients notice:
//! - whitespace is allowed at the start, after literals, after the commas between `and`/`or`
//!   operands, and nowhere else (`eq(a, 1)` and a trailing space after the last `)` are errors);
//! - a property is everything up to `,` `)` `"` or `\` (spaces included), with `\"` `\\` `\/` `\b`
//!   `\f` `\n` `\r` `\t` `\uXXXX` escapes;
//! - integers are Java longs (`-0`, leading zeros and overflow are errors), decimals need digits on
//!   both sides of the point, there is no exponent;
//! - `time:` is the only unquoted placeholder value, and its name runs to the next `,` `)` `"` `\`.
//!
//! The input is handled as UTF-16, like the Java string Ditto parses, so positions in messages match.

use super::trace::{Key, Terminal, Tracer, EOI};
use super::RqlError;

/// The comparison operators with one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SingleOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Like,
    ILike,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RawLit {
    Double(f64),
    Long(i64),
    Str(String),
    /// The name after `time:`, as written (escapes not decoded).
    Time(String),
    Bool(bool),
    Null,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RawNode {
    Single {
        op: SingleOp,
        property: String,
        value: RawLit,
    },
    In {
        property: String,
        values: Vec<RawLit>,
    },
    And(Vec<RawNode>),
    Or(Vec<RawNode>),
    Not(Box<RawNode>),
    Exists(String),
    Empty(String),
}

enum Stop {
    NoMatch,
    /// An action threw in Ditto's parser (number overflow, bad placeholder): the message it gives.
    Fatal(String),
}

type P<T> = Result<T, Stop>;

/// Parses `input` into a raw tree, or fails with Ditto's parser message.
pub(crate) fn parse(input: &str) -> Result<RawNode, RqlError> {
    let units: Vec<u16> = input.encode_utf16().collect();
    let mut first = Parser::new(&units, Tracer::default());
    let stop = match first.predicate_root() {
        Ok(node) => return Ok(node),
        Err(stop) => stop,
    };
    let message = match stop {
        // RqlPredicateParser: `case Failure(f) => "Unknown error during parsing predicate: " + msg`.
        Stop::Fatal(msg) => format!("Unknown error during parsing predicate: {msg}"),
        Stop::NoMatch => {
            // Second run, as parboiled2 does, to collect what was expected at the error index.
            let at = first.tracer.max_cursor();
            let mut second = Parser::new(&units, Tracer::collecting(at));
            let _ = second.predicate_root();
            second.tracer.format(&units, at)
        }
    };
    Err(RqlError { message })
}

struct Parser<'a> {
    s: &'a [u16],
    pos: usize,
    tracer: Tracer,
    /// Ditto's shared StringBuilder for property and string values.
    sb: Vec<u16>,
}

fn u(c: u8) -> u16 {
    u16::from(c)
}

/// Line terminators that Java's `.` does not match: ParsedPlaceholder's `(?<name>.+)` fails on them.
fn is_line_terminator(c: u16) -> bool {
    matches!(c, 0x0A | 0x0D | 0x85 | 0x2028 | 0x2029)
}

impl<'a> Parser<'a> {
    fn new(s: &'a [u16], tracer: Tracer) -> Parser<'a> {
        Parser {
            s,
            pos: 0,
            tracer,
            sb: Vec::new(),
        }
    }

    // ---- parboiled2 primitives ----

    /// parboiled2's `cursorChar`: past the end it is EOI (and a literal U+FFFF reads the same).
    fn cur(&self) -> u16 {
        self.s.get(self.pos).copied().unwrap_or(EOI)
    }

    fn advance(&mut self) {
        if self.pos < self.s.len() {
            self.pos += 1;
        }
        self.tracer.reached(self.pos);
    }

    fn miss<T>(&mut self, terminal: Terminal, extra: Option<(Key, usize)>) -> P<T> {
        self.tracer.mismatch(self.pos, terminal, extra);
        Err(Stop::NoMatch)
    }

    fn ch(&mut self, c: u16) -> P<()> {
        if self.cur() == c {
            self.advance();
            Ok(())
        } else {
            self.miss(Terminal::Char(c), None)
        }
    }

    fn string(&mut self, s: &'static str) -> P<()> {
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

    fn any_of(&mut self, set: &'static str) -> P<()> {
        let c = self.cur();
        if c != EOI && set.encode_utf16().any(|x| x == c) {
            self.advance();
            Ok(())
        } else {
            self.miss(Terminal::AnyOf(set), None)
        }
    }

    fn any(&mut self) -> P<()> {
        if self.cur() != EOI {
            self.advance();
            Ok(())
        } else {
            self.miss(Terminal::Any, None)
        }
    }

    fn frame<T>(&mut self, key: Key, body: impl FnOnce(&mut Self) -> P<T>) -> P<T> {
        self.tracer.push(key, self.pos);
        let r = body(self);
        self.tracer.pop();
        r
    }

    /// A named rule (`def X = rule { ... }`): parboiled2 wraps its body in `Named(X)` and `RuleCall`.
    fn rule<T>(&mut self, name: &'static str, body: impl FnOnce(&mut Self) -> P<T>) -> P<T> {
        let start = self.pos;
        self.tracer.push(Key::Named(name), start);
        self.tracer.push(Key::RuleCall, start);
        let r = body(self);
        self.tracer.pop();
        self.tracer.pop();
        r
    }

    fn seq<T>(&mut self, body: impl FnOnce(&mut Self) -> P<T>) -> P<T> {
        self.frame(Key::Sequence, body)
    }

    fn first_of<T>(&mut self, alternatives: &[fn(&mut Self) -> P<T>]) -> P<T> {
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

    fn optional<T>(&mut self, body: impl FnOnce(&mut Self) -> P<T>) -> P<Option<T>> {
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

    fn zero_or_more(&mut self, mut body: impl FnMut(&mut Self) -> P<()>) -> P<()> {
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
    fn one_or_more<T>(
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
    fn not_followed_by(
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

    fn capture(&mut self, body: impl FnOnce(&mut Self) -> P<()>) -> P<&'a [u16]> {
        self.frame(Key::Capture, |p| {
            let start = p.pos;
            body(p)?;
            Ok(&p.s[start..p.pos])
        })
    }

    /// `appendSB()`: the character just consumed.
    fn append_last(&mut self) {
        if let Some(&c) = self.pos.checked_sub(1).and_then(|i| self.s.get(i)) {
            self.sb.push(c);
        }
    }

    // ---- RqlPredicateParser ----

    fn predicate_root(&mut self) -> P<RawNode> {
        self.rule("PredicateRoot", |p| {
            p.seq(|p| {
                p.white_space()?;
                let q = p.query()?;
                p.ch(EOI)?;
                Ok(q)
            })
        })
    }

    fn query(&mut self) -> P<RawNode> {
        self.rule("Query", |p| {
            p.first_of(&[
                Self::single_comparison_op,
                Self::multi_comparison_op,
                Self::multi_logical_op,
                Self::single_logical_op,
                Self::exists_op,
                Self::empty_op,
            ])
        })
    }

    fn single_comparison_op(&mut self) -> P<RawNode> {
        self.rule("SingleComparisonOp", |p| {
            p.seq(|p| {
                let op = p.rule("SingleComparisonName", |p| {
                    p.first_of(&[
                        |p| p.keyword("eq", SingleOp::Eq),
                        |p| p.keyword("ne", SingleOp::Ne),
                        |p| p.keyword("gt", SingleOp::Gt),
                        |p| p.keyword("ge", SingleOp::Ge),
                        |p| p.keyword("lt", SingleOp::Lt),
                        |p| p.keyword("le", SingleOp::Le),
                        |p| p.keyword("like", SingleOp::Like),
                        |p| p.keyword("ilike", SingleOp::ILike),
                    ])
                })?;
                p.ch(u(b'('))?;
                let property = p.comparison_property()?;
                p.ch(u(b','))?;
                let value = p.rule("ComparisonValue", Self::literal)?;
                p.ch(u(b')'))?;
                Ok(RawNode::Single {
                    op,
                    property,
                    value,
                })
            })
        })
    }

    /// `def eq = rule { "eq" ~ push(EQ) }` and friends: a named rule around a two-step sequence.
    fn keyword<T>(&mut self, word: &'static str, value: T) -> P<T> {
        self.rule(word, |p| {
            p.seq(|p| {
                p.string(word)?;
                Ok(value)
            })
        })
    }

    fn multi_comparison_op(&mut self) -> P<RawNode> {
        self.rule("MultiComparisonOp", |p| {
            p.seq(|p| {
                p.rule("MultiComparisonName", |p| p.keyword("in", ()))?;
                p.ch(u(b'('))?;
                let property = p.comparison_property()?;
                let values = p.rule("MultiComparisonValues", |p| {
                    p.one_or_more(
                        |p| {
                            p.seq(|p| {
                                p.ch(u(b','))?;
                                p.literal()
                            })
                        },
                        None,
                    )
                })?;
                p.ch(u(b')'))?;
                Ok(RawNode::In { property, values })
            })
        })
    }

    fn multi_logical_op(&mut self) -> P<RawNode> {
        self.rule("MultiLogicalOp", |p| {
            p.seq(|p| {
                let and = p.rule("MultiLogicalName", |p| {
                    p.first_of(&[|p| p.keyword("and", true), |p| p.keyword("or", false)])
                })?;
                p.ch(u(b'('))?;
                let operands = p.one_or_more(Self::query, Some(|p| p.ws(u(b','))))?;
                p.ch(u(b')'))?;
                Ok(if and {
                    RawNode::And(operands)
                } else {
                    RawNode::Or(operands)
                })
            })
        })
    }

    fn single_logical_op(&mut self) -> P<RawNode> {
        self.rule("SingleLogicalOp", |p| {
            p.seq(|p| {
                p.rule("SingleLogicalName", |p| p.keyword("not", ()))?;
                p.ch(u(b'('))?;
                let q = p.query()?;
                p.ch(u(b')'))?;
                Ok(RawNode::Not(Box::new(q)))
            })
        })
    }

    fn exists_op(&mut self) -> P<RawNode> {
        self.rule("ExistsOp", |p| {
            p.seq(|p| {
                p.string("exists")?;
                p.ch(u(b'('))?;
                let property = p.comparison_property()?;
                p.ch(u(b')'))?;
                Ok(RawNode::Exists(property))
            })
        })
    }

    fn empty_op(&mut self) -> P<RawNode> {
        self.rule("EmptyOp", |p| {
            p.seq(|p| {
                p.string("empty")?;
                p.ch(u(b'('))?;
                let property = p.comparison_property()?;
                p.ch(u(b')'))?;
                Ok(RawNode::Empty(property))
            })
        })
    }

    fn comparison_property(&mut self) -> P<String> {
        self.rule("ComparisonProperty", |p| {
            p.rule("PropertyLiteral", |p| {
                p.seq(|p| {
                    p.sb.clear();
                    p.characters()?;
                    Ok(String::from_utf16_lossy(&p.sb))
                })
            })
        })
    }

    // ---- RqlParserBase ----

    fn white_space(&mut self) -> P<()> {
        self.rule("WhiteSpace", |p| {
            p.zero_or_more(|p| p.rule("WhiteSpaceChar", |p| p.any_of(" \n\r\t\u{c}")))
        })
    }

    fn ws(&mut self, c: u16) -> P<()> {
        self.rule("ws", |p| {
            p.seq(|p| {
                p.ch(c)?;
                p.white_space()
            })
        })
    }

    fn literal(&mut self) -> P<RawLit> {
        self.rule("Literal", |p| {
            p.seq(|p| {
                let value = p.first_of(&[
                    Self::double_literal,
                    Self::long_literal,
                    Self::string_literal,
                    Self::string_single_quote_literal,
                    Self::placeholder_literal,
                    |p| p.word_literal("true", RawLit::Bool(true)),
                    |p| p.word_literal("false", RawLit::Bool(false)),
                    |p| p.word_literal("null", RawLit::Null),
                ])?;
                p.white_space()?;
                Ok(value)
            })
        })
    }

    /// `"true" ~ WhiteSpace ~ push(TRUE)`, inline in `Literal`.
    fn word_literal(&mut self, word: &'static str, value: RawLit) -> P<RawLit> {
        self.seq(|p| {
            p.string(word)?;
            p.white_space()?;
            Ok(value)
        })
    }

    fn double_literal(&mut self) -> P<RawLit> {
        self.rule("DoubleLiteral", |p| {
            p.seq(|p| {
                let text = p.capture(|p| {
                    p.seq(|p| {
                        p.integer()?;
                        p.rule("Frac", |p| {
                            p.seq(|p| {
                                p.string(".")?;
                                p.digits()
                            })
                        })
                    })
                })?;
                // Double.valueOf: the grammar only lets through well-formed decimals; huge ones
                // become infinite, as in Java.
                let value = String::from_utf16_lossy(text)
                    .parse::<f64>()
                    .unwrap_or(f64::NAN);
                p.white_space()?;
                Ok(RawLit::Double(value))
            })
        })
    }

    fn long_literal(&mut self) -> P<RawLit> {
        self.rule("LongLiteral", |p| {
            p.seq(|p| {
                p.not_followed_by(|n| Terminal::NotString("-0", n), |p| p.string("-0"))?;
                let text = p.capture(Self::integer)?;
                let text = String::from_utf16_lossy(text);
                // Long.valueOf throws NumberFormatException on overflow, which aborts the parse.
                let value = text
                    .parse::<i64>()
                    .map_err(|_| Stop::Fatal(format!("For input string: \"{text}\"")))?;
                p.white_space()?;
                Ok(RawLit::Long(value))
            })
        })
    }

    fn integer(&mut self) -> P<()> {
        self.rule("Integer", |p| {
            p.seq(|p| {
                p.optional(|p| p.any_of("+-"))?;
                p.first_of(&[
                    |p| {
                        p.seq(|p| {
                            p.rule("Digit19", |p| p.any_of("123456789"))?;
                            p.digits()
                        })
                    },
                    Self::digit,
                ])
            })
        })
    }

    fn digits(&mut self) -> P<()> {
        self.rule("Digits", |p| p.one_or_more(Self::digit, None).map(|_| ()))
    }

    fn digit(&mut self) -> P<()> {
        self.rule("Digit", |p| p.any_of("0123456789"))
    }

    fn string_literal(&mut self) -> P<RawLit> {
        self.rule("StringLiteral", |p| {
            p.seq(|p| {
                p.ch(u(b'"'))?;
                p.sb.clear();
                p.rule("CharactersInQuotes", |p| {
                    p.zero_or_more(|p| {
                        p.first_of(&[
                            |p| {
                                p.rule("NormalCharInQuotes", |p| {
                                    p.seq(|p| {
                                        p.not_followed_by(
                                            |n| Terminal::NotRule("QuoteBackslash", n),
                                            Self::quote_backslash,
                                        )?;
                                        p.any()?;
                                        p.append_last();
                                        Ok(())
                                    })
                                })
                            },
                            |p| {
                                p.seq(|p| {
                                    p.ch(u(b'\\'))?;
                                    p.escaped_char()
                                })
                            },
                        ])
                    })
                })?;
                p.ws(u(b'"'))?;
                Ok(RawLit::Str(String::from_utf16_lossy(&p.sb)))
            })
        })
    }

    fn string_single_quote_literal(&mut self) -> P<RawLit> {
        self.rule("StringSingleQuoteLiteral", |p| {
            p.seq(|p| {
                p.ch(u(b'\''))?;
                p.sb.clear();
                p.rule("CharactersInSingleQuotes", |p| {
                    p.zero_or_more(|p| {
                        p.first_of(&[
                            |p| {
                                p.rule("NormalCharInSingleQuotes", |p| {
                                    p.seq(|p| {
                                        p.not_followed_by(
                                            |n| Terminal::NotRule("SingleQuoteBackslash", n),
                                            Self::single_quote_backslash,
                                        )?;
                                        p.any()?;
                                        p.append_last();
                                        Ok(())
                                    })
                                })
                            },
                            |p| {
                                p.seq(|p| {
                                    p.ch(u(b'\\'))?;
                                    p.single_quote_escaped_char()
                                })
                            },
                        ])
                    })
                })?;
                p.ws(u(b'\''))?;
                Ok(RawLit::Str(String::from_utf16_lossy(&p.sb)))
            })
        })
    }

    fn placeholder_literal(&mut self) -> P<RawLit> {
        self.rule("PlaceholderLiteral", |p| {
            p.seq(|p| {
                let text = p.capture(|p| {
                    p.seq(|p| {
                        p.rule("PlaceholderPrefix", |p| p.string("time:"))?;
                        p.rule("PlaceholderName", Self::characters)
                    })
                })?;
                // ParsedPlaceholder.of: `[a-z]+:.+` must match the whole capture; `.` stops at line
                // terminators. The capture is raw: escapes stay as written.
                let name = &text[5..];
                if name.is_empty() || name.iter().any(|&c| is_line_terminator(c)) {
                    return Err(Stop::Fatal(
                        "Placeholder was not in expected format <prefix:name>!".to_owned(),
                    ));
                }
                let name = String::from_utf16_lossy(name);
                p.white_space()?;
                Ok(RawLit::Time(name))
            })
        })
    }

    /// `Characters`: property names and placeholder names.
    fn characters(&mut self) -> P<()> {
        self.rule("Characters", |p| {
            p.zero_or_more(|p| {
                p.first_of(&[
                    |p| {
                        p.rule("NormalChar", |p| {
                            p.seq(|p| {
                                p.not_followed_by(
                                    |n| Terminal::NotRule("CommaClosingParenthesisQuote", n),
                                    |p| {
                                        p.rule("CommaClosingParenthesisQuote", |p| {
                                            p.any_of(",)\"\\")
                                        })
                                    },
                                )?;
                                p.any()?;
                                p.append_last();
                                Ok(())
                            })
                        })
                    },
                    |p| {
                        p.seq(|p| {
                            p.ch(u(b'\\'))?;
                            p.escaped_char()
                        })
                    },
                ])
            })
        })
    }

    fn quote_backslash(&mut self) -> P<()> {
        self.rule("QuoteBackslash", |p| p.any_of("\"\\"))
    }

    fn single_quote_backslash(&mut self) -> P<()> {
        self.rule("SingleQuoteBackslash", |p| p.any_of("'\\"))
    }

    fn escaped_char(&mut self) -> P<()> {
        self.rule("EscapedChar", |p| {
            p.first_of(&[
                |p| {
                    p.seq(|p| {
                        p.rule("QuoteBackslashSlash", |p| {
                            p.first_of(&[Self::quote_backslash, |p| p.string("/")])
                        })?;
                        p.append_last();
                        Ok(())
                    })
                },
                |p| p.control_escape(b'b', 0x08),
                |p| p.control_escape(b'f', 0x0C),
                |p| p.control_escape(b'n', 0x0A),
                |p| p.control_escape(b'r', 0x0D),
                |p| p.control_escape(b't', 0x09),
                Self::unicode_escape,
            ])
        })
    }

    fn single_quote_escaped_char(&mut self) -> P<()> {
        self.rule("SingleQuoteEscapedChar", |p| {
            p.first_of(&[
                |p| {
                    p.seq(|p| {
                        p.rule("SingleQuoteBackslashSlash", |p| {
                            p.first_of(&[Self::single_quote_backslash, |p| p.string("/")])
                        })?;
                        p.append_last();
                        Ok(())
                    })
                },
                |p| p.control_escape(b'b', 0x08),
                |p| p.control_escape(b'f', 0x0C),
                |p| p.control_escape(b'n', 0x0A),
                |p| p.control_escape(b'r', 0x0D),
                |p| p.control_escape(b't', 0x09),
                Self::unicode_escape,
            ])
        })
    }

    /// `'n' ~ appendSB('\n')`.
    fn control_escape(&mut self, letter: u8, value: u16) -> P<()> {
        self.seq(|p| {
            p.ch(u(letter))?;
            p.sb.push(value);
            Ok(())
        })
    }

    /// `Unicode ~> { code => sb.append(code.toChar) }`.
    fn unicode_escape(&mut self) -> P<()> {
        self.seq(|p| {
            let code = p.rule("Unicode", |p| {
                p.seq(|p| {
                    p.ch(u(b'u'))?;
                    let hex = p.capture(|p| {
                        p.seq(|p| {
                            for _ in 0..4 {
                                p.rule("HexDigit", |p| p.any_of("0123456789ABCDEFabcdef"))?;
                            }
                            Ok(())
                        })
                    })?;
                    // Four ASCII hex digits, checked by the grammar.
                    Ok(u16::from_str_radix(&String::from_utf16_lossy(hex), 16).unwrap_or(0))
                })
            })?;
            p.sb.push(code);
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(input: &str) -> RawNode {
        match parse(input) {
            Ok(node) => node,
            Err(e) => panic!("{input:?} should parse, got:\n{}", e.message),
        }
    }

    fn err(input: &str) -> String {
        match parse(input) {
            Ok(node) => panic!("{input:?} should not parse, got {node:?}"),
            Err(e) => e.message,
        }
    }

    fn single(op: SingleOp, property: &str, value: RawLit) -> RawNode {
        RawNode::Single {
            op,
            property: property.to_owned(),
            value,
        }
    }

    #[test]
    fn valid_filters_parse_to_the_expected_tree() {
        use RawLit::*;
        use SingleOp::*;
        let s = |x: &str| Str(x.to_owned());
        let cases: Vec<(&str, RawNode)> = vec![
            ("eq(username,123)", single(Eq, "username", Long(123))),
            ("ne(a,-123)", single(Ne, "a", Long(-123))),
            ("gt(a,+5)", single(Gt, "a", Long(5))),
            ("ge(a,0)", single(Ge, "a", Long(0))),
            ("lt(a,123.7)", single(Lt, "a", Double(123.7))),
            ("le(a,-0.7)", single(Le, "a", Double(-0.7))),
            ("eq(a,-0.0)", single(Eq, "a", Double(-0.0))),
            ("eq(a,9223372036854775807)", single(Eq, "a", Long(i64::MAX))),
            (
                "eq(a,-9223372036854775808)",
                single(Eq, "a", Long(i64::MIN)),
            ),
            ("like(a,\"te*st\")", single(Like, "a", s("te*st"))),
            ("ilike(a,'x?')", single(ILike, "a", s("x?"))),
            (
                "eq(username,\"te\\\"st\")",
                single(Eq, "username", s("te\"st")),
            ),
            ("eq(username,'te\\'st')", single(Eq, "username", s("te'st"))),
            ("eq(a,\"abc\\nyz\")", single(Eq, "a", s("abc\nyz"))),
            (
                "eq(a,'\\u00e4\\/\\\\\\b\\f\\r\\t')",
                single(Eq, "a", s("ä/\\\u{8}\u{c}\r\t")),
            ),
            ("eq(a,\"\\uD83D\\uDE00\")", single(Eq, "a", s("😀"))),
            ("eq(a,\"it's\")", single(Eq, "a", s("it's"))),
            ("eq(a,'say \"hi\"')", single(Eq, "a", s("say \"hi\""))),
            ("eq(a,\"\")", single(Eq, "a", s(""))),
            ("eq(a,\" \")", single(Eq, "a", s(" "))),
            ("eq(a,true)", single(Eq, "a", Bool(true))),
            ("eq(a,false)", single(Eq, "a", Bool(false))),
            ("eq(a,null)", single(Eq, "a", Null)),
            (
                "lt(_modified,time:now)",
                single(Lt, "_modified", Time("now".into())),
            ),
            (
                "gt(_modified,time:now-1h[h])",
                single(Gt, "_modified", Time("now-1h[h]".into())),
            ),
            ("eq(a,time:now )", single(Eq, "a", Time("now ".into()))),
            ("eq(a,1 )", single(Eq, "a", Long(1))),
            ("eq(a,'x'  )", single(Eq, "a", s("x"))),
            (" \n\teq(a,1)", single(Eq, "a", Long(1))),
            ("eq( a b ,1)", single(Eq, " a b ", Long(1))),
            ("eq(a(b,1)", single(Eq, "a(b", Long(1))),
            ("eq(a\\/b\\\"c,1)", single(Eq, "a/b\"c", Long(1))),
            ("eq(,1)", single(Eq, "", Long(1))),
            (
                "eq(attributes/complex,\"!#$%&'()*+,/:;=?@[\\\\]{|} äaZ0\")",
                single(Eq, "attributes/complex", s("!#$%&'()*+,/:;=?@[\\]{|} äaZ0")),
            ),
            (
                "in(attributes,\"test\",1,true,null)",
                RawNode::In {
                    property: "attributes".into(),
                    values: vec![s("test"), Long(1), Bool(true), Null],
                },
            ),
            (
                "and(eq(a,1),eq(b,\"x\"),or(eq(c,2)))",
                RawNode::And(vec![
                    single(Eq, "a", Long(1)),
                    single(Eq, "b", s("x")),
                    RawNode::Or(vec![single(Eq, "c", Long(2))]),
                ]),
            ),
            (
                "or(eq(a,1), \n eq(b,2))",
                RawNode::Or(vec![single(Eq, "a", Long(1)), single(Eq, "b", Long(2))]),
            ),
            (
                "not(eq(a,1))",
                RawNode::Not(Box::new(single(Eq, "a", Long(1)))),
            ),
            (
                "exists(features/scanner)",
                RawNode::Exists("features/scanner".into()),
            ),
            (
                "empty(attributes/tags)",
                RawNode::Empty("attributes/tags".into()),
            ),
            (
                "not(empty(a))",
                RawNode::Not(Box::new(RawNode::Empty("a".into()))),
            ),
            (
                "exists(topic:action)",
                RawNode::Exists("topic:action".into()),
            ),
            // A literal U+FFFF reads as end of input in parboiled2, so the rest is never looked at.
            ("eq(a,1)\u{FFFF}garbage", single(Eq, "a", Long(1))),
        ];
        for (input, want) in cases {
            assert_eq!(ok(input), want, "{input:?}");
        }
    }

    #[test]
    fn invalid_filters_fail_with_dittos_parser_messages() {
        // Full messages, derived by applying parboiled2's error-reporting algorithm to Ditto's grammar.
        let cases: &[(&str, &str)] = &[
            ("", "Unexpected end of input, expected WhiteSpace or Query (line 1, column 1):\n\n^"),
            (
                "eq(a,1",
                "Unexpected end of input, expected Digits, Frac, WhiteSpace or ')' (line 1, column 7):\neq(a,1\n      ^",
            ),
            ("eq(a,1))", "Invalid input ')', expected 'EOI' (line 1, column 8):\neq(a,1))\n       ^"),
            ("eq(a,1) ", "Invalid input ' ', expected 'EOI' (line 1, column 8):\neq(a,1) \n       ^"),
            ("eq(a,-0)", "Invalid input ')', expected Frac (line 1, column 8):\neq(a,-0)\n       ^"),
            (
                "eq(username, 123)",
                "Invalid input ' ', expected DoubleLiteral, LongLiteral, StringLiteral, StringSingleQuoteLiteral, \
                 PlaceholderLiteral, 't', 'f' or 'n' (line 1, column 13):\neq(username, 123)\n            ^",
            ),
            (
                "foo(a,1)",
                "Invalid input 'f', expected WhiteSpace or Query (line 1, column 1):\nfoo(a,1)\n^",
            ),
            (
                "eaq(username,123)",
                "Invalid input 'a', expected 'q', 'x' or 'm' (line 1, column 2):\neaq(username,123)\n ^",
            ),
            (
                "eq(username;\"x\")",
                "Invalid input '\"', expected NormalChar, '\\' or ',' (line 1, column 13):\n\
                 eq(username;\"x\")\n            ^",
            ),
            (
                "eq(a,test)",
                "Invalid input 'e', expected 'i' or 'r' (line 1, column 7):\neq(a,test)\n      ^",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(err(input), *want, "{input:?}");
        }
    }

    #[test]
    fn more_invalid_filters_are_rejected_with_a_position() {
        // (input, column in the message)
        let cases: &[(&str, usize)] = &[
            ("eq/(username,\"x\")", 3),
            ("not(eq(a,1),eq(b,2))", 12),
            ("or(ASDF(a,1))", 4),
            ("eq(a, 123())", 6),
            ("eq(a,123())", 9),
            ("eq(a,123.0())", 11),
            ("and(eq(a,1), )", 14),
            ("and(   ,eq(a,1))", 5),
            ("and(eq(a,1)xx,eq(b,2))", 12),
            ("(a,1)", 1),
            ("eq(a,0123)", 7),
            ("eq(a,-0123)", 8),
            ("eq(a,012.7)", 7),
            ("eq(a,.7)", 6),
            ("eq(a,-.7)", 7),
            ("eq(a,.)", 6),
            ("eq(a,12.7.8)", 10),
            ("eq(a,127.)", 10),
            ("eq(a,1e5)", 7),
            ("eq(a,\"abc\"\")", 11),
            ("eq(a,\"abc)", 11),
            ("eq(a,'\\x')", 8),
            ("eq(a,\"\\u00g0\")", 11),
            ("exists(\"features/x\")", 8),
            ("exists(features/x,\"t\")", 18),
            ("empty(a,1)", 8),
            ("eq(thingId,foo:bar)", 13),
            ("in(a)", 5),
            ("in(a,)", 6),
            ("and()", 5),
            ("EQ(a,1)", 1),
            ("eq (a,1)", 3),
            ("eq(a,1) and", 8),
            ("eq(a,TRUE)", 6),
        ];
        for &(input, column) in cases {
            let msg = err(input);
            assert!(
                msg.contains(&format!("(line 1, column {column}):")),
                "{input:?}: expected column {column}, got:\n{msg}"
            );
        }
    }

    #[test]
    fn actions_that_throw_in_ditto_abort_the_parse() {
        let cases = [
            (
                "eq(a,99999999999999999999)",
                "Unknown error during parsing predicate: For input string: \"99999999999999999999\"",
            ),
            (
                "eq(a,12356143287134097863590813406135981332472031847)",
                "Unknown error during parsing predicate: For input string: \
                 \"12356143287134097863590813406135981332472031847\"",
            ),
            // The action runs before the garbage after the number is seen.
            (
                "eq(a,-9223372036854775809 x",
                "Unknown error during parsing predicate: For input string: \"-9223372036854775809\"",
            ),
            (
                "eq(a,time:)",
                "Unknown error during parsing predicate: Placeholder was not in expected format <prefix:name>!",
            ),
            (
                "eq(a,time:now\nx)",
                "Unknown error during parsing predicate: Placeholder was not in expected format <prefix:name>!",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(err(input), want, "{input:?}");
        }
    }

    #[test]
    fn error_lines_show_the_line_of_the_error() {
        let msg = err("and(eq(a,1),\n  ne(b,2)x)");
        assert!(
            msg.ends_with("(line 2, column 10):\n  ne(b,2)x)\n         ^"),
            "{msg}"
        );
    }

    #[test]
    fn huge_decimals_become_infinite_like_java() {
        let input = format!("eq(a,1{}.5)", "0".repeat(400));
        match ok(&input) {
            RawNode::Single {
                value: RawLit::Double(d),
                ..
            } => assert!(d.is_infinite()),
            other => panic!("unexpected {other:?}"),
        }
    }
}
