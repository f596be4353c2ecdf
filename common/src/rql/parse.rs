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
//! The PEG primitives are in peg.rs, the literal rules of `RqlParserBase` in literal.rs.

use super::peg::{u, Parser, Stop, P};
use super::trace::{Tracer, EOI};
use super::RqlError;

/// The deepest nesting of `and`/`or`/`not` a filter may have. Parsing, compiling, evaluating and
/// dropping a filter all recurse once per level, so the bound is what keeps a hostile filter
/// (`not(not(...` thousands deep) from overflowing a thread's stack; real filters nest a few levels.
pub const MAX_FILTER_DEPTH: usize = 64;

/// The longest filter the parser accepts, in UTF-16 code units (what Ditto's positions count). It
/// bounds parse time and the size of the compiled filter; subscriptions may set a lower limit.
pub const MAX_FILTER_CHARS: usize = 16 * 1024;

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

/// Parses `input` into a raw tree, or fails with Ditto's parser message.
pub(crate) fn parse(input: &str) -> Result<RawNode, RqlError> {
    // Checked before anything is allocated or parsed: the limits are the first thing to hold.
    let chars = input.encode_utf16().count();
    if chars > MAX_FILTER_CHARS {
        return Err(RqlError {
            message: format!(
                "The RQL expression has {chars} characters, more than the limit of \
                 {MAX_FILTER_CHARS}."
            ),
        });
    }
    let units: Vec<u16> = input.encode_utf16().collect();
    let mut first = Parser::new(&units, Tracer::default());
    let stop = match first.predicate_root() {
        Ok(node) => return Ok(node),
        Err(stop) => stop,
    };
    let message = match stop {
        // RqlPredicateParser: `case Failure(f) => "Unknown error during parsing predicate: " + msg`.
        Stop::Fatal(msg) => format!("Unknown error during parsing predicate: {msg}"),
        Stop::Limit(msg) => msg,
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

impl Parser<'_> {
    pub(super) fn predicate_root(&mut self) -> P<RawNode> {
        self.rule("PredicateRoot", |p| {
            p.seq(|p| {
                p.white_space()?;
                let q = p.query()?;
                p.ch(EOI)?;
                Ok(q)
            })
        })
    }

    pub(super) fn query(&mut self) -> P<RawNode> {
        if self.depth >= MAX_FILTER_DEPTH {
            return Err(Stop::Limit(format!(
                "The RQL expression nests deeper than the limit of {MAX_FILTER_DEPTH} levels \
                 (at position {}).",
                self.pos + 1
            )));
        }
        self.depth += 1;
        let r = self.query_rule();
        self.depth -= 1;
        r
    }

    fn query_rule(&mut self) -> P<RawNode> {
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

    pub(super) fn single_comparison_op(&mut self) -> P<RawNode> {
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
    pub(super) fn keyword<T>(&mut self, word: &'static str, value: T) -> P<T> {
        self.rule(word, |p| {
            p.seq(|p| {
                p.string(word)?;
                Ok(value)
            })
        })
    }

    pub(super) fn multi_comparison_op(&mut self) -> P<RawNode> {
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

    pub(super) fn multi_logical_op(&mut self) -> P<RawNode> {
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

    pub(super) fn single_logical_op(&mut self) -> P<RawNode> {
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

    pub(super) fn exists_op(&mut self) -> P<RawNode> {
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

    pub(super) fn empty_op(&mut self) -> P<RawNode> {
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

    pub(super) fn comparison_property(&mut self) -> P<String> {
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
