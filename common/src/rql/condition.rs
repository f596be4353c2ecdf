//! RQL as the `condition` header carries it (reference ditto-features §1): parsed in the two steps
//! Ditto takes, because they fail with different errors. Enforcement parses the syntax only
//! (`RqlPredicateParser`, failing with `things:condition.invalid`) and collects the field names the
//! condition reads (`FieldNamesPredicateVisitor`), on which the requester needs READ; only then
//! does the thing's persistence validate the names (`QueryFilterCriteriaFactory`, failing with
//! `rql.expression.invalid`) and evaluate the condition against the thing.
//!
//! Conditions know only the `time:` placeholder: `topic:`, `entity:` and the other placeholders a
//! subscription filter may name are unknown property names here.

use super::ast::{self, Filter};
use super::parse::{self, RawNode};
use super::{PlaceholderSource, RqlError};

/// Placeholder prefixes a subscription filter accepts as properties but a condition does not.
const FILTER_ONLY_PREFIXES: &[&str] = &["topic:", "entity:", "resource:", "thing:", "feature:"];

/// A condition whose syntax is valid, with the field names it reads; its names are not validated
/// yet (see [`ParsedCondition::compile`]).
#[derive(Debug, Clone)]
pub struct ParsedCondition {
    raw: RawNode,
    fields: Vec<String>,
}

/// A condition ready to evaluate.
#[derive(Debug, Clone)]
pub struct Condition {
    filter: Filter,
}

/// Step one: the syntax, as Ditto's enforcement parses it. The error carries the parser's message,
/// which Ditto puts into the description of `things:condition.invalid`.
pub fn parse_condition(input: &str) -> Result<ParsedCondition, RqlError> {
    let raw = parse::parse(input)?;
    let mut fields = Vec::new();
    collect_fields(&raw, &mut fields);
    fields.sort();
    fields.dedup();
    Ok(ParsedCondition { raw, fields })
}

fn collect_fields(node: &RawNode, out: &mut Vec<String>) {
    match node {
        RawNode::Single { property, .. } | RawNode::In { property, .. } => {
            out.push(property.clone())
        }
        RawNode::Exists(property) | RawNode::Empty(property) => out.push(property.clone()),
        RawNode::And(children) | RawNode::Or(children) => {
            children.iter().for_each(|c| collect_fields(c, out))
        }
        RawNode::Not(child) => collect_fields(child, out),
    }
}

impl ParsedCondition {
    /// Every field name the condition reads, as written (`attributes/a`), sorted and unique: the
    /// `thing:` resources the requester must be allowed to READ without restriction.
    pub fn fields(&self) -> &[String] {
        &self.fields
    }

    /// Step two: the names, as Ditto's persistence validates them (`Unknown property name: <x>`).
    pub fn compile(&self) -> Result<Condition, RqlError> {
        if let Some(f) = self
            .fields
            .iter()
            .find(|f| FILTER_ONLY_PREFIXES.iter().any(|p| f.starts_with(p)))
        {
            return Err(RqlError {
                message: format!("Unknown property name: {f}"),
            });
        }
        Ok(Condition {
            filter: ast::compile(self.raw.clone())?,
        })
    }
}

impl Condition {
    /// Whether the condition holds for `thing` (the thing JSON with its `_revision`, `_modified`,
    /// `_created` and `_namespace`); `ctx` supplies `time:now`.
    pub fn matches(&self, thing: &serde_json::Value, ctx: &dyn PlaceholderSource) -> bool {
        self.filter.matches(thing, ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rql::MapPlaceholders;
    use serde_json::json;

    #[test]
    fn the_fields_a_condition_reads_are_collected_from_every_node() {
        let c = parse_condition(
            "and(eq(attributes/a,1),or(not(exists(features/f)),in(_revision,1,2)),gt(attributes/a,0))",
        )
        .unwrap();
        assert_eq!(c.fields(), ["_revision", "attributes/a", "features/f"]);
    }

    #[test]
    fn syntax_errors_fail_the_parse_and_unknown_names_only_the_compile() {
        assert!(parse_condition("eq(attributes/a,1").is_err());
        let unknown = parse_condition("eq(foo,1)").unwrap();
        assert_eq!(unknown.fields(), ["foo"]);
        assert_eq!(
            unknown.compile().unwrap_err().message,
            "Unknown property name: foo"
        );
        let placeholder = parse_condition("eq(topic:action,'modified')").unwrap();
        assert_eq!(
            placeholder.compile().unwrap_err().message,
            "Unknown property name: topic:action"
        );
    }

    #[test]
    fn a_condition_evaluates_against_the_thing_with_time_now() {
        let ctx = MapPlaceholders::new(
            chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
                .unwrap()
                .into(),
        );
        let thing =
            json!({"thingId": "a:b", "attributes": {"a": 1}, "_modified": "2025-12-31T00:00:00Z"});
        let check = |s: &str| {
            parse_condition(s)
                .unwrap()
                .compile()
                .unwrap()
                .matches(&thing, &ctx)
        };
        assert!(check("eq(attributes/a,1)"));
        assert!(!check("eq(attributes/a,0)"));
        assert!(check("lt(_modified,time:now)"));
        assert!(!check("gt(_modified,time:now)"));
    }
}
