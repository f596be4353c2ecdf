//! The compiled filter: built once per subscription from the raw parse tree, with field paths split,
//! `like` patterns compiled and literals pre-parsed, so evaluating it per signal does little work.
//!
//! Compilation also performs Ditto's semantic checks, in Ditto's order (`ParameterPredicateVisitor`:
//! depth first, left to right, each node's property before its value): unknown property names and
//! non-string `like` values are rejected here.

use super::field::{self, ExistsField, FilterField};
use super::like::LikePattern;
use super::parse::{RawLit, RawNode, SingleOp};
use super::time::{self, TimeLiteral};
use super::value::{parse_big_decimal, JNum, OwnedDec};
use super::RqlError;

/// A parsed and validated RQL filter. Cheap to clone relative to parsing; evaluate with
/// [`Filter::matches`](crate::rql::Filter::matches).
#[derive(Debug, Clone)]
pub struct Filter {
    pub(crate) root: Node,
    /// `time:` literals, referenced by index from `Literal::Time`; resolved once per evaluation.
    pub(crate) times: Box<[TimeSlot]>,
}

#[derive(Debug, Clone)]
pub(crate) struct TimeSlot {
    pub(crate) literal: TimeLiteral,
    /// Ditto resolves placeholder values of `eq`…`le` when it builds the predicate, before testing
    /// anything, so a failure there fails the whole filter; inside `in` they resolve lazily.
    pub(crate) eager: bool,
}

#[derive(Debug, Clone)]
pub(crate) enum Node {
    And(Box<[Node]>),
    Or(Box<[Node]>),
    Not(Box<Node>),
    Compare {
        field: FilterField,
        op: CmpOp,
        value: Literal,
    },
    In {
        field: FilterField,
        values: Box<[Literal]>,
    },
    Like {
        field: FilterField,
        pattern: LikePattern,
    },
    Exists(ExistsField),
    Empty(ExistsField),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone)]
pub(crate) enum Literal {
    Null,
    Bool(bool),
    Num(NumLit),
    Str(StrLit),
    /// Index into `Filter::times`.
    Time(usize),
}

/// A Long or Double literal with what comparisons against strings need, computed once.
#[derive(Debug, Clone)]
pub(crate) struct NumLit {
    pub(crate) num: JNum,
    /// `None` for an infinite Double: Ditto's `new BigDecimal("Infinity")` throws when it is compared.
    pub(crate) dec: Option<OwnedDec>,
    /// `new BigDecimal(x.toString()).toString()`, compared when the field is a non-numeric string.
    pub(crate) text: Box<str>,
}

/// A string literal, with its value as a BigDecimal when it is one (compared against numbers).
#[derive(Debug, Clone)]
pub(crate) struct StrLit {
    pub(crate) text: Box<str>,
    pub(crate) dec: Option<OwnedDec>,
}

impl StrLit {
    fn new(text: String) -> StrLit {
        let dec = parse_big_decimal(&text).map(|d| d.to_owned_dec());
        StrLit {
            text: text.into_boxed_str(),
            dec,
        }
    }
}

impl NumLit {
    fn new(num: JNum) -> NumLit {
        let finite = !matches!(num, JNum::Float(f) if !f.is_finite());
        NumLit {
            num,
            dec: if finite { OwnedDec::of_num(num) } else { None },
            text: if finite {
                num.big_decimal_string()
            } else {
                String::new()
            }
            .into_boxed_str(),
        }
    }
}

/// The most `like`/`ilike` comparisons one filter may hold. Each is a compiled automaton that scans
/// the whole value it is matched against, so this bounds the work of evaluating a filter per signal
/// (`make bench BENCH_ARGS="--only like"` measures the worst case).
pub const MAX_LIKE_PATTERNS: usize = 8;

/// The most characters the `like`/`ilike` patterns of one filter may have together. Compiling a
/// pattern, and building its automaton's cache on the first signals, costs time roughly
/// proportional to its length: this bounds what one START costs the gateway and the hub, whatever
/// the split (two patterns of [`MAX_LIKE_PATTERN_CHARS`](super::MAX_LIKE_PATTERN_CHARS), or eight
/// of a quarter of that).
pub const MAX_LIKE_CHARS_PER_FILTER: usize = 2 * super::like::MAX_LIKE_PATTERN_CHARS;

/// Builds the compiled filter from the raw tree.
pub(crate) fn compile(raw: RawNode) -> Result<Filter, RqlError> {
    // Counted before anything is compiled, so an over-limit filter costs no regex compilation.
    let (likes, chars) = like_load(&raw);
    if likes > MAX_LIKE_PATTERNS {
        return Err(error(format!(
            "The RQL expression has {likes} like/ilike comparisons, more than the limit of \
             {MAX_LIKE_PATTERNS}."
        )));
    }
    if chars > MAX_LIKE_CHARS_PER_FILTER {
        return Err(error(format!(
            "The like/ilike patterns of the RQL expression have {chars} characters together, \
             more than the limit of {MAX_LIKE_CHARS_PER_FILTER}."
        )));
    }
    let mut times = Vec::new();
    let root = compile_node(raw, &mut times)?;
    Ok(Filter {
        root,
        times: times.into_boxed_slice(),
    })
}

/// How many `like`/`ilike` comparisons the tree holds, and the characters of their patterns.
/// Recursion is safe here: the parser bounds the depth of the tree (`MAX_FILTER_DEPTH`).
fn like_load(raw: &RawNode) -> (usize, usize) {
    match raw {
        RawNode::And(children) | RawNode::Or(children) => children
            .iter()
            .map(like_load)
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1)),
        RawNode::Not(child) => like_load(child),
        RawNode::Single {
            op: SingleOp::Like | SingleOp::ILike,
            value,
            ..
        } => match value {
            RawLit::Str(p) => (1, p.chars().count()),
            _ => (1, 0),
        },
        _ => (0, 0),
    }
}

fn error(message: String) -> RqlError {
    RqlError { message }
}

fn compile_node(raw: RawNode, times: &mut Vec<TimeSlot>) -> Result<Node, RqlError> {
    Ok(match raw {
        RawNode::And(children) => Node::And(compile_all(children, times)?),
        RawNode::Or(children) => Node::Or(compile_all(children, times)?),
        RawNode::Not(child) => Node::Not(Box::new(compile_node(*child, times)?)),
        RawNode::Single {
            op,
            property,
            value,
        } => {
            let field = field::filter_field(&property).map_err(error)?;
            let op = match op {
                SingleOp::Eq => CmpOp::Eq,
                SingleOp::Ne => CmpOp::Ne,
                SingleOp::Gt => CmpOp::Gt,
                SingleOp::Ge => CmpOp::Ge,
                SingleOp::Lt => CmpOp::Lt,
                SingleOp::Le => CmpOp::Le,
                SingleOp::Like | SingleOp::ILike => {
                    let ilike = op == SingleOp::ILike;
                    // CriteriaFactoryImpl.like/ilike: only java.lang.String values (not null, not a
                    // number, not a placeholder).
                    let RawLit::Str(pattern) = value else {
                        let name = if ilike { "ilike" } else { "like" };
                        return Err(error(format!(
                            "In the {name} predicate only string values are allowed."
                        )));
                    };
                    return Ok(Node::Like {
                        field,
                        pattern: LikePattern::new(&pattern, ilike).map_err(error)?,
                    });
                }
            };
            Node::Compare {
                field,
                op,
                value: literal(value, times, true),
            }
        }
        RawNode::In { property, values } => {
            let field = field::filter_field(&property).map_err(error)?;
            let values = values
                .into_iter()
                .map(|v| literal(v, times, false))
                .collect();
            Node::In { field, values }
        }
        RawNode::Exists(property) => Node::Exists(field::exists_field(&property).map_err(error)?),
        RawNode::Empty(property) => Node::Empty(field::exists_field(&property).map_err(error)?),
    })
}

fn compile_all(children: Vec<RawNode>, times: &mut Vec<TimeSlot>) -> Result<Box<[Node]>, RqlError> {
    children
        .into_iter()
        .map(|c| compile_node(c, times))
        .collect()
}

fn literal(raw: RawLit, times: &mut Vec<TimeSlot>, eager: bool) -> Literal {
    match raw {
        RawLit::Null => Literal::Null,
        RawLit::Bool(b) => Literal::Bool(b),
        RawLit::Long(l) => Literal::Num(NumLit::new(JNum::Int(l.into()))),
        // A Double literal stays a Double (unlike JSON numbers in the Thing): Ditto compares
        // BigDecimal(Double.toString(d)).
        RawLit::Double(d) => Literal::Num(NumLit::new(JNum::Float(d))),
        RawLit::Str(s) => Literal::Str(StrLit::new(s)),
        RawLit::Time(name) => {
            times.push(TimeSlot {
                literal: time::compile(&name),
                eager,
            });
            Literal::Time(times.len() - 1)
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rql::parse;

    fn error_of(input: &str) -> String {
        match parse(input) {
            Ok(f) => panic!("{input:?} should be rejected, got {f:?}"),
            Err(e) => e.message,
        }
    }

    #[test]
    fn semantic_errors_are_reported_in_dittos_order() {
        let cases = [
            ("eq(foo,1)", "Unknown property name: foo"),
            ("eq(/foo,1)", "Unknown property name: foo"),
            ("in(features/f,1)", "Unknown property name: features/f"),
            ("exists(attributes)", "Unknown property name: attributes"),
            ("empty(time:now)", "Unknown property name: time:now"),
            (
                "like(attributes/a,1)",
                "In the like predicate only string values are allowed.",
            ),
            (
                "ilike(attributes/a,null)",
                "In the ilike predicate only string values are allowed.",
            ),
            (
                "like(attributes/a,time:now)",
                "In the like predicate only string values are allowed.",
            ),
            (
                "ilike(attributes/a,true)",
                "In the ilike predicate only string values are allowed.",
            ),
            // The property of a node is checked before its value, nodes left to right.
            ("like(foo,1)", "Unknown property name: foo"),
            (
                "and(like(attributes/a,1),eq(foo,1))",
                "In the like predicate only string values are allowed.",
            ),
            (
                "or(not(eq(bar,1)),like(attributes/a,1))",
                "Unknown property name: bar",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(error_of(input), want, "{input:?}");
        }
    }

    #[test]
    fn syntax_errors_take_precedence_over_field_errors() {
        assert!(error_of("and(eq(foo,1),eq(a,1)").starts_with("Unexpected end of input"));
    }

    #[test]
    fn literals_are_pre_parsed_once() {
        let f = match parse("and(eq(attributes/a,\"1.50\"),in(attributes/b,time:now,time:now),gt(_modified,time:now-1h))") {
            Ok(f) => f,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(f.times.len(), 3);
        assert_eq!(f.times.iter().filter(|t| t.eager).count(), 1);
    }
}
