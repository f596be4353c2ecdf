//! RQL filters for `START-SEND-*?filter=...` (reference §4, §5.3): parsed and checked once per
//! subscription, then evaluated per signal against the synthetic Thing built from it.
//!
//! The behaviour follows Ditto's code rather than its docs where they differ: the parser's grammar and
//! error messages (parse.rs, trace.rs), the accepted field names (field.rs), and the Java comparison
//! semantics of its in-memory evaluation (eval.rs, value.rs, like.rs, time.rs).
//!
//! ```
//! # use twinwire_common::rql::{self, MapPlaceholders, RqlError};
//! # fn main() -> Result<(), RqlError> {
//! let filter = rql::parse("and(in(topic:action,'created','modified'),gt(attributes/temp,20))")?;
//! let ctx = MapPlaceholders::new(chrono::Utc::now()).with("topic", "action", "modified");
//! let thing = serde_json::json!({"thingId": "ns:t", "attributes": {"temp": 21.5}});
//! assert!(filter.matches(&thing, &ctx));
//! # Ok(())
//! # }
//! ```

mod ast;
mod condition;
mod eval;
mod field;
mod like;
mod literal;
mod parse;
mod peg;
mod plan;
mod time;
mod trace;
mod value;

use std::borrow::Cow;
use std::collections::HashMap;

use chrono::{DateTime, Utc};

pub use ast::{Filter, MAX_LIKE_CHARS_PER_FILTER, MAX_LIKE_PATTERNS};
pub use condition::{parse_condition, Condition, ParsedCondition};
pub use like::MAX_LIKE_PATTERN_CHARS;
pub use parse::{MAX_FILTER_CHARS, MAX_FILTER_DEPTH};
pub use plan::{IndexPlan, Lookup, TextBound};

/// Parse and validate an RQL filter string (already URL-decoded). Field names are validated (§4.2):
/// an unknown one fails with message `Unknown property name: <x>`.
pub fn parse(input: &str) -> Result<Filter, RqlError> {
    ast::compile(parse::parse(input)?)
}

/// Why a filter was rejected. `message` is the text Ditto's parser or field validation gives, which
/// becomes the `message` of the `rql.expression.invalid` error (§1.5).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RqlError {
    pub message: String,
}

/// Values for `topic:*`, `resource:*`, `entity:*` placeholders of the signal being filtered.
pub trait PlaceholderSource {
    /// e.g. ("topic","action") -> Some("modified"); None when the placeholder has no value for this signal.
    fn placeholder(&self, prefix: &str, name: &str) -> Option<Cow<'_, str>>;
    /// The time `time:now` resolves to. Default: chrono::Utc::now().
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A PlaceholderSource backed by a map, for tests and simple callers. `now` is fixed at construction.
#[derive(Debug, Clone)]
pub struct MapPlaceholders {
    values: HashMap<String, HashMap<String, String>>,
    now: DateTime<Utc>,
}

impl MapPlaceholders {
    /// An empty source whose `time:now` is `now`.
    pub fn new(now: DateTime<Utc>) -> MapPlaceholders {
        MapPlaceholders {
            values: HashMap::new(),
            now,
        }
    }

    /// Sets `prefix:name` (e.g. `topic`, `action`) to `value`.
    pub fn insert(
        &mut self,
        prefix: impl Into<String>,
        name: impl Into<String>,
        value: impl Into<String>,
    ) {
        self.values
            .entry(prefix.into())
            .or_default()
            .insert(name.into(), value.into());
    }

    /// Builder form of [`MapPlaceholders::insert`].
    pub fn with(
        mut self,
        prefix: impl Into<String>,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.insert(prefix, name, value);
        self
    }
}

impl PlaceholderSource for MapPlaceholders {
    fn placeholder(&self, prefix: &str, name: &str) -> Option<Cow<'_, str>> {
        self.values
            .get(prefix)
            .and_then(|names| names.get(name))
            .map(|v| Cow::Borrowed(v.as_str()))
    }

    fn now(&self) -> DateTime<Utc> {
        self.now
    }
}

impl Filter {
    /// Evaluate against the synthetic thing JSON (§5.3): top-level keys thingId, policyId, definition,
    /// _namespace, _revision, _modified, _created, attributes, features...
    ///
    /// Timestamps (`_modified`, `_created`) are compared as strings, as Ditto does; give them in the
    /// form of Java's `Instant.toString()` (e.g. `2024-01-17T10:30:15.123Z`, no trailing zero groups)
    /// for `time:now` comparisons to behave like Ditto's. Where Ditto's evaluation would throw, the
    /// result is `false` (Ditto reports an error instead of delivering the signal).
    pub fn matches(&self, thing: &serde_json::Value, ctx: &dyn PlaceholderSource) -> bool {
        eval::matches(self, thing, ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{json, Value};

    fn _assert_traits() {
        fn is<T: Clone + std::fmt::Debug + Send + Sync>() {}
        is::<Filter>();
        is::<RqlError>();
        is::<MapPlaceholders>();
    }

    #[test]
    fn filter_is_cheap_to_share_between_threads() {
        let filter = match parse("eq(attributes/a,1)") {
            Ok(f) => f,
            Err(e) => panic!("{e}"),
        };
        let thing = json!({"attributes": {"a": 1}});
        let ctx = MapPlaceholders::new(Utc::now());
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (f, t, c) = (filter.clone(), thing.clone(), ctx.clone());
                std::thread::spawn(move || f.matches(&t, &c))
            })
            .collect();
        for h in handles {
            assert!(matches!(h.join(), Ok(true)));
        }
    }

    #[test]
    fn rql_error_displays_its_message() {
        let e = RqlError {
            message: "Unknown property name: x".into(),
        };
        assert_eq!(e.to_string(), "Unknown property name: x");
    }

    // ---- limits on hostile input ----

    fn nested_not(depth: usize) -> String {
        format!(
            "{}eq(attributes/a,1){}",
            "not(".repeat(depth),
            ")".repeat(depth)
        )
    }

    /// Runs `f` on a thread with a small stack, so a recursion the limits do not bound fails here
    /// rather than in a gateway (whose worker threads have 2 MiB).
    fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        match std::thread::Builder::new()
            .stack_size(512 * 1024)
            .spawn(f)
            .map(std::thread::JoinHandle::join)
        {
            Ok(Ok(v)) => v,
            _ => panic!("the thread failed"),
        }
    }

    #[test]
    fn a_filter_at_the_depth_limit_parses_evaluates_and_drops_on_a_small_stack() {
        let deepest = on_small_stack(|| {
            let thing = json!({"attributes": {"a": 1}});
            let ctx = MapPlaceholders::new(Utc::now());
            let text = format!(
                "{}and(eq(attributes/a,1),or(like(attributes/a,'*'),exists(thingId))){}",
                "not(".repeat(MAX_FILTER_DEPTH - 3),
                ")".repeat(MAX_FILTER_DEPTH - 3)
            );
            let filter = parse(&text).map_err(|e| e.message)?;
            let even = filter.matches(&thing, &ctx);
            drop(filter);
            let one_more = parse(&nested_not(MAX_FILTER_DEPTH)).map(|_| ());
            Ok::<_, String>((even, one_more))
        });
        match deepest {
            // MAX_FILTER_DEPTH - 3 negations of a true filter: even count is true.
            Ok((matched, Err(e))) => {
                assert_eq!(matched, (MAX_FILTER_DEPTH - 3).is_multiple_of(2));
                assert!(e.message.contains("limit of 64 levels"), "{}", e.message);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn filters_at_ten_times_the_limits_are_refused_quickly_naming_the_limit() {
        let started = std::time::Instant::now();
        let deep = on_small_stack(|| parse(&nested_not(10 * MAX_FILTER_DEPTH)).map(|_| ()));
        match deep {
            Err(e) => assert!(
                e.message
                    .contains("nests deeper than the limit of 64 levels"),
                "{}",
                e.message
            ),
            Ok(()) => panic!("a filter nesting 640 levels was accepted"),
        }
        // Unbalanced and far deeper, as an attacker sends it: refused at the limit, not at the end.
        let bomb = on_small_stack(|| parse(&"not(".repeat(4_000)).map(|_| ()));
        assert!(matches!(bomb, Err(e) if e.message.contains("limit of 64 levels")));
        let long = format!(
            "in(attributes/a,{})",
            vec!["1"; 10 * MAX_FILTER_CHARS / 2].join(",")
        );
        match parse(&long) {
            Err(e) => assert!(
                e.message.contains("more than the limit of 16384"),
                "{}",
                e.message
            ),
            Ok(_) => panic!("a filter of {} characters was accepted", long.len()),
        }
        let likes = |n: usize| format!("or({})", vec!["like(attributes/a,'*x*')"; n].join(","));
        assert!(parse(&likes(MAX_LIKE_PATTERNS)).is_ok());
        match parse(&likes(10 * MAX_LIKE_PATTERNS)) {
            Err(e) => assert!(
                e.message
                    .contains("80 like/ilike comparisons, more than the limit of 8"),
                "{}",
                e.message
            ),
            Ok(_) => panic!("80 like comparisons were accepted"),
        }
        let pattern = |chars: usize| format!("like(attributes/a,'{}')", "*a".repeat(chars / 2));
        let budget = |each: usize, n: usize| format!("or({})", vec![pattern(each); n].join(","));
        assert!(parse(&budget(MAX_LIKE_PATTERN_CHARS, 2)).is_ok());
        assert!(parse(&budget(MAX_LIKE_CHARS_PER_FILTER / 8, 8)).is_ok());
        // Ten times the budget does not fit in the count limit, nor the filter size: six patterns
        // at their own limit are what the budget alone refuses.
        match parse(&budget(MAX_LIKE_PATTERN_CHARS, 6)) {
            Err(e) => assert_eq!(
                e.message,
                "The like/ilike patterns of the RQL expression have 6144 characters together, \
                 more than the limit of 2048."
            ),
            Ok(_) => panic!("6 patterns of 1,024 characters were accepted"),
        }
        // Only a hang matters here, not speed.
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }

    // ---- randomized laws ----

    /// Properties the generator uses; every one is valid and none aborts evaluation.
    const PROPS: &[&str] = &[
        "attributes/a",
        "attributes/b/c",
        "attributes/arr",
        "attributes/objs/x",
        "thingId",
        "features/f/properties/p",
        "topic:action",
    ];

    #[derive(Debug, Clone)]
    enum Val {
        Int(i64),
        Dbl(f64),
        Str(String),
        Bool(bool),
        Null,
    }

    #[derive(Debug, Clone)]
    enum Expr {
        Cmp(&'static str, usize, Val),
        In(usize, Vec<Val>),
        Like(bool, usize, String),
        Exists(usize),
        Empty(usize),
        And(Vec<Expr>),
        Or(Vec<Expr>),
        Not(Box<Expr>),
    }

    /// Surface choices that must not change the meaning of a filter.
    #[derive(Debug, Clone, Copy)]
    struct Style {
        single_quotes: bool,
        leading_slash: bool,
        space_after_literal: bool,
        space_after_comma: bool,
    }

    fn quote(s: &str, single: bool) -> String {
        let q = if single { '\'' } else { '"' };
        let mut out = String::from(q);
        for c in s.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                c if c == q => {
                    out.push('\\');
                    out.push(c);
                }
                c => out.push(c),
            }
        }
        out.push(q);
        out
    }

    fn print_val(v: &Val, st: Style) -> String {
        let s = match v {
            Val::Int(i) => i.to_string(),
            // `{:?}` always prints a point and never an exponent for the generated range.
            Val::Dbl(d) => format!("{d:?}"),
            Val::Str(s) => quote(s, st.single_quotes),
            Val::Bool(b) => b.to_string(),
            Val::Null => "null".to_owned(),
        };
        if st.space_after_literal {
            s + " "
        } else {
            s
        }
    }

    fn print_prop(i: usize, st: Style) -> String {
        let p = PROPS[i];
        if st.leading_slash && !p.contains(':') {
            format!("/{p}")
        } else {
            p.to_owned()
        }
    }

    fn print(e: &Expr, st: Style) -> String {
        let sep = if st.space_after_comma { ", " } else { "," };
        match e {
            Expr::Cmp(op, p, v) => format!("{op}({},{})", print_prop(*p, st), print_val(v, st)),
            Expr::In(p, vs) => {
                let vals: Vec<String> = vs.iter().map(|v| print_val(v, st)).collect();
                format!("in({},{})", print_prop(*p, st), vals.join(","))
            }
            Expr::Like(ci, p, pat) => {
                format!(
                    "{}({},{})",
                    if *ci { "ilike" } else { "like" },
                    print_prop(*p, st),
                    quote(pat, st.single_quotes)
                )
            }
            Expr::Exists(p) => format!("exists({})", print_prop(*p, st)),
            Expr::Empty(p) => format!("empty({})", print_prop(*p, st)),
            Expr::And(es) => format!(
                "and({})",
                es.iter()
                    .map(|e| print(e, st))
                    .collect::<Vec<_>>()
                    .join(sep)
            ),
            Expr::Or(es) => format!(
                "or({})",
                es.iter()
                    .map(|e| print(e, st))
                    .collect::<Vec<_>>()
                    .join(sep)
            ),
            Expr::Not(e) => format!("not({})", print(e, st)),
        }
    }

    fn val() -> impl Strategy<Value = Val> {
        prop_oneof![
            (-3i64..4).prop_map(Val::Int),
            prop_oneof![Just(-1.5), Just(0.5), Just(2.0), Just(3.25)].prop_map(Val::Dbl),
            prop_oneof![
                Just("1"),
                Just("2.0"),
                Just("x"),
                Just("X1"),
                Just(""),
                Just("modified"),
                Just("ns:t1")
            ]
            .prop_map(|s| Val::Str(s.to_owned())),
            any::<bool>().prop_map(Val::Bool),
            Just(Val::Null),
        ]
    }

    fn non_null_val() -> impl Strategy<Value = Val> {
        val().prop_filter("in() with null aborts in Ditto", |v| {
            !matches!(v, Val::Null)
        })
    }

    fn prop_ix() -> impl Strategy<Value = usize> {
        0..PROPS.len()
    }

    fn leaf_expr() -> impl Strategy<Value = Expr> {
        let op = prop_oneof![
            Just("eq"),
            Just("ne"),
            Just("gt"),
            Just("ge"),
            Just("lt"),
            Just("le")
        ];
        prop_oneof![
            (op, prop_ix(), val()).prop_map(|(o, p, v)| Expr::Cmp(o, p, v)),
            (prop_ix(), prop::collection::vec(non_null_val(), 1..4))
                .prop_map(|(p, vs)| Expr::In(p, vs)),
            (any::<bool>(), prop_ix(), "[xX1*?.]{0,4}").prop_map(|(ci, p, s)| Expr::Like(ci, p, s)),
            prop_ix().prop_map(Expr::Exists),
            prop_ix().prop_map(Expr::Empty),
        ]
    }

    fn expr() -> impl Strategy<Value = Expr> {
        leaf_expr().prop_recursive(3, 16, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 1..4).prop_map(Expr::And),
                prop::collection::vec(inner.clone(), 1..4).prop_map(Expr::Or),
                inner.prop_map(|e| Expr::Not(Box::new(e))),
            ]
        })
    }

    fn json_leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            (-3i64..4).prop_map(Value::from),
            prop_oneof![Just(-1.5), Just(0.5), Just(2.0), Just(3.25)].prop_map(Value::from),
            prop_oneof![
                Just("1"),
                Just("2.0"),
                Just("x"),
                Just("X1"),
                Just(""),
                Just("ns:t1")
            ]
            .prop_map(Value::from),
            any::<bool>().prop_map(Value::from),
            Just(Value::Null),
        ]
    }

    fn json_value() -> impl Strategy<Value = Value> {
        json_leaf().prop_recursive(2, 8, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
                prop::collection::vec(inner, 0..2).prop_map(|vs| json!({"x": vs})),
            ]
        })
    }

    fn thing() -> impl Strategy<Value = Value> {
        let opt = |s: BoxedStrategy<Value>| prop::option::of(s);
        (
            opt(json_value().boxed()),
            opt(json_value().boxed()),
            opt(json_value().boxed()),
            opt(prop::collection::vec(json_value(), 0..3)
                .prop_map(|v| json!(v.into_iter().map(|x| json!({"x": x})).collect::<Vec<_>>()))
                .boxed()),
            opt(json_value().boxed()),
            any::<bool>(),
        )
            .prop_map(|(a, c, arr, objs, p, with_id)| {
                let mut attrs = serde_json::Map::new();
                if let Some(a) = a {
                    attrs.insert("a".into(), a);
                }
                if let Some(c) = c {
                    attrs.insert("b".into(), json!({"c": c}));
                }
                if let Some(arr) = arr {
                    attrs.insert("arr".into(), arr);
                }
                if let Some(objs) = objs {
                    attrs.insert("objs".into(), objs);
                }
                let mut t = json!({"attributes": attrs});
                if let Some(p) = p {
                    t["features"] = json!({"f": {"properties": {"p": p}}});
                }
                if with_id {
                    t["thingId"] = json!("ns:t1");
                }
                t
            })
    }

    fn style() -> impl Strategy<Value = Style> {
        (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(a, b, c, d)| {
            Style {
                single_quotes: a,
                leading_slash: b,
                space_after_literal: c,
                space_after_comma: d,
            }
        })
    }

    fn ctx_for(action: Option<&str>) -> MapPlaceholders {
        let ctx = MapPlaceholders::new(Utc::now());
        match action {
            Some(a) => ctx.with("topic", "action", a),
            None => ctx,
        }
    }

    fn eval_text(text: &str, thing: &Value, ctx: &MapPlaceholders) -> Result<bool, TestCaseError> {
        match parse(text) {
            Ok(f) => Ok(f.matches(thing, ctx)),
            Err(e) => Err(TestCaseError::fail(format!(
                "{text:?} must parse: {}",
                e.message
            ))),
        }
    }

    const PLAIN: Style = Style {
        single_quotes: false,
        leading_slash: false,
        space_after_literal: false,
        space_after_comma: false,
    };

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn printed_filters_parse_and_surface_syntax_does_not_change_the_result(
            e in expr(), st in style(), t in thing(), action in prop::option::of(prop_oneof![Just("created"), Just("modified")]),
        ) {
            let ctx = ctx_for(action);
            let plain = eval_text(&print(&e, PLAIN), &t, &ctx)?;
            let styled = eval_text(&format!(" {}", print(&e, st)), &t, &ctx)?;
            prop_assert_eq!(plain, styled);
        }

        #[test]
        fn double_negation_is_identity(e in expr(), t in thing()) {
            let ctx = ctx_for(Some("modified"));
            let x = print(&e, PLAIN);
            prop_assert_eq!(eval_text(&format!("not(not({x}))"), &t, &ctx)?, eval_text(&x, &t, &ctx)?);
        }

        #[test]
        fn ne_is_the_negation_of_eq(p in prop_ix(), v in val(), t in thing()) {
            let ctx = ctx_for(Some("modified"));
            let eq = eval_text(&print(&Expr::Cmp("eq", p, v.clone()), PLAIN), &t, &ctx)?;
            let ne = eval_text(&print(&Expr::Cmp("ne", p, v), PLAIN), &t, &ctx)?;
            prop_assert_eq!(ne, !eq);
        }

        #[test]
        fn and_or_follow_boolean_laws(a in expr(), b in expr(), t in thing()) {
            let ctx = ctx_for(Some("created"));
            let (xa, xb) = (print(&a, PLAIN), print(&b, PLAIN));
            let (ra, rb) = (eval_text(&xa, &t, &ctx)?, eval_text(&xb, &t, &ctx)?);
            prop_assert_eq!(eval_text(&format!("and({xa},{xb})"), &t, &ctx)?, ra && rb);
            prop_assert_eq!(eval_text(&format!("or({xa},{xb})"), &t, &ctx)?, ra || rb);
            // De Morgan
            prop_assert_eq!(
                eval_text(&format!("not(and({xa},{xb}))"), &t, &ctx)?,
                eval_text(&format!("or(not({xa}),not({xb}))"), &t, &ctx)?
            );
        }

        #[test]
        fn in_equals_a_disjunction_of_eq(p in prop_ix(), vs in prop::collection::vec(non_null_val(), 1..4), t in thing()) {
            let ctx = ctx_for(Some("modified"));
            let disjunction = Expr::Or(vs.iter().map(|v| Expr::Cmp("eq", p, v.clone())).collect());
            prop_assert_eq!(
                eval_text(&print(&Expr::In(p, vs), PLAIN), &t, &ctx)?,
                eval_text(&print(&disjunction, PLAIN), &t, &ctx)?
            );
        }

        #[test]
        fn exists_and_empty_agree_for_scalar_attributes(v in json_leaf()) {
            // For a non-array, non-object value: exists and not empty, unless the value is "" or null.
            let t = json!({"attributes": {"a": v.clone()}});
            let ctx = ctx_for(None);
            let is_empty = eval_text("empty(attributes/a)", &t, &ctx)?;
            prop_assert!(eval_text("exists(attributes/a)", &t, &ctx)?);
            prop_assert_eq!(is_empty, v.is_null() || v == json!(""));
        }
    }
}
