//! Filter properties (reference §4.2): which names Ditto accepts (`ThingsFieldExpressionFactoryImpl`,
//! `FieldExpressionUtil`), and how each is looked up in the synthetic Thing JSON the way Ditto's JSON
//! model does (`getValueFlatteningArrays`, Thing model accessors).

use serde_json::{Map, Value};

/// A JSON pointer parsed like Ditto's `ImmutableJsonPointer.ofParsed`: split on `/`, empty segments
/// dropped, `~0` decoded to `~` (`~1` is *not* decoded). A pointer with `//` makes Ditto throw when it
/// is used; it is kept as `invalid` and aborts evaluation only where Ditto would parse it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pointer {
    keys: Box<[Box<str>]>,
    invalid: bool,
}

impl Pointer {
    pub(crate) fn parse(s: &str) -> Pointer {
        if s.contains("//") {
            return Pointer {
                keys: Box::new([]),
                invalid: true,
            };
        }
        Pointer {
            keys: s
                .split('/')
                .filter(|k| !k.is_empty())
                .map(|k| k.replace("~0", "~").into_boxed_str())
                .collect(),
            invalid: false,
        }
    }

    pub(crate) fn is_invalid(&self) -> bool {
        self.invalid
    }

    pub(crate) fn keys(&self) -> &[Box<str>] {
        &self.keys
    }
}

/// Placeholders Ditto registers as filter fields for WebSocket sessions (`StreamingSessionActor
/// .parseCriteria`): each name in a placeholder's `getSupportedNames()` becomes a valid property.
/// `time:` and `header:` support no fixed names, so `time:now` or `header:x` as a *property* is an
/// unknown property name (the docs say otherwise; the code decides).
const RESOLVED_PLACEHOLDERS: &[(&str, &[&str])] = &[
    (
        "topic",
        &[
            "full",
            "namespace",
            "entityName",
            "group",
            "channel",
            "criterion",
            "action",
            "subject",
            "action-subject",
        ],
    ),
    ("entity", &["id", "namespace", "name"]),
    ("resource", &["type", "path"]),
];

/// Accepted as properties but never resolved when a WebSocket filter is evaluated (no resolver is
/// passed for them in `StreamingSession`), so they behave as missing.
const UNRESOLVED_PLACEHOLDERS: &[(&str, &[&str])] = &[
    ("thing", &["id", "namespace", "name"]),
    ("feature", &["id"]),
];

/// Top-level Thing fields Ditto maps by name. The second element says whether the field is HIDDEN in
/// Ditto's Thing JSON: `exists`/`empty` look at `thing.toJson()`, which leaves hidden fields out.
const SIMPLE_FIELDS: &[(&str, bool)] = &[
    ("thingId", false),
    ("policyId", false),
    ("definition", false),
    ("_namespace", true),
    ("_revision", true),
    ("_created", true),
    ("_modified", true),
    ("_metadata", true),
];

/// The value side of `eq`, `ne`, `gt`, `ge`, `lt`, `le`, `like`, `ilike`, `in`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FilterField {
    /// A path from the Thing root, looked up with array flattening.
    Thing(Pointer),
    /// `topic:`, `resource:`, `entity:` from the signal. Ditto's Thing model cannot hold a top-level
    /// `topic:action` key, so its "Thing first" lookup never hits and is skipped here.
    Placeholder {
        prefix: &'static str,
        name: &'static str,
    },
    /// `thing:` / `feature:` placeholders: valid syntax, never a value.
    Unresolved,
}

/// The target of `exists` / `empty`, one variant per Ditto `ExistsFieldExpression`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ExistsField {
    /// A top-level field present in `thing.toJson()`.
    Simple(&'static str),
    /// A HIDDEN top-level field: never present for `exists`/`empty` (Ditto quirk, kept).
    Hidden,
    Placeholder {
        prefix: &'static str,
        name: &'static str,
    },
    Unresolved,
    Attribute(Pointer),
    Metadata(Pointer),
    /// Feature variants hold the feature ID as written: Ditto looks it up by exact key, without
    /// pointer decoding.
    Feature(Box<str>),
    FeatureDefinition(Box<str>),
    FeatureProperties(Box<str>),
    FeatureDesiredProperties(Box<str>),
    FeatureProperty(Box<str>, Pointer),
    FeatureDesiredProperty(Box<str>, Pointer),
}

fn unknown(name: &str) -> String {
    format!("Unknown property name: {name}")
}

/// Java regex `.` (no DOTALL) stops at these, so `(?<property>.+)` cannot span them.
fn has_line_terminator(s: &str) -> bool {
    s.contains(['\n', '\r', '\u{85}', '\u{2028}', '\u{2029}'])
}

/// `FieldExpressionUtil.FeatureField`: the first of Ditto's feature patterns that fully matches.
enum FeatureField<'a> {
    Property(&'a str, &'a str),
    DesiredProperty(&'a str, &'a str),
    Properties(&'a str),
    DesiredProperties(&'a str),
    Definition(&'a str),
    Feature(&'a str),
}

fn feature_field(name: &str) -> Option<FeatureField<'_>> {
    let rest = name.strip_prefix("features/")?;
    // `(?<featureId>[^/]++)`: at least one character, up to the next slash.
    let (id, after) = match rest.split_once('/') {
        Some((id, after)) => (id, Some(after)),
        None => (rest, None),
    };
    if id.is_empty() {
        return None;
    }
    let Some(after) = after else {
        return Some(FeatureField::Feature(id));
    };
    let sub_path = |prefix: &str| {
        after
            .strip_prefix(prefix)
            .filter(|p| !p.is_empty() && !has_line_terminator(p))
    };
    if let Some(p) = sub_path("properties/") {
        return Some(FeatureField::Property(id, p));
    }
    if let Some(p) = sub_path("desiredProperties/") {
        return Some(FeatureField::DesiredProperty(id, p));
    }
    match after {
        "properties" | "properties/" => Some(FeatureField::Properties(id)),
        "desiredProperties" | "desiredProperties/" => Some(FeatureField::DesiredProperties(id)),
        "definition" | "definition/" => Some(FeatureField::Definition(id)),
        _ => None,
    }
}

fn find_placeholder(
    table: &[(&'static str, &'static [&'static str])],
    name: &str,
) -> Option<(&'static str, &'static str)> {
    let (prefix, rest) = name.split_once(':')?;
    table
        .iter()
        .find(|(p, _)| *p == prefix)
        .and_then(|(p, names)| names.iter().find(|n| **n == rest).map(|n| (*p, *n)))
}

/// `ThingsFieldExpressionFactoryImpl.common`: what remains once feature paths are ruled out.
enum Common<'a> {
    Attribute(&'a str),
    Metadata(&'a str),
    Simple(&'static str, bool),
    Placeholder(&'static str, &'static str),
    Unresolved,
}

fn common(name: &str) -> Result<Common<'_>, String> {
    if let Some(key) = name.strip_prefix("attributes/") {
        return Ok(Common::Attribute(key));
    }
    if let Some(key) = name.strip_prefix("_metadata/") {
        return Ok(Common::Metadata(key));
    }
    if let Some((field, hidden)) = SIMPLE_FIELDS.iter().find(|(f, _)| *f == name) {
        return Ok(Common::Simple(field, *hidden));
    }
    if let Some((prefix, n)) = find_placeholder(RESOLVED_PLACEHOLDERS, name) {
        return Ok(Common::Placeholder(prefix, n));
    }
    if find_placeholder(UNRESOLVED_PLACEHOLDERS, name).is_some() {
        return Ok(Common::Unresolved);
    }
    Err(unknown(name))
}

/// Ditto strips exactly one leading slash ("a leading `/` is optional").
fn strip_slash(property: &str) -> &str {
    property.strip_prefix('/').unwrap_or(property)
}

/// `filterBy`: the property of a comparison, `like` or `in`. Error text is Ditto's.
pub(crate) fn filter_field(property: &str) -> Result<FilterField, String> {
    let name = strip_slash(property);
    let pointer = match feature_field(name) {
        Some(FeatureField::Definition(id)) => format!("/features/{id}/definition"),
        Some(FeatureField::Property(id, p)) => format!("/features/{id}/properties/{p}"),
        Some(FeatureField::DesiredProperty(id, p)) => {
            format!("/features/{id}/desiredProperties/{p}")
        }
        _ => match common(name)? {
            Common::Attribute(key) => format!("/attributes/{key}"),
            Common::Metadata(key) => format!("_metadata/{key}"),
            Common::Simple(field, _) => format!("/{field}"),
            Common::Placeholder(prefix, name) => {
                return Ok(FilterField::Placeholder { prefix, name })
            }
            Common::Unresolved => return Ok(FilterField::Unresolved),
        },
    };
    Ok(FilterField::Thing(Pointer::parse(&pointer)))
}

/// `existsBy`: the property of `exists` and `empty`, where bare features and their property maps are
/// allowed too.
pub(crate) fn exists_field(property: &str) -> Result<ExistsField, String> {
    let name = strip_slash(property);
    Ok(match feature_field(name) {
        Some(FeatureField::Property(id, p)) => {
            ExistsField::FeatureProperty(id.into(), Pointer::parse(p))
        }
        Some(FeatureField::DesiredProperty(id, p)) => {
            ExistsField::FeatureDesiredProperty(id.into(), Pointer::parse(p))
        }
        Some(FeatureField::Properties(id)) => ExistsField::FeatureProperties(id.into()),
        Some(FeatureField::DesiredProperties(id)) => {
            ExistsField::FeatureDesiredProperties(id.into())
        }
        Some(FeatureField::Definition(id)) => ExistsField::FeatureDefinition(id.into()),
        Some(FeatureField::Feature(id)) => ExistsField::Feature(id.into()),
        None => match common(name)? {
            Common::Attribute(key) => ExistsField::Attribute(Pointer::parse(key)),
            Common::Metadata(key) => ExistsField::Metadata(Pointer::parse(key)),
            Common::Simple(_, true) => ExistsField::Hidden,
            Common::Simple(field, false) => ExistsField::Simple(field),
            Common::Placeholder(prefix, name) => ExistsField::Placeholder { prefix, name },
            Common::Unresolved => ExistsField::Unresolved,
        },
    })
}

/// What `getValueFlatteningArrays` returns, reduced to what `exists`/`empty` need.
pub(crate) enum Flat<'a> {
    Missing,
    /// Reached without passing through an array.
    One(&'a Value),
    /// Collected through an array: Ditto returns a new, non-empty array of the hits.
    Many,
}

/// `getValueFlatteningArrays` on `root` (an object): at every level but the last, an array is replaced
/// by its object elements (non-object elements, nested arrays included, are skipped).
pub(crate) fn flat_lookup<'a>(root: &'a Value, keys: &[Box<str>]) -> Flat<'a> {
    match keys {
        [] => Flat::One(root),
        [key] => root.get(&**key).map_or(Flat::Missing, Flat::One),
        [key, rest @ ..] => match root.get(&**key) {
            Some(v @ Value::Object(_)) => flat_lookup(v, rest),
            Some(Value::Array(items)) => {
                let hit = items
                    .iter()
                    .filter(|v| v.is_object())
                    .any(|v| !matches!(flat_lookup(v, rest), Flat::Missing));
                if hit {
                    Flat::Many
                } else {
                    Flat::Missing
                }
            }
            _ => Flat::Missing,
        },
    }
}

/// Visits the same values `getValueFlatteningArrays` collects, in Ditto's order, until `visit`
/// returns `Ok(true)`.
pub(crate) fn any_flat_hit<'a, E>(
    root: &'a Value,
    keys: &[Box<str>],
    visit: &mut impl FnMut(&'a Value) -> Result<bool, E>,
) -> Result<bool, E> {
    match keys {
        [] => visit(root),
        [key] => match root.get(&**key) {
            Some(v) => visit(v),
            None => Ok(false),
        },
        [key, rest @ ..] => match root.get(&**key) {
            Some(v @ Value::Object(_)) => any_flat_hit(v, rest, visit),
            Some(Value::Array(items)) => {
                for item in items.iter().filter(|v| v.is_object()) {
                    if any_flat_hit(item, rest, visit)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            _ => Ok(false),
        },
    }
}

/// `getValue` without flattening (metadata): only objects are descended.
pub(crate) fn plain_lookup<'a>(root: &'a Value, keys: &[Box<str>]) -> Option<&'a Value> {
    keys.iter().try_fold(root, |v, k| v.as_object()?.get(&**k))
}

/// `isJsonValueEmpty`: null, "", [] and {} are empty; numbers and booleans never are.
pub(crate) fn is_json_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Bool(_) | Value::Number(_) => false,
    }
}

/// `thing.getFeatures().flatMap(f -> f.getFeature(id))`.
pub(crate) fn feature<'a>(thing: &'a Map<String, Value>, id: &str) -> Option<&'a Value> {
    thing.get("features")?.as_object()?.get(id)
}

/// A Feature's definition as Ditto's model holds it: present unless absent or null.
pub(crate) fn feature_definition(feature: &Value) -> Option<&Value> {
    feature.get("definition").filter(|d| !d.is_null())
}

/// A Feature's `properties` / `desiredProperties` object.
pub(crate) fn feature_object<'a>(feature: &'a Value, key: &str) -> Option<&'a Value> {
    feature.get(key).filter(|v| v.is_object())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keys(p: &Pointer) -> Vec<&str> {
        p.keys().iter().map(|k| &**k).collect()
    }

    #[test]
    fn pointers_parse_like_dittos_json_pointer() {
        assert_eq!(
            keys(&Pointer::parse("/attributes/a/b")),
            ["attributes", "a", "b"]
        );
        assert_eq!(keys(&Pointer::parse("a/b/")), ["a", "b"]);
        assert_eq!(keys(&Pointer::parse("")), Vec::<&str>::new());
        assert_eq!(keys(&Pointer::parse("/")), Vec::<&str>::new());
        assert_eq!(keys(&Pointer::parse("a~0b/c~1d")), ["a~b", "c~1d"]);
        assert!(Pointer::parse("/attributes//a").is_invalid());
        assert!(!Pointer::parse("/attributes/a").is_invalid());
    }

    #[test]
    fn filter_field_names_follow_ditto() {
        let ok = [
            "thingId",
            "/thingId",
            "policyId",
            "definition",
            "_namespace",
            "_revision",
            "_created",
            "_modified",
            "_metadata",
            "_metadata/attributes/x",
            "attributes/a",
            "/attributes/a/b/c",
            "attributes/",
            "features/f/properties/p",
            "features/f/properties/p/q",
            "features/f/desiredProperties/p",
            "features/f/definition",
            "features/f/definition/",
            "topic:action",
            "topic:action-subject",
            "resource:path",
            "entity:namespace",
            "thing:id",
            "feature:id",
        ];
        for name in ok {
            assert!(
                filter_field(name).is_ok(),
                "{name} should be a valid filter property"
            );
        }
        let unknown = [
            ("features/f", "features/f"),
            ("features/f/properties", "features/f/properties"),
            ("features/f/properties/", "features/f/properties/"),
            (
                "features/f/desiredProperties",
                "features/f/desiredProperties",
            ),
            ("features//properties/p", "features//properties/p"),
            ("features/f/definition/x", "features/f/definition/x"),
            ("features/f/other", "features/f/other"),
            ("features", "features"),
            ("attributes", "attributes"),
            ("//attributes/a", "/attributes/a"),
            ("foo", "foo"),
            ("thingId/x", "thingId/x"),
            ("time:now", "time:now"),
            ("header:correlation-id", "header:correlation-id"),
            ("topic:unknown", "topic:unknown"),
            ("Topic:action", "Topic:action"),
            ("", ""),
            (" thingId", " thingId"),
            ("features/f/properties/a\nb", "features/f/properties/a\nb"),
        ];
        for (name, shown) in unknown {
            assert_eq!(
                filter_field(name),
                Err(format!("Unknown property name: {shown}")),
                "{name:?}"
            );
        }
    }

    #[test]
    fn exists_accepts_features_and_property_maps() {
        assert_eq!(
            exists_field("features/f"),
            Ok(ExistsField::Feature("f".into()))
        );
        assert_eq!(
            exists_field("/features/f/properties"),
            Ok(ExistsField::FeatureProperties("f".into()))
        );
        assert_eq!(
            exists_field("features/f/desiredProperties/"),
            Ok(ExistsField::FeatureDesiredProperties("f".into()))
        );
        assert_eq!(
            exists_field("features/f/definition"),
            Ok(ExistsField::FeatureDefinition("f".into()))
        );
        assert_eq!(exists_field("_revision"), Ok(ExistsField::Hidden));
        assert_eq!(exists_field("thingId"), Ok(ExistsField::Simple("thingId")));
        assert_eq!(
            exists_field("topic:action"),
            Ok(ExistsField::Placeholder {
                prefix: "topic",
                name: "action"
            })
        );
        assert_eq!(
            exists_field("features"),
            Err("Unknown property name: features".to_owned())
        );
    }

    #[test]
    fn flattening_descends_into_object_elements_of_arrays() {
        let v = json!({"a": [{"b": 1}, {"b": [2, 3]}, 4, [{"b": 5}], {"c": 6}], "o": {"b": ""}});
        let ptr = Pointer::parse("a/b");
        let mut seen = Vec::new();
        let _ = any_flat_hit::<()>(&v, ptr.keys(), &mut |x| {
            seen.push(x.clone());
            Ok(false)
        });
        assert_eq!(seen, [json!(1), json!([2, 3])]);
        assert!(matches!(flat_lookup(&v, ptr.keys()), Flat::Many));
        assert!(matches!(
            flat_lookup(&v, Pointer::parse("o/b").keys()),
            Flat::One(_)
        ));
        assert!(matches!(
            flat_lookup(&v, Pointer::parse("a/z").keys()),
            Flat::Missing
        ));
        assert_eq!(plain_lookup(&v, Pointer::parse("a/b").keys()), None);
    }
}
