//! What a search index can answer of a filter ([`Filter::index_plan`]): which index lookups give a
//! superset of the things the filter may match, so a search reads those candidates instead of
//! every twin. The plan never decides a match: the exact filter is always evaluated afterwards on
//! what the requester may read, so a plan only has to be a superset (never miss a match).
//!
//! `eq`, `in`, ranges and `exists` on a thing field are lookups; `ne`, `not`, `like`, `ilike`,
//! `empty`, `null` and `time:` literals and placeholders cannot be (the plan says [`IndexPlan::Scan`]).
//! Numbers compare with strings in Ditto's evaluation (a number field against a numeric string),
//! so a literal looks in both the number and the string index where the other could match.

use super::ast::{CmpOp, Literal, Node};
use super::field::{ExistsField, FilterField, Pointer};
use super::Filter;

/// Which twins may match a filter, as index lookups.
#[derive(Debug, Clone, PartialEq)]
pub enum IndexPlan {
    /// Nothing the index knows narrows it: every twin is a candidate.
    Scan,
    /// No twin can match (Ditto's hidden top-level fields never exist).
    Nothing,
    /// Candidates of every child (children that are `Scan` do not narrow).
    And(Vec<IndexPlan>),
    /// Candidates of any child.
    Or(Vec<IndexPlan>),
    /// The union of these lookups' results.
    Lookup(Vec<Lookup>),
}

/// One read of the index of a field path (`attributes/a/b`, `thingId`, `features/f/properties/p`).
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    /// Numbers in `[min, max]` (inclusive: floats are widened, the exact filter narrows).
    Number { path: String, min: f64, max: f64 },
    /// Strings between the bounds (`None`: unbounded on that side).
    Text {
        path: String,
        min: Option<TextBound>,
        max: Option<TextBound>,
    },
    /// Booleans equal to `value`.
    Bool { path: String, value: bool },
    /// Twins with anything at `path`.
    Exists { path: String },
}

/// One end of a string range.
#[derive(Debug, Clone, PartialEq)]
pub struct TextBound {
    pub value: String,
    pub inclusive: bool,
}

impl Filter {
    /// The index lookups that find a superset of what this filter matches.
    pub fn index_plan(&self) -> IndexPlan {
        plan(&self.root)
    }
}

fn plan(node: &Node) -> IndexPlan {
    match node {
        Node::And(children) => {
            let plans: Vec<IndexPlan> = merge_ranges(
                children
                    .iter()
                    .map(plan)
                    .filter(|p| *p != IndexPlan::Scan)
                    .collect(),
            );
            if plans.is_empty() {
                IndexPlan::Scan
            } else {
                IndexPlan::And(plans)
            }
        }
        Node::Or(children) => {
            let plans: Vec<IndexPlan> = children.iter().map(plan).collect();
            if plans.contains(&IndexPlan::Scan) {
                IndexPlan::Scan
            } else {
                IndexPlan::Or(plans)
            }
        }
        Node::Compare { field, op, value } => match path_of(field) {
            Some(path) => compare(&path, *op, value),
            None => IndexPlan::Scan,
        },
        Node::In { field, values } => {
            let Some(path) = path_of(field) else {
                return IndexPlan::Scan;
            };
            let mut lookups = Vec::new();
            for v in values.iter() {
                match compare(&path, CmpOp::Eq, v) {
                    IndexPlan::Lookup(l) => lookups.extend(l),
                    _ => return IndexPlan::Scan,
                }
            }
            IndexPlan::Lookup(lookups)
        }
        Node::Exists(field) => match exists_path(field) {
            Some(Some(path)) => IndexPlan::Lookup(vec![Lookup::Exists { path }]),
            Some(None) => IndexPlan::Nothing,
            None => IndexPlan::Scan,
        },
        Node::Not(_) | Node::Like { .. } | Node::Empty(_) => IndexPlan::Scan,
    }
}

/// The value ranges of one path a plan looks up: numbers and strings (`None`: none of that type).
#[derive(Clone)]
struct Ranges {
    path: String,
    number: Option<(f64, f64)>,
    text: Option<(Option<TextBound>, Option<TextBound>)>,
}

/// The ranges of a plan that only looks up numbers and strings at one path.
fn ranges_of(plan: &IndexPlan) -> Option<Ranges> {
    let IndexPlan::Lookup(lookups) = plan else {
        return None;
    };
    let mut r = Ranges {
        path: String::new(),
        number: None,
        text: None,
    };
    for l in lookups {
        let path = match l {
            Lookup::Number { path, min, max } if r.number.is_none() => {
                r.number = Some((*min, *max));
                path
            }
            Lookup::Text { path, min, max } if r.text.is_none() => {
                r.text = Some((min.clone(), max.clone()));
                path
            }
            _ => return None,
        };
        if !r.path.is_empty() && r.path != *path {
            return None;
        }
        r.path.clone_from(path);
    }
    (!r.path.is_empty()).then_some(r)
}

/// The larger lower bound (or smaller upper bound, `upper`); at equal values the exclusive one.
fn tighter(a: Option<TextBound>, b: Option<TextBound>, upper: bool) -> Option<TextBound> {
    match (a, b) {
        (None, x) | (x, None) => x,
        (Some(a), Some(b)) => Some(match a.value.cmp(&b.value) {
            std::cmp::Ordering::Equal => TextBound {
                inclusive: a.inclusive && b.inclusive,
                ..a
            },
            std::cmp::Ordering::Less if upper => a,
            std::cmp::Ordering::Less => b,
            std::cmp::Ordering::Greater if upper => b,
            std::cmp::Ordering::Greater => a,
        }),
    }
}

/// Merges an `and`'s range lookups on the same path into one range per type, so `and(ge(p,a),
/// lt(p,b))` reads the ids between a and b rather than everything above a and everything below b.
/// A twin holds one value at a path (arrays aside, which are candidates anyway), so the
/// intersection of two lookups is the intersection of their number ranges and of their string
/// ranges.
fn merge_ranges(plans: Vec<IndexPlan>) -> Vec<IndexPlan> {
    let mut merged: Vec<Ranges> = Vec::new();
    let mut rest = Vec::new();
    for p in plans {
        match ranges_of(&p) {
            Some(r) => match merged.iter_mut().find(|m| m.path == r.path) {
                Some(m) => {
                    m.number = match (m.number, r.number) {
                        (Some(a), Some(b)) => Some((a.0.max(b.0), a.1.min(b.1))),
                        _ => None,
                    };
                    m.text = match (m.text.take(), r.text) {
                        (Some(a), Some(b)) => {
                            Some((tighter(a.0, b.0, false), tighter(a.1, b.1, true)))
                        }
                        _ => None,
                    };
                }
                None => merged.push(r),
            },
            None => rest.push(p),
        }
    }
    for m in merged {
        let mut lookups = Vec::new();
        if let Some((min, max)) = m.number.filter(|(min, max)| min <= max) {
            lookups.push(Lookup::Number {
                path: m.path.clone(),
                min,
                max,
            });
        }
        if let Some((min, max)) = m.text {
            lookups.push(Lookup::Text {
                path: m.path,
                min,
                max,
            });
        }
        rest.push(if lookups.is_empty() {
            IndexPlan::Nothing
        } else {
            IndexPlan::Lookup(lookups)
        });
    }
    rest
}

/// The index path of a thing field (`None` for placeholders).
fn path_of(field: &FilterField) -> Option<String> {
    match field {
        FilterField::Thing(p) => pointer_path("", p),
        _ => None,
    }
}

fn pointer_path(prefix: &str, p: &Pointer) -> Option<String> {
    if p.keys().is_empty() {
        return None;
    }
    let rest = p.keys().join("/");
    Some(if prefix.is_empty() {
        rest
    } else {
        format!("{prefix}/{rest}")
    })
}

/// `Some(Some(path))`: look it up; `Some(None)`: never exists; `None`: scan.
fn exists_path(field: &ExistsField) -> Option<Option<String>> {
    Some(Some(match field {
        ExistsField::Simple(name) => (*name).to_owned(),
        ExistsField::Hidden => return Some(None),
        ExistsField::Attribute(p) => {
            if p.keys().is_empty() {
                "attributes".to_owned()
            } else {
                pointer_path("attributes", p)?
            }
        }
        ExistsField::Feature(f) => format!("features/{f}"),
        ExistsField::FeatureDefinition(f) => format!("features/{f}/definition"),
        ExistsField::FeatureProperties(f) => format!("features/{f}/properties"),
        ExistsField::FeatureDesiredProperties(f) => format!("features/{f}/desiredProperties"),
        ExistsField::FeatureProperty(f, p) => pointer_path(&format!("features/{f}/properties"), p)?,
        ExistsField::FeatureDesiredProperty(f, p) => {
            pointer_path(&format!("features/{f}/desiredProperties"), p)?
        }
        ExistsField::Metadata(_) | ExistsField::Placeholder { .. } | ExistsField::Unresolved => {
            return None
        }
    }))
}

fn compare(path: &str, op: CmpOp, value: &Literal) -> IndexPlan {
    let (number, text): (Option<f64>, Option<String>) = match value {
        Literal::Num(n) => (n.text.parse::<f64>().ok(), Some(n.text.to_string())),
        Literal::Str(s) => (
            s.dec.as_ref().and_then(|_| s.text.parse::<f64>().ok()),
            Some(s.text.to_string()),
        ),
        Literal::Bool(b) if op == CmpOp::Eq => {
            return IndexPlan::Lookup(vec![Lookup::Bool {
                path: path.to_owned(),
                value: *b,
            }])
        }
        _ => return IndexPlan::Scan,
    };
    let mut lookups = Vec::new();
    if let Some(n) = number.filter(|n| n.is_finite()) {
        let (min, max) = match op {
            CmpOp::Eq => (n, n),
            CmpOp::Gt | CmpOp::Ge => (n, f64::INFINITY),
            CmpOp::Lt | CmpOp::Le => (f64::NEG_INFINITY, n),
            CmpOp::Ne => return IndexPlan::Scan,
        };
        lookups.push(Lookup::Number {
            path: path.to_owned(),
            min,
            max,
        });
    }
    if let Some(t) = text {
        let bound = |inclusive| {
            Some(TextBound {
                value: t.clone(),
                inclusive,
            })
        };
        let (min, max) = match op {
            CmpOp::Eq => (bound(true), bound(true)),
            CmpOp::Gt => (bound(false), None),
            CmpOp::Ge => (bound(true), None),
            CmpOp::Lt => (None, bound(false)),
            CmpOp::Le => (None, bound(true)),
            CmpOp::Ne => return IndexPlan::Scan,
        };
        lookups.push(Lookup::Text {
            path: path.to_owned(),
            min,
            max,
        });
    }
    IndexPlan::Lookup(lookups)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rql::parse;

    fn plan_of(f: &str) -> IndexPlan {
        parse(f).unwrap().index_plan()
    }

    #[test]
    fn eq_on_a_number_looks_in_the_number_and_the_string_index() {
        assert_eq!(
            plan_of("eq(attributes/a/b,5)"),
            IndexPlan::Lookup(vec![
                Lookup::Number {
                    path: "attributes/a/b".into(),
                    min: 5.0,
                    max: 5.0
                },
                Lookup::Text {
                    path: "attributes/a/b".into(),
                    min: Some(TextBound {
                        value: "5".into(),
                        inclusive: true
                    }),
                    max: Some(TextBound {
                        value: "5".into(),
                        inclusive: true
                    }),
                },
            ])
        );
    }

    #[test]
    fn negations_and_like_scan_but_an_and_is_narrowed_by_its_indexable_part() {
        assert_eq!(plan_of("ne(attributes/a,1)"), IndexPlan::Scan);
        assert_eq!(plan_of("not(eq(attributes/a,1))"), IndexPlan::Scan);
        assert_eq!(plan_of("like(thingId,'a*')"), IndexPlan::Scan);
        assert_eq!(
            plan_of("or(eq(attributes/a,true),like(thingId,'a*'))"),
            IndexPlan::Scan
        );
        assert_eq!(
            plan_of("and(eq(attributes/a,true),like(thingId,'a*'))"),
            IndexPlan::And(vec![IndexPlan::Lookup(vec![Lookup::Bool {
                path: "attributes/a".into(),
                value: true
            }])])
        );
    }

    #[test]
    fn an_and_of_ranges_on_one_path_reads_one_range() {
        let bound = |v: &str, inclusive| {
            Some(TextBound {
                value: v.into(),
                inclusive,
            })
        };
        assert_eq!(
            plan_of("and(ge(attributes/n,10),lt(attributes/n,20),exists(attributes/m))"),
            IndexPlan::And(vec![
                IndexPlan::Lookup(vec![Lookup::Exists {
                    path: "attributes/m".into()
                }]),
                IndexPlan::Lookup(vec![
                    Lookup::Number {
                        path: "attributes/n".into(),
                        min: 10.0,
                        max: 20.0
                    },
                    Lookup::Text {
                        path: "attributes/n".into(),
                        min: bound("10", true),
                        max: bound("20", false),
                    },
                ]),
            ])
        );
        // A string literal leaves no number in the intersection.
        assert_eq!(
            plan_of("and(ge(attributes/s,\"b\"),le(attributes/s,\"d\"))"),
            IndexPlan::And(vec![IndexPlan::Lookup(vec![Lookup::Text {
                path: "attributes/s".into(),
                min: bound("b", true),
                max: bound("d", true),
            }])])
        );
    }

    #[test]
    fn exists_on_a_feature_property_looks_up_its_path() {
        assert_eq!(
            plan_of("exists(features/f/properties/x)"),
            IndexPlan::Lookup(vec![Lookup::Exists {
                path: "features/f/properties/x".into()
            }])
        );
    }
}
