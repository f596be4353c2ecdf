//! Evaluates a compiled filter against the synthetic Thing JSON of a signal (reference §4.3, §5.3),
//! with the semantics of Ditto's in-memory visitors: `ThingPredicateVisitor` (and/or/not),
//! `ThingPredicatePredicateVisitor` (comparisons, `in`, `like`), `ExistsThingPredicateVisitor` and
//! `EmptyThingPredicateVisitor`.
//!
//! Where Ditto's evaluation throws (a pointer with `//`, `in(...)` holding `null`, an infinite decimal
//! literal, a `time:` value it cannot compute), the WebSocket route reports an error instead of the
//! signal; here that is [`Abort`], and the signal does not match.

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::{Map, Value};

use super::ast::{CmpOp, Filter, Literal, Node, NumLit};
use super::field::{self, ExistsField, FilterField, Flat};
use super::time::TimeLiteral;
use super::value::{cmp_dec, cmp_num, cmp_num_dec, java_str_cmp, parse_big_decimal, Dec, JNum};
use super::PlaceholderSource;

/// Ditto's evaluation would have thrown: the filter does not match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Abort;

type Ev = Result<bool, Abort>;

/// A `time:` literal after resolution for this evaluation.
enum Resolved {
    Null,
    Str(String),
    Abort,
}

struct Env<'a> {
    thing: &'a Value,
    ctx: &'a dyn PlaceholderSource,
    times: &'a [Resolved],
}

pub(crate) fn matches(filter: &Filter, thing: &Value, ctx: &dyn PlaceholderSource) -> bool {
    let resolved: Vec<Resolved>;
    let times: &[Resolved] = if filter.times.is_empty() {
        &[]
    } else {
        // Ditto resolves `time:` per evaluation (its StreamingSession builds the predicate per signal).
        let now = ctx.now();
        resolved = filter
            .times
            .iter()
            .map(|slot| match &slot.literal {
                TimeLiteral::Unresolved => Resolved::Null,
                TimeLiteral::Broken => Resolved::Abort,
                TimeLiteral::Spec(spec) => spec.resolve(now).map_or(Resolved::Abort, Resolved::Str),
            })
            .collect();
        let eager_failure = filter
            .times
            .iter()
            .zip(&resolved)
            .any(|(slot, r)| slot.eager && matches!(r, Resolved::Abort));
        if eager_failure {
            return false;
        }
        &resolved
    };
    let env = Env { thing, ctx, times };
    eval(&filter.root, &env).unwrap_or(false)
}

fn eval(node: &Node, env: &Env<'_>) -> Ev {
    match node {
        // allMatch / anyMatch / noneMatch: left to right, short-circuiting.
        Node::And(children) => {
            for c in children.iter() {
                if !eval(c, env)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Node::Or(children) => {
            for c in children.iter() {
                if eval(c, env)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Node::Not(child) => Ok(!eval(child, env)?),
        Node::Compare { field, op, value } => {
            let lit = resolve(value, env)?;
            let found = match op {
                CmpOp::Eq | CmpOp::Ne => any_leaf(field, env, &mut |leaf| eq_leaf(&lit, leaf))?,
                CmpOp::Gt => {
                    any_leaf(field, env, &mut |leaf| ordered(&lit, leaf, Ordering::is_gt))?
                }
                CmpOp::Ge => {
                    any_leaf(field, env, &mut |leaf| ordered(&lit, leaf, Ordering::is_ge))?
                }
                CmpOp::Lt => {
                    any_leaf(field, env, &mut |leaf| ordered(&lit, leaf, Ordering::is_lt))?
                }
                CmpOp::Le => {
                    any_leaf(field, env, &mut |leaf| ordered(&lit, leaf, Ordering::is_le))?
                }
            };
            // Ditto: ne is the negation of eq, so a missing field matches ne (§4.3).
            Ok(if *op == CmpOp::Ne { !found } else { found })
        }
        Node::In { field, values } => any_leaf(field, env, &mut |leaf| {
            if matches!(leaf, Leaf::Null) {
                return Ok(false);
            }
            for v in values.iter() {
                let lit = resolve(v, env)?;
                // compare(null, obj) dereferences null in Ditto (NullPointerException).
                if matches!(lit, Lit::Null) {
                    return Err(Abort);
                }
                if java_compare(&lit, leaf)? == Ordering::Equal {
                    return Ok(true);
                }
            }
            Ok(false)
        }),
        Node::Like { field, pattern } => any_leaf(field, env, &mut |leaf| {
            Ok(match leaf {
                // Ditto matches String.valueOf(NULL_LITERAL), an Object's identity string: only a
                // pattern that matches anything is sure to match it.
                Leaf::Null => pattern.is_match_anything(),
                Leaf::Str(s) => pattern.matches(s),
                Leaf::Bool(b) => pattern.matches(if b { "true" } else { "false" }),
                Leaf::Num(n) => pattern.matches(&n.java_value_string()),
            })
        }),
        Node::Exists(f) => exists(f, env),
        Node::Empty(f) => empty(f, env),
    }
}

/// One value as Ditto's `mapJsonValueToJava` yields it (arrays flattened, objects dropped).
#[derive(Debug, Clone, Copy)]
enum Leaf<'a> {
    Null,
    Bool(bool),
    Num(JNum),
    Str(&'a str),
}

/// A literal with `time:` resolved.
enum Lit<'a> {
    Null,
    Bool(bool),
    Num(&'a NumLit),
    Str(&'a str, Option<Dec<'a>>),
}

fn resolve<'a>(lit: &'a Literal, env: &'a Env<'_>) -> Result<Lit<'a>, Abort> {
    Ok(match lit {
        Literal::Null => Lit::Null,
        Literal::Bool(b) => Lit::Bool(*b),
        Literal::Num(n) => Lit::Num(n),
        Literal::Str(s) => Lit::Str(&s.text, s.dec.as_ref().map(|d| d.view())),
        Literal::Time(i) => match env.times.get(*i) {
            Some(Resolved::Str(s)) => Lit::Str(s, parse_big_decimal(s)),
            Some(Resolved::Null) | None => Lit::Null,
            Some(Resolved::Abort) => return Err(Abort),
        },
    })
}

/// Calls `f` on every value of the field until it returns true.
fn any_leaf(field: &FilterField, env: &Env<'_>, f: &mut impl FnMut(Leaf<'_>) -> Ev) -> Ev {
    match field {
        FilterField::Thing(pointer) => {
            // Ditto parses the pointer (and throws on `//`) before looking at the Thing.
            if pointer.is_invalid() {
                return Err(Abort);
            }
            if !env.thing.is_object() {
                return Ok(false);
            }
            field::any_flat_hit(env.thing, pointer.keys(), &mut |v| any_leaf_in(v, f))
        }
        FilterField::Placeholder { prefix, name } => match env.ctx.placeholder(prefix, name) {
            Some(s) => f(Leaf::Str(&s)),
            None => Ok(false),
        },
        FilterField::Unresolved => Ok(false),
    }
}

fn any_leaf_in(v: &Value, f: &mut impl FnMut(Leaf<'_>) -> Ev) -> Ev {
    match v {
        Value::Null => f(Leaf::Null),
        Value::Bool(b) => f(Leaf::Bool(*b)),
        Value::Number(n) => match JNum::from_json(n) {
            Some(n) => f(Leaf::Num(n)),
            None => Ok(false),
        },
        Value::String(s) => f(Leaf::Str(s)),
        Value::Array(items) => {
            for item in items {
                if any_leaf_in(item, f)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        // Ditto: "filtering objects is not supported".
        Value::Object(_) => Ok(false),
    }
}

/// visitEq: null equals only null; otherwise both sides must be comparable and compare equal.
fn eq_leaf(lit: &Lit<'_>, leaf: Leaf<'_>) -> Ev {
    match (lit, leaf) {
        (Lit::Null, Leaf::Null) => Ok(true),
        (Lit::Null, _) | (_, Leaf::Null) => Ok(false),
        _ => Ok(java_compare(lit, leaf)? == Ordering::Equal),
    }
}

/// visitGt/Ge/Lt/Le: null on either side never matches.
fn ordered(lit: &Lit<'_>, leaf: Leaf<'_>, want: fn(Ordering) -> bool) -> Ev {
    match (lit, leaf) {
        (Lit::Null, _) | (_, Leaf::Null) => Ok(false),
        _ => Ok(want(java_compare(lit, leaf)?)),
    }
}

/// Ditto's `compare(value, obj)`, as the order of the field value relative to the literal: numbers as
/// BigDecimal; a string meeting a number is tried as a BigDecimal; same types compare naturally; other
/// mixes compare their string forms (§4.3). Both sides are non-null here.
fn java_compare(lit: &Lit<'_>, leaf: Leaf<'_>) -> Result<Ordering, Abort> {
    if let Lit::Num(n) = lit {
        if n.dec.is_none() {
            // asNumber(): new BigDecimal("Infinity") throws.
            return Err(Abort);
        }
    }
    Ok(match (lit, leaf) {
        (Lit::Num(n), Leaf::Num(m)) => cmp_num(m, n.num),
        (Lit::Str(_, Some(d)), Leaf::Num(m)) => cmp_num_dec(m, d),
        (Lit::Num(n), Leaf::Str(s)) => match (parse_big_decimal(s), &n.dec) {
            (Some(d), Some(nd)) => cmp_dec(&d, &nd.view()),
            _ => java_str_cmp(s, &n.text),
        },
        (Lit::Str(t, _), Leaf::Str(s)) => java_str_cmp(s, t),
        (Lit::Bool(b), Leaf::Bool(c)) => c.cmp(b),
        _ => java_str_cmp(&leaf_string(leaf), lit_string(lit)),
    })
}

fn leaf_string(leaf: Leaf<'_>) -> Cow<'_, str> {
    match leaf {
        Leaf::Null => Cow::Borrowed("null"),
        Leaf::Bool(b) => Cow::Borrowed(if b { "true" } else { "false" }),
        Leaf::Num(n) => Cow::Owned(n.big_decimal_string()),
        Leaf::Str(s) => Cow::Borrowed(s),
    }
}

fn lit_string<'a>(lit: &'a Lit<'_>) -> &'a str {
    match lit {
        Lit::Null => "null",
        Lit::Bool(b) => {
            if *b {
                "true"
            } else {
                "false"
            }
        }
        Lit::Num(n) => &n.text,
        Lit::Str(s, _) => s,
    }
}

fn object_at<'a>(thing: Option<&'a Map<String, Value>>, key: &str) -> Option<&'a Value> {
    thing?.get(key).filter(|v| v.is_object())
}

/// The property map of a feature (`properties` or `desiredProperties`).
fn feature_map<'a>(
    thing: Option<&'a Map<String, Value>>,
    id: &str,
    key: &str,
) -> Option<&'a Value> {
    field::feature_object(field::feature(thing?, id)?, key)
}

fn exists(f: &ExistsField, env: &Env<'_>) -> Ev {
    let thing = env.thing.as_object();
    let feature = |id: &str| thing.and_then(|t| field::feature(t, id));
    Ok(match f {
        ExistsField::Simple(key) => thing.is_some_and(|t| t.contains_key(*key)),
        ExistsField::Hidden | ExistsField::Unresolved => false,
        ExistsField::Placeholder { prefix, name } => env.ctx.placeholder(prefix, name).is_some(),
        ExistsField::Attribute(p) => match object_at(thing, "attributes") {
            None => false,
            Some(attrs) => {
                if p.is_invalid() {
                    return Err(Abort);
                }
                !matches!(field::flat_lookup(attrs, p.keys()), Flat::Missing)
            }
        },
        // Metadata.contains: non-flattening, and an empty pointer is never contained.
        ExistsField::Metadata(p) => match object_at(thing, "_metadata") {
            None => false,
            Some(meta) => {
                if p.is_invalid() {
                    return Err(Abort);
                }
                !p.keys().is_empty() && field::plain_lookup(meta, p.keys()).is_some()
            }
        },
        ExistsField::Feature(id) => feature(id).is_some(),
        ExistsField::FeatureDefinition(id) => {
            feature(id).and_then(field::feature_definition).is_some()
        }
        ExistsField::FeatureProperties(id) => feature_map(thing, id, "properties").is_some(),
        ExistsField::FeatureDesiredProperties(id) => {
            feature_map(thing, id, "desiredProperties").is_some()
        }
        ExistsField::FeatureProperty(id, p) | ExistsField::FeatureDesiredProperty(id, p) => {
            let key = if matches!(f, ExistsField::FeatureProperty(..)) {
                "properties"
            } else {
                "desiredProperties"
            };
            match feature_map(thing, id, key) {
                None => false,
                Some(props) => {
                    if p.is_invalid() {
                        return Err(Abort);
                    }
                    !matches!(field::flat_lookup(props, p.keys()), Flat::Missing)
                }
            }
        }
    })
}

/// `empty(x)`: absent, null, "", [] or {} (§4.3); through an array Ditto builds a new non-empty array.
fn empty(f: &ExistsField, env: &Env<'_>) -> Ev {
    let thing = env.thing.as_object();
    let feature = |id: &str| thing.and_then(|t| field::feature(t, id));
    let flat_empty = |root: &Value, p: &field::Pointer| -> Ev {
        if p.is_invalid() {
            return Err(Abort);
        }
        Ok(match field::flat_lookup(root, p.keys()) {
            Flat::Missing => true,
            Flat::One(v) => field::is_json_empty(v),
            Flat::Many => false,
        })
    };
    Ok(match f {
        ExistsField::Simple(key) => thing
            .and_then(|t| t.get(*key))
            .is_none_or(field::is_json_empty),
        ExistsField::Hidden | ExistsField::Unresolved => true,
        ExistsField::Placeholder { prefix, name } => env
            .ctx
            .placeholder(prefix, name)
            .is_none_or(|s| s.is_empty()),
        ExistsField::Attribute(p) => match object_at(thing, "attributes") {
            None => true,
            Some(attrs) => flat_empty(attrs, p)?,
        },
        ExistsField::Metadata(p) => match object_at(thing, "_metadata") {
            None => true,
            Some(meta) => {
                if p.is_invalid() {
                    return Err(Abort);
                }
                field::plain_lookup(meta, p.keys()).is_none_or(field::is_json_empty)
            }
        },
        ExistsField::Feature(id) => feature(id).is_none_or(|feat| {
            field::feature_definition(feat).is_none()
                && field::feature_object(feat, "properties").is_none()
                && field::feature_object(feat, "desiredProperties").is_none()
        }),
        ExistsField::FeatureDefinition(id) => feature(id)
            .and_then(field::feature_definition)
            .is_none_or(|d| d.as_array().is_some_and(Vec::is_empty)),
        ExistsField::FeatureProperties(id) => feature_map(thing, id, "properties")
            .is_none_or(|p| p.as_object().is_some_and(Map::is_empty)),
        ExistsField::FeatureDesiredProperties(id) => feature_map(thing, id, "desiredProperties")
            .is_none_or(|p| p.as_object().is_some_and(Map::is_empty)),
        ExistsField::FeatureProperty(id, p) => match feature_map(thing, id, "properties") {
            None => true,
            Some(props) => flat_empty(props, p)?,
        },
        ExistsField::FeatureDesiredProperty(id, p) => {
            match feature_map(thing, id, "desiredProperties") {
                None => true,
                Some(props) => flat_empty(props, p)?,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use crate::rql::{parse, MapPlaceholders};
    use chrono::{DateTime, Utc};
    use serde_json::{json, Value};

    const NOW: &str = "2024-01-17T10:30:15.123Z";

    fn ctx() -> MapPlaceholders {
        let now = match DateTime::parse_from_rfc3339(NOW) {
            Ok(t) => t.with_timezone(&Utc),
            Err(e) => panic!("bad NOW: {e}"),
        };
        MapPlaceholders::new(now)
            .with("topic", "action", "modified")
            .with("topic", "namespace", "ns")
            .with("topic", "full", "ns/t1/things/twin/events/modified")
            .with("resource", "type", "thing")
            .with("resource", "path", "/features/xy/properties")
            .with("entity", "id", "ns:t1")
            .with("entity", "namespace", "ns")
            .with("entity", "name", "t1")
            // Never asked for: Ditto does not resolve thing:/feature: in WebSocket filters.
            .with("thing", "id", "ns:t1")
    }

    fn check(cases: &[(&str, Value, bool)]) {
        let ctx = ctx();
        for (filter, thing, want) in cases {
            let f = match parse(filter) {
                Ok(f) => f,
                Err(e) => panic!("{filter} should parse: {}", e.message),
            };
            assert_eq!(f.matches(thing, &ctx), *want, "{filter} on {thing}");
        }
    }

    fn attrs(v: Value) -> Value {
        json!({ "thingId": "ns:t1", "attributes": v })
    }

    #[test]
    fn filter_on_missing_field_matches_ne() {
        check(&[
            ("ne(attributes/a,1)", attrs(json!({})), true),
            ("ne(attributes/a,1)", json!({"thingId": "ns:t1"}), true),
            ("ne(attributes/a,null)", attrs(json!({})), true),
            ("ne(attributes/a,1)", attrs(json!({"a": 1})), false),
            ("ne(attributes/a,1)", attrs(json!({"a": 2})), true),
            ("ne(attributes/a,null)", attrs(json!({"a": null})), false),
            ("ne(attributes/a,null)", attrs(json!({"a": 0})), true),
        ]);
    }

    #[test]
    fn ordering_operators_never_match_missing_or_null_fields() {
        for op in ["eq", "gt", "ge", "lt", "le"] {
            check(&[
                (&format!("{op}(attributes/a,1)"), attrs(json!({})), false),
                (
                    &format!("{op}(attributes/a,1)"),
                    attrs(json!({"a": null})),
                    false,
                ),
                (
                    &format!("not({op}(attributes/a,1))"),
                    attrs(json!({})),
                    true,
                ),
            ]);
        }
        check(&[
            ("gt(attributes/a,null)", attrs(json!({"a": 1})), false),
            ("le(attributes/a,null)", attrs(json!({"a": null})), false),
        ]);
    }

    #[test]
    fn comparison_operators_on_numbers() {
        check(&[
            ("eq(attributes/a,1)", attrs(json!({"a": 1})), true),
            ("eq(attributes/a,1)", attrs(json!({"a": 2})), false),
            ("eq(attributes/a,1)", attrs(json!({"a": 1.0})), true),
            ("eq(attributes/a,2.0)", attrs(json!({"a": 2})), true),
            ("eq(attributes/a,-0.0)", attrs(json!({"a": 0})), true),
            ("gt(attributes/a,5)", attrs(json!({"a": 6})), true),
            ("gt(attributes/a,5)", attrs(json!({"a": 5})), false),
            ("ge(attributes/a,5)", attrs(json!({"a": 5})), true),
            ("ge(attributes/a,5)", attrs(json!({"a": 4.99})), false),
            ("lt(attributes/a,5)", attrs(json!({"a": 4.5})), true),
            ("lt(attributes/a,5)", attrs(json!({"a": 5})), false),
            ("le(attributes/a,5)", attrs(json!({"a": 5.0})), true),
            ("le(attributes/a,-5)", attrs(json!({"a": -6})), true),
            ("gt(attributes/a,1.5)", attrs(json!({"a": 2})), true),
            ("lt(attributes/a,0.1)", attrs(json!({"a": 0.09})), true),
            ("eq(attributes/a,0.1)", attrs(json!({"a": 0.1})), true),
        ]);
    }

    #[test]
    fn large_integers_compare_without_precision_loss() {
        check(&[
            (
                "eq(attributes/n,9007199254740993)",
                attrs(json!({"n": 9_007_199_254_740_993_i64})),
                true,
            ),
            (
                "eq(attributes/n,9007199254740993)",
                attrs(json!({"n": 9_007_199_254_740_992_i64})),
                false,
            ),
            (
                "gt(attributes/n,9007199254740992)",
                attrs(json!({"n": 9_007_199_254_740_993_i64})),
                true,
            ),
            (
                "gt(attributes/n,9223372036854775807)",
                attrs(json!({"n": u64::MAX})),
                true,
            ),
            (
                "eq(attributes/n,-9223372036854775808)",
                attrs(json!({"n": i64::MIN})),
                true,
            ),
            (
                "eq(attributes/n,\"18446744073709551615\")",
                attrs(json!({"n": u64::MAX})),
                true,
            ),
        ]);
    }

    #[test]
    fn strings_and_numbers_compare_numerically_when_the_string_is_a_number() {
        check(&[
            ("eq(attributes/a,1)", attrs(json!({"a": "1"})), true),
            ("eq(attributes/a,1)", attrs(json!({"a": "1.0"})), true),
            ("eq(attributes/a,1)", attrs(json!({"a": "+1e0"})), true),
            ("eq(attributes/a,1)", attrs(json!({"a": " 1"})), false),
            // BigDecimal, not lexicographic: "10" > 5.
            ("gt(attributes/a,5)", attrs(json!({"a": "10"})), true),
            ("eq(attributes/a,\"1.0\")", attrs(json!({"a": 1})), true),
            ("eq(attributes/a,\"1e0\")", attrs(json!({"a": 1})), true),
            ("lt(attributes/a,\"10\")", attrs(json!({"a": 9})), true),
            ("eq(attributes/s,2.5)", attrs(json!({"s": "2.50"})), true),
            // Not a number: Ditto compares "5" with "abc".
            ("gt(attributes/a,\"abc\")", attrs(json!({"a": 5})), false),
            ("lt(attributes/a,\"abc\")", attrs(json!({"a": 5})), true),
            ("lt(attributes/s,5)", attrs(json!({"s": "4x"})), true),
            ("gt(attributes/s,5)", attrs(json!({"s": "abc"})), true),
            // Double literal string form is BigDecimal(Double.toString): 1.0E10 -> "1.0E+10".
            (
                "eq(attributes/s,10000000000.0)",
                attrs(json!({"s": "x"})),
                false,
            ),
        ]);
    }

    #[test]
    fn strings_compare_lexicographically_in_utf16_order() {
        check(&[
            ("eq(attributes/s,\"x\")", attrs(json!({"s": "x"})), true),
            ("eq(attributes/s,'x')", attrs(json!({"s": "X"})), false),
            ("gt(attributes/s,\"b\")", attrs(json!({"s": "c"})), true),
            ("gt(attributes/s,\"b\")", attrs(json!({"s": "B"})), false),
            ("ge(attributes/s,\"\")", attrs(json!({"s": ""})), true),
            (
                "gt(attributes/s,\"\\uFFFF\")",
                attrs(json!({"s": "😀"})),
                false,
            ),
            ("eq(thingId,\"ns:t1\")", json!({"thingId": "ns:t1"}), true),
            ("like(thingId,\"ns:*\")", json!({"thingId": "ns:t1"}), true),
        ]);
    }

    #[test]
    fn booleans_compare_with_booleans_and_by_string_form_otherwise() {
        check(&[
            ("eq(attributes/b,true)", attrs(json!({"b": true})), true),
            ("eq(attributes/b,true)", attrs(json!({"b": false})), false),
            ("gt(attributes/b,false)", attrs(json!({"b": true})), true),
            // Different classes compare by toString(): "true" equals "true".
            ("eq(attributes/b,true)", attrs(json!({"b": "true"})), true),
            ("eq(attributes/b,\"true\")", attrs(json!({"b": true})), true),
            ("eq(attributes/b,true)", attrs(json!({"b": 1})), false),
            ("lt(attributes/b,\"u\")", attrs(json!({"b": true})), true),
            ("eq(attributes/n,null)", attrs(json!({"n": null})), true),
            ("eq(attributes/n,null)", attrs(json!({"n": 0})), false),
            ("eq(attributes/n,null)", attrs(json!({"n": ""})), false),
            ("eq(attributes/n,null)", attrs(json!({})), false),
        ]);
    }

    #[test]
    fn arrays_match_if_any_element_matches_and_objects_never_do() {
        check(&[
            (
                "eq(attributes/arr,2)",
                attrs(json!({"arr": [1, 2, 3]})),
                true,
            ),
            (
                "eq(attributes/arr,4)",
                attrs(json!({"arr": [1, 2, 3]})),
                false,
            ),
            (
                "eq(attributes/arr,2)",
                attrs(json!({"arr": [[1, [2]]]})),
                true,
            ),
            (
                "eq(attributes/arr,2)",
                attrs(json!({"arr": [{"v": 2}]})),
                false,
            ),
            ("gt(attributes/arr,2)", attrs(json!({"arr": [1, 3]})), true),
            ("ne(attributes/arr,2)", attrs(json!({"arr": [1, 2]})), false),
            ("ne(attributes/arr,2)", attrs(json!({"arr": [1, 3]})), true),
            (
                "eq(attributes/arr,null)",
                attrs(json!({"arr": [1, null]})),
                true,
            ),
            ("eq(attributes/arr,1)", attrs(json!({"arr": []})), false),
            ("ne(attributes/arr,1)", attrs(json!({"arr": []})), true),
            ("eq(attributes/o,1)", attrs(json!({"o": {"x": 1}})), false),
            ("ne(attributes/o,1)", attrs(json!({"o": {"x": 1}})), true),
            ("eq(attributes/,1)", attrs(json!({"a": 1})), false),
            // Arrays on the way are flattened to their object elements (nested arrays are skipped).
            (
                "eq(attributes/list/v,2)",
                attrs(json!({"list": [{"v": 1}, {"v": 2}]})),
                true,
            ),
            (
                "eq(attributes/list/v,2)",
                attrs(json!({"list": [{"v": [5, 2]}]})),
                true,
            ),
            (
                "eq(attributes/list/v,2)",
                attrs(json!({"list": [[{"v": 2}]]})),
                false,
            ),
            (
                "eq(attributes/list/v,2)",
                attrs(json!({"list": [2, {"w": 2}]})),
                false,
            ),
        ]);
    }

    #[test]
    fn in_matches_when_equal_to_any_value() {
        check(&[
            ("in(attributes/a,1,2)", attrs(json!({"a": 2})), true),
            ("in(attributes/a,1,2)", attrs(json!({"a": 3})), false),
            ("in(attributes/a,1,2)", attrs(json!({})), false),
            ("in(attributes/s,\"x\",'y')", attrs(json!({"s": "y"})), true),
            ("in(attributes/a,\"2\",5)", attrs(json!({"a": 2})), true),
            (
                "in(attributes/arr,7,3)",
                attrs(json!({"arr": [1, 3]})),
                true,
            ),
            ("in(attributes/a,1,null)", attrs(json!({"a": 1})), true),
            // A null literal throws in Ditto once it is compared with a value.
            ("in(attributes/a,null,1)", attrs(json!({"a": 1})), false),
            ("in(attributes/a,1,null)", attrs(json!({"a": 2})), false),
            (
                "not(in(attributes/a,1,null))",
                attrs(json!({"a": 2})),
                false,
            ),
            ("in(attributes/a,null)", attrs(json!({"a": null})), false),
            ("not(in(attributes/a,null))", attrs(json!({})), true),
        ]);
    }

    #[test]
    fn like_and_ilike_match_whole_values() {
        check(&[
            (
                "like(attributes/s,\"te*\")",
                attrs(json!({"s": "test"})),
                true,
            ),
            (
                "like(attributes/s,\"te*\")",
                attrs(json!({"s": "xtest"})),
                false,
            ),
            (
                "like(attributes/s,\"t?st\")",
                attrs(json!({"s": "test"})),
                true,
            ),
            (
                "like(attributes/s,\"t?st\")",
                attrs(json!({"s": "tst"})),
                false,
            ),
            (
                "like(attributes/s,\"TE*\")",
                attrs(json!({"s": "test"})),
                false,
            ),
            (
                "ilike(attributes/s,\"TE*\")",
                attrs(json!({"s": "test"})),
                true,
            ),
            (
                "like(attributes/s,\"a.c\")",
                attrs(json!({"s": "abc"})),
                false,
            ),
            (
                "like(attributes/s,\"*\")",
                attrs(json!({"s": "two\nlines"})),
                false,
            ),
            ("like(attributes/s,\"\")", attrs(json!({"s": ""})), true),
            ("like(attributes/s,\"*\")", attrs(json!({})), false),
            ("not(like(attributes/s,\"*\"))", attrs(json!({})), true),
            // Non-strings are matched as Java renders them.
            ("like(attributes/n,\"4*\")", attrs(json!({"n": 42})), true),
            ("like(attributes/d,\"1.5\")", attrs(json!({"d": 1.5})), true),
            ("like(attributes/d,\"2\")", attrs(json!({"d": 2.0})), true),
            (
                "like(attributes/d,\"1.0E20\")",
                attrs(json!({"d": 1e20})),
                true,
            ),
            (
                "like(attributes/b,\"tr*\")",
                attrs(json!({"b": true})),
                true,
            ),
            ("like(attributes/n,\"*\")", attrs(json!({"n": null})), true),
            (
                "like(attributes/n,\"n*\")",
                attrs(json!({"n": null})),
                false,
            ),
            (
                "like(attributes/arr,\"b*\")",
                attrs(json!({"arr": ["a", "bc"]})),
                true,
            ),
            ("like(attributes/o,\"*\")", attrs(json!({"o": {}})), false),
            ("like(resource:path,\"/features/x*\")", json!({}), true),
            ("ilike(topic:action,\"MOD*\")", json!({}), true),
        ]);
    }

    #[test]
    fn exists_follows_dittos_thing_model() {
        let feature = |f: Value| json!({"thingId": "ns:t1", "features": {"f": f}});
        check(&[
            ("exists(attributes/a)", attrs(json!({"a": null})), true),
            ("exists(attributes/a)", attrs(json!({})), false),
            ("exists(attributes/a)", json!({"thingId": "ns:t1"}), false),
            (
                "exists(attributes/a/b)",
                attrs(json!({"a": {"b": 0}})),
                true,
            ),
            (
                "exists(attributes/list/v)",
                attrs(json!({"list": [{"v": 1}]})),
                true,
            ),
            (
                "exists(attributes/list/v)",
                attrs(json!({"list": [{"w": 1}]})),
                false,
            ),
            ("exists(attributes/)", attrs(json!({})), true),
            ("exists(features/f)", feature(json!({})), true),
            ("exists(features/g)", feature(json!({})), false),
            (
                "exists(features/f/properties)",
                feature(json!({"properties": {}})),
                true,
            ),
            ("exists(features/f/properties)", feature(json!({})), false),
            (
                "exists(features/f/desiredProperties)",
                feature(json!({"desiredProperties": {"t": 1}})),
                true,
            ),
            (
                "exists(features/f/properties/p)",
                feature(json!({"properties": {"p": 0}})),
                true,
            ),
            (
                "exists(features/f/properties/p)",
                feature(json!({"properties": {"q": 0}})),
                false,
            ),
            (
                "exists(features/f/desiredProperties/p)",
                feature(json!({"desiredProperties": {"p": 0}})),
                true,
            ),
            (
                "exists(features/f/definition)",
                feature(json!({"definition": ["a:b:1"]})),
                true,
            ),
            (
                "exists(features/f/definition)",
                feature(json!({"properties": {}})),
                false,
            ),
            ("exists(thingId)", json!({"thingId": "ns:t1"}), true),
            ("exists(policyId)", json!({"thingId": "ns:t1"}), false),
            ("exists(definition)", json!({"definition": "a:b:1"}), true),
            // _revision, _modified, _created, _namespace and _metadata are HIDDEN in Ditto's
            // thing.toJson(), which exists/empty inspect: never present.
            ("exists(_revision)", json!({"_revision": 5}), false),
            ("exists(_modified)", json!({"_modified": NOW}), false),
            ("exists(_metadata)", json!({"_metadata": {"a": 1}}), false),
            ("exists(_metadata/a)", json!({"_metadata": {"a": {}}}), true),
            (
                "exists(_metadata/a/b)",
                json!({"_metadata": {"a": [{"b": 1}]}}),
                false,
            ),
            ("exists(_metadata/)", json!({"_metadata": {"a": {}}}), false),
            ("exists(topic:action)", json!({}), true),
            ("exists(topic:subject)", json!({}), false),
            ("exists(entity:id)", json!({}), true),
            ("exists(thing:id)", json!({}), false),
            ("exists(feature:id)", json!({}), false),
            // Feature IDs are looked up as written by exists (no pointer decoding).
            (
                "exists(features/a~0b)",
                json!({"features": {"a~0b": {}}}),
                true,
            ),
            (
                "exists(features/a~0b)",
                json!({"features": {"a~b": {}}}),
                false,
            ),
        ]);
    }

    #[test]
    fn empty_is_true_for_absent_null_and_empty_values_only() {
        let feature = |f: Value| json!({"thingId": "ns:t1", "features": {"f": f}});
        check(&[
            ("empty(attributes/a)", attrs(json!({})), true),
            ("empty(attributes/a)", json!({}), true),
            ("empty(attributes/a)", attrs(json!({"a": null})), true),
            ("empty(attributes/a)", attrs(json!({"a": ""})), true),
            ("empty(attributes/a)", attrs(json!({"a": []})), true),
            ("empty(attributes/a)", attrs(json!({"a": {}})), true),
            ("empty(attributes/a)", attrs(json!({"a": 0})), false),
            ("empty(attributes/a)", attrs(json!({"a": false})), false),
            ("empty(attributes/a)", attrs(json!({"a": "x"})), false),
            ("empty(attributes/a)", attrs(json!({"a": [""]})), false),
            // Through an array Ditto collects a new, non-empty array.
            (
                "empty(attributes/list/v)",
                attrs(json!({"list": [{"v": ""}]})),
                false,
            ),
            (
                "empty(attributes/list/v)",
                attrs(json!({"list": [{"w": 1}]})),
                true,
            ),
            ("empty(features/f)", feature(json!({})), true),
            (
                "empty(features/f)",
                feature(json!({"properties": {}})),
                false,
            ),
            ("empty(features/g)", feature(json!({})), true),
            (
                "empty(features/f/properties)",
                feature(json!({"properties": {}})),
                true,
            ),
            (
                "empty(features/f/properties)",
                feature(json!({"properties": {"p": 1}})),
                false,
            ),
            (
                "empty(features/f/desiredProperties)",
                feature(json!({})),
                true,
            ),
            (
                "empty(features/f/properties/p)",
                feature(json!({"properties": {"p": ""}})),
                true,
            ),
            (
                "empty(features/f/properties/p)",
                feature(json!({"properties": {"p": 1}})),
                false,
            ),
            (
                "empty(features/f/definition)",
                feature(json!({"definition": []})),
                true,
            ),
            (
                "empty(features/f/definition)",
                feature(json!({"definition": ["a:b:1"]})),
                false,
            ),
            ("empty(thingId)", json!({"thingId": "ns:t1"}), false),
            ("empty(thingId)", json!({}), true),
            ("empty(definition)", json!({"definition": null}), true),
            ("empty(_revision)", json!({"_revision": 5}), true),
            ("empty(_metadata/a)", json!({"_metadata": {"a": {}}}), true),
            ("empty(_metadata/a)", json!({"_metadata": {"a": 1}}), false),
            ("empty(topic:action)", json!({}), false),
            ("empty(topic:subject)", json!({}), true),
            ("empty(thing:id)", json!({}), true),
            ("not(empty(attributes/a))", attrs(json!({"a": 0})), true),
        ]);
    }

    #[test]
    fn placeholders_resolve_from_the_signal() {
        check(&[
            ("eq(topic:action,\"modified\")", json!({}), true),
            ("eq(topic:action,\"created\")", json!({}), false),
            ("in(topic:action,'created','deleted')", json!({}), false),
            (
                "and(in(topic:action,'created','modified'),eq(resource:path,'/'))",
                json!({}),
                false,
            ),
            (
                "and(in(topic:action,'created','modified'),like(resource:path,'/features/*'))",
                json!({}),
                true,
            ),
            ("eq(topic:namespace,'ns')", json!({}), true),
            (
                "eq(topic:full,'ns/t1/things/twin/events/modified')",
                json!({}),
                true,
            ),
            ("eq(resource:type,'thing')", json!({}), true),
            ("eq(entity:namespace,\"ns\")", json!({}), true),
            ("eq(entity:name,\"t1\")", json!({}), true),
            ("eq(entity:id,\"ns:t1\")", json!({}), true),
            ("eq(topic:subject,\"foo\")", json!({}), false),
            ("ne(topic:subject,\"foo\")", json!({}), true),
            // Accepted, but Ditto passes no resolver for them.
            ("eq(thing:id,\"ns:t1\")", json!({"thingId": "ns:t1"}), false),
            ("ne(thing:id,\"x\")", json!({}), true),
            ("eq(feature:id,\"f\")", json!({}), false),
        ]);
    }

    #[test]
    fn time_placeholders_compare_as_strings_with_timestamps() {
        let modified = |m: &str| json!({"thingId": "ns:t1", "_modified": m});
        check(&[
            (
                "lt(_modified,time:now)",
                modified("2024-01-17T10:00:00Z"),
                true,
            ),
            (
                "gt(_modified,time:now)",
                modified("2024-01-17T10:00:00Z"),
                false,
            ),
            (
                "gt(_modified,time:now-1h)",
                modified("2024-01-17T10:00:00Z"),
                true,
            ),
            (
                "gt(_modified,time:now-15m)",
                modified("2024-01-17T10:00:00Z"),
                false,
            ),
            (
                "ge(_modified,time:now[h])",
                modified("2024-01-17T10:00:00Z"),
                true,
            ),
            (
                "lt(_modified,time:now+1d[d])",
                modified("2024-01-17T23:59:59Z"),
                true,
            ),
            ("eq(_modified,time:now)", modified(NOW), true),
            // String comparison, as in Ditto: a fraction-less timestamp sorts after one with a fraction.
            (
                "gt(_modified,time:now[s])",
                modified("2024-01-17T10:30:15.5Z"),
                false,
            ),
            (
                "eq(attributes/ts,time:now_epoch_millis)",
                attrs(json!({"ts": 1_705_487_415_123_i64})),
                true,
            ),
            (
                "lt(attributes/ts,time:now_epoch_millis-1s)",
                attrs(json!({"ts": 1_705_487_414_000_i64})),
                true,
            ),
            (
                "in(attributes/ts,1,time:now_epoch_millis)",
                attrs(json!({"ts": 1_705_487_415_123_i64})),
                true,
            ),
            // An unsupported name resolves to null: eq then matches null values.
            (
                "eq(attributes/x,time:nownow)",
                attrs(json!({"x": null})),
                true,
            ),
            ("eq(attributes/x,time:later)", attrs(json!({"x": 1})), false),
            (
                "lt(_modified,time:now )",
                modified("2024-01-17T10:00:00Z"),
                false,
            ),
        ]);
    }

    #[test]
    fn evaluation_errors_in_ditto_make_the_filter_not_match() {
        let huge = format!("1{}.5", "0".repeat(400));
        check(&[
            // A placeholder Ditto cannot resolve fails when the predicate is built, before or/and.
            (
                "or(eq(thingId,\"ns:t1\"),lt(_modified,time:now]x[))",
                json!({"thingId": "ns:t1"}),
                false,
            ),
            (
                "or(eq(thingId,\"ns:t1\"),lt(_modified,time:now-9223372036854775807m))",
                json!({"thingId": "ns:t1"}),
                false,
            ),
            // Inside in() it is resolved lazily.
            (
                "or(eq(thingId,\"ns:t1\"),in(attributes/a,time:now]x[))",
                attrs(json!({"a": 1})),
                true,
            ),
            (
                "in(attributes/a,time:now]x[)",
                attrs(json!({"a": 1})),
                false,
            ),
            // A pointer with "//" throws where it is used.
            (
                "or(eq(thingId,\"ns:t1\"),eq(attributes/a//b,1))",
                json!({"thingId": "ns:t1"}),
                true,
            ),
            (
                "and(eq(thingId,\"ns:t1\"),eq(attributes/a//b,1))",
                json!({"thingId": "ns:t1"}),
                false,
            ),
            ("ne(attributes/a//b,1)", json!({}), false),
            ("not(exists(attributes/a//b))", json!({}), true),
            ("not(exists(attributes/a//b))", attrs(json!({})), false),
            // An infinite decimal literal throws once compared with a value.
            (
                &format!("eq(attributes/a,{huge})"),
                attrs(json!({"a": 1})),
                false,
            ),
            (
                &format!("ne(attributes/a,{huge})"),
                attrs(json!({"a": 1})),
                false,
            ),
            (&format!("ne(attributes/a,{huge})"), attrs(json!({})), true),
        ]);
    }

    #[test]
    fn field_paths_reach_every_part_of_the_thing() {
        check(&[
            ("eq(/attributes/a,1)", attrs(json!({"a": 1})), true),
            (
                "eq(attributes/a/b/c,1)",
                attrs(json!({"a": {"b": {"c": 1}}})),
                true,
            ),
            ("eq(attributes/a~0b,1)", attrs(json!({"a~b": 1})), true),
            ("eq(attributes/a/,1)", attrs(json!({"a": 1})), true),
            ("eq(policyId,\"ns:p\")", json!({"policyId": "ns:p"}), true),
            (
                "eq(definition,\"a:b:1\")",
                json!({"definition": "a:b:1"}),
                true,
            ),
            ("eq(_namespace,\"ns\")", json!({"_namespace": "ns"}), true),
            ("ge(_revision,5)", json!({"_revision": 5}), true),
            (
                "eq(_created,\"2024-01-01T00:00:00Z\")",
                json!({"_created": "2024-01-01T00:00:00Z"}),
                true,
            ),
            (
                "eq(_metadata/a/b,1)",
                json!({"_metadata": {"a": {"b": 1}}}),
                true,
            ),
            (
                "gt(features/f/properties/t,20)",
                json!({"features": {"f": {"properties": {"t": 21}}}}),
                true,
            ),
            (
                "gt(features/f/properties/t/v,20)",
                json!({"features": {"f": {"properties": {"t": {"v": 21}}}}}),
                true,
            ),
            (
                "gt(features/f/desiredProperties/t,20)",
                json!({"features": {"f": {"desiredProperties": {"t": 21}}}}),
                true,
            ),
            (
                "eq(features/f/definition,\"a:b:1\")",
                json!({"features": {"f": {"definition": ["x:y:0", "a:b:1"]}}}),
                true,
            ),
            ("eq(thingId,\"x\")", json!(null), false),
            ("ne(thingId,\"x\")", json!([1]), true),
        ]);
    }

    /// MATCHING_THING of Ditto's ThingPredicateVisitorTest, as the JSON its model produces.
    fn dittos_matching_thing() -> Value {
        let leafs = json!({"anInteger": 42, "aLong": 42_456_489_489_489_i64, "aDouble": 22.26, "aBoolean": true, "aString": "ccc_string"});
        let mut attributes = leafs.clone();
        attributes["anArrayOfObjects"] = json!([{"anInteger": 42, "aBoolean": true, "anArrayOfObjects": [{"anInteger": 42, "aBoolean": true}]}]);
        json!({
            "thingId": "org.eclipse.ditto:foo-matching",
            "_namespace": "org.eclipse.ditto",
            "_modified": "2024-01-17T10:00:00.5Z",
            "attributes": attributes,
            "features": {"foo": {"properties": leafs}},
            "_metadata": {"attributes": {"sensorType": "self-pushing"}, "features": {"Car": {"properties": {"status": "running"}}}}
        })
    }

    #[test]
    fn dittos_own_thing_predicate_cases_hold() {
        let t = dittos_matching_thing();
        let cases: &[(&str, bool)] = &[
            ("eq(thingId,\"org.eclipse.ditto:foo-matching\")", true),
            ("eq(_namespace,\"org.eclipse.ditto\")", true),
            ("ne(thingId,\"org.eclipse.ditto:foo-nonmatching-lesser\")", true),
            ("eq(features/foo/properties/anInteger,42)", true),
            ("ge(attributes/anInteger,41)", true),
            ("ge(attributes/anInteger,37.800000000000004)", true),
            ("ge(attributes/anInteger,\"41\")", true),
            ("ge(attributes/aLong,42456489489489)", true),
            ("ge(attributes/aDouble,21.26)", true),
            ("ge(attributes/aDouble,21.26000022888184)", true),
            ("ge(attributes/aDouble,22)", true),
            ("ge(attributes/aDouble,\"21.26\")", true),
            ("ge(attributes/aString,\"b\")", true),
            ("ge(attributes/aBoolean,true)", true),
            ("gt(attributes/anInteger,42)", false),
            ("gt(attributes/aString,\"ccc_string\")", false),
            ("gt(attributes/aBoolean,true)", false),
            ("le(attributes/aString,\"d\")", true),
            ("lt(attributes/aDouble,22.26)", false),
            ("in(thingId,\"org.eclipse.ditto:foo-matching\",\"org.eclipse.ditto:foo-nonmatching-lesser\")", true),
            ("in(thingId,\"org.eclipse.ditto:unknown\")", false),
            ("in(attributes/anInteger,1,2,3,42)", true),
            ("in(attributes/aDouble,1.0,2.0,3.0,22.26)", true),
            ("in(attributes/aDouble,1.0,2.0,3.0)", false),
            ("like(thingId,\"org.eclipse.ditto*\")", true),
            ("like(thingId,\"*matching*\")", true),
            ("like(thingId,\"o?g.eclipse.ditto:foo-matching\")", true),
            ("eq(_metadata/attributes/sensorType,\"self-pushing\")", true),
            ("exists(_metadata/attributes)", true),
            ("exists(thingId)", true),
            ("exists(attributes/aBoolean)", true),
            ("exists(attributes/missing)", false),
            ("exists(attributes/anArrayOfObjects/aBoolean)", true),
            ("exists(attributes/anArrayOfObjects/missing)", false),
            ("exists(attributes/anArrayOfObjects/anArrayOfObjects/aBoolean)", true),
            ("ge(attributes/anArrayOfObjects/anInteger,41)", true),
            ("ge(attributes/anArrayOfObjects/anArrayOfObjects/anInteger,41)", true),
            ("eq(attributes/anArrayOfObjects/anArrayOfObjects/aBoolean,true)", true),
            ("exists(features/foo)", true),
            ("exists(features/bar)", false),
            ("exists(features/foo/properties/aString)", true),
            ("and(exists(attributes/aBoolean),eq(thingId,\"org.eclipse.ditto:foo-matching\"),gt(attributes/aDouble,21.76))", true),
            ("or(exists(attributes/missing),eq(thingId,\"x\"),gt(attributes/aDouble,21.76))", true),
            ("not(eq(thingId,\"org.eclipse.ditto:foo-matching\"))", false),
            ("empty(attributes/missing)", true),
            ("empty(attributes/aString)", false),
            ("empty(features/bar)", true),
            ("empty(features/foo)", false),
            ("empty(features/foo/properties/missing)", true),
            ("empty(_metadata/attributes/sensorType)", false),
            ("empty(_metadata/missing)", true),
            ("not(empty(thingId))", true),
            ("gt(_modified,time:now)", false),
            ("lt(_modified,time:now)", true),
        ];
        let cases: Vec<(&str, Value, bool)> = cases
            .iter()
            .map(|(f, want)| (*f, t.clone(), *want))
            .collect();
        check(&cases);
    }

    #[test]
    fn logical_operators_nest() {
        let t = attrs(json!({"a": 1, "b": "x", "c": [1, 2]}));
        check(&[
            ("and(eq(attributes/a,1),eq(attributes/b,\"x\"))", t.clone(), true),
            ("and(eq(attributes/a,1),eq(attributes/b,\"y\"))", t.clone(), false),
            ("or(eq(attributes/a,2),eq(attributes/b,\"x\"))", t.clone(), true),
            ("or(eq(attributes/a,2),eq(attributes/b,\"y\"))", t.clone(), false),
            ("not(eq(attributes/a,1))", t.clone(), false),
            ("not(not(eq(attributes/a,1)))", t.clone(), true),
            ("and(eq(attributes/a,1))", t.clone(), true),
            ("or(not(exists(attributes/z)),eq(attributes/a,99))", t.clone(), true),
            (
                "and(or(eq(attributes/a,2),in(attributes/c,5,2)),not(and(exists(attributes/b),empty(attributes/b))))",
                t.clone(),
                true,
            ),
            ("and(eq(topic:action,'modified'),or(gt(attributes/a,0),lt(attributes/a,-10)))", t, true),
        ]);
    }
}
