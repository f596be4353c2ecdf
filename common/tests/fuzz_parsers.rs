//! Property-based fuzzing of every parser that reads client input: the WebSocket frame (control frame
//! or envelope), headers, topics, RQL filters, field selectors and JSON pointers. Inputs are generated
//! from scratch and mutated from valid seeds (including the nesting and repetition bombs of issue 19);
//! each case must finish without a panic, without overflowing the stack, and within a generous bound
//! that only catches a stall. Anything a parser accepts is then used the way the gateway and hub use
//! it (filters evaluated, selectors applied, envelopes written back out), which must not panic either.
//!
//! `make test` runs a few cases per property (`PROPTEST_CASES`, default below); `make fuzz` runs many.

use proptest::prelude::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use twinwire_common::protocol::{parse_control, Envelope, Headers, Topic};
use twinwire_common::rql::{self, MapPlaceholders};
use twinwire_common::things::{FieldSelector, Pointer, ThingResource};

/// Cases per property when `PROPTEST_CASES` is not set: enough to catch a regression, short enough
/// for every test run.
const DEFAULT_CASES: u32 = 48;

/// Far above what any bounded parser needs for inputs of the sizes generated here (milliseconds),
/// far below the seconds the quadratic and recursive paths took.
const STALL: Duration = Duration::from_secs(2);

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    ProptestConfig {
        cases,
        // Shrinking a stall repeats it many times; the failing input is printed either way.
        max_shrink_iters: 64,
        ..ProptestConfig::default()
    }
}

fn bounded<T>(what: &str, input: &str, f: impl FnOnce() -> T) -> Result<T, TestCaseError> {
    let started = Instant::now();
    let out = f();
    let took = started.elapsed();
    if took > STALL {
        let head: String = input.chars().take(120).collect();
        return Err(TestCaseError::fail(format!(
            "{what} took {took:?} on {} bytes starting {head:?}",
            input.len()
        )));
    }
    Ok(out)
}

// ---- inputs ----

/// Valid inputs of each parser, which mutations start from.
const FILTERS: &[&str] = &[
    "and(in(topic:action,'created','modified'),gt(attributes/temp,20))",
    "or(like(attributes/name,'*abc?'),ilike(thingId,\"ns:*\"),not(exists(features/f)))",
    "eq(features/f/properties/p/x,\"it's\")",
    "lt(_modified,time:now-1h[h])",
    "empty(attributes/tags)",
];
const SELECTORS: &[&str] = &[
    "thingId,attributes(model,make)",
    "features(f1/properties(a,b),f2)",
    "features/*/properties/unit,_revision",
];
const POINTERS: &[&str] = &[
    "/attributes/a/b",
    "/features/f/properties/p",
    "/",
    "/inbox/messages/hello",
];
const TOPICS: &[&str] = &[
    "ns/t/things/twin/commands/modify",
    "ns/t/things/live/messages/ask/x",
    "_/_/things/twin/search/subscribe",
    "ns/p/policies/commands/create",
];
const FRAMES: &[&str] = &[
    r#"{"topic":"ns/t/things/twin/commands/modify","headers":{"correlation-id":"c","Content-Type":"application/json"},"path":"/attributes/a","value":{"x":[1,2,{"y":null}]}}"#,
    r#"{"topic":"ns/t/things/live/messages/ask","headers":{"timeout":"5","response-required":false},"path":"/inbox/messages/ask","value":"hi","status":200}"#,
    "START-SEND-EVENTS?filter=eq(attributes/a,1)&namespaces=ns,other&extraFields=attributes(a,b)",
    "STOP-SEND-MESSAGES",
    "JWT-TOKEN?jwtToken=abc.def.ghi",
];

/// Characters that matter to some parser: brackets, separators, quotes, escapes, wildcards.
const SPECIAL: &[char] = &[
    '(', ')', ',', '"', '\'', '\\', '/', '*', '?', '{', '}', '[', ']', ':', '=', '&', '%', ' ',
    '~', '\u{FFFF}', '\u{2028}', 'é', '😀', '\0',
];

#[derive(Debug, Clone)]
enum Mutation {
    Insert(usize, char),
    Delete(usize, usize),
    /// Repeats a slice of the input `n` times in place: nesting and length bombs.
    Repeat(usize, usize, usize),
    /// Wraps the whole input in `n` copies of a prefix and suffix: `not(`…`)`, `a(`…`)`, `{"a":`…`}`.
    Wrap(&'static str, &'static str, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), prop::sample::select(SPECIAL)).prop_map(|(i, c)| Mutation::Insert(i, c)),
        2 => (any::<usize>(), 1usize..8).prop_map(|(i, n)| Mutation::Delete(i, n)),
        2 => (any::<usize>(), 1usize..12, 1usize..5_000).prop_map(|(i, n, k)| Mutation::Repeat(i, n, k)),
        1 => (prop::sample::select(&[
            ("not(", ")"), ("and(", ")"), ("a(", ")"), ("{\"a\":", "}"), ("[", "]"), ("/a", ""), ("(", ""),
        ][..]), 1usize..6_000)
            .prop_map(|((p, s), n)| Mutation::Wrap(p, s, n)),
    ]
}

fn char_index(s: &str, i: usize) -> usize {
    let n = s.chars().count();
    if n == 0 {
        return 0;
    }
    s.char_indices()
        .nth(i % (n + 1))
        .map_or(s.len(), |(b, _)| b)
}

fn apply(mut s: String, mutations: &[Mutation]) -> String {
    for m in mutations {
        match *m {
            Mutation::Insert(i, c) => {
                let at = char_index(&s, i);
                s.insert(at, c);
            }
            Mutation::Delete(i, n) => {
                let from = char_index(&s, i);
                let to = s[from..]
                    .char_indices()
                    .nth(n)
                    .map_or(s.len(), |(b, _)| from + b);
                s.replace_range(from..to, "");
            }
            Mutation::Repeat(i, n, k) => {
                let from = char_index(&s, i);
                let to = s[from..]
                    .char_indices()
                    .nth(n)
                    .map_or(s.len(), |(b, _)| from + b);
                let piece = s[from..to].repeat(k);
                s.replace_range(from..to, &piece);
            }
            Mutation::Wrap(prefix, suffix, n) => {
                s = format!("{}{s}{}", prefix.repeat(n), suffix.repeat(n));
            }
        }
        // Keep inputs within what a 10 MB frame could carry, and the run quick.
        if s.len() > 256 * 1024 {
            let mut end = 256 * 1024;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            s.truncate(end);
        }
    }
    s
}

/// A valid seed with up to four mutations, or a string from scratch over the special characters.
fn input(seeds: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (prop::sample::select(seeds), prop::collection::vec(mutation(), 0..4))
            .prop_map(|(seed, ms)| apply(seed.to_owned(), &ms)),
        1 => prop::collection::vec(
            prop_oneof![prop::sample::select(SPECIAL), any::<char>(), Just('a'), Just('e')],
            0..200
        )
        .prop_map(|cs| cs.into_iter().collect()),
    ]
}

fn sample_thing() -> Value {
    json!({"thingId": "ns:t", "policyId": "ns:p", "_revision": 3,
        "attributes": {"a": 1, "name": "abcabc", "tags": [], "b": {"c": [{"x": "y"}]}},
        "features": {"f": {"properties": {"p": {"x": "it's"}}}, "f1": {"properties": {"a": 1, "unit": "C"}}}})
}

// ---- properties ----

proptest! {
    #![proptest_config(config())]

    #[test]
    fn rql_filters_never_panic_or_stall(text in input(FILTERS)) {
        let thing = sample_thing();
        let ctx = MapPlaceholders::new(chrono::Utc::now()).with("topic", "action", "modified");
        bounded("rql::parse and evaluation", &text, || {
            if let Ok(filter) = rql::parse(&text) {
                let _ = filter.matches(&thing, &ctx);
            }
        })?;
    }

    #[test]
    fn field_selectors_never_panic_or_stall(text in input(SELECTORS)) {
        let thing = sample_thing();
        bounded("FieldSelector::parse and apply", &text, || {
            if let Ok(selector) = FieldSelector::parse(&text) {
                let _ = selector.apply(&thing);
            }
        })?;
    }

    #[test]
    fn pointers_and_paths_never_panic_or_stall(text in input(POINTERS)) {
        bounded("Pointer and ThingResource", &text, || {
            if let Ok(p) = Pointer::parse_bounded(&text) {
                let mut v = sample_thing();
                p.set(&mut v, json!(1));
                let _ = p.get(&v);
                let _ = p.remove(&mut v);
            }
            let _ = ThingResource::parse(&text);
        })?;
    }

    #[test]
    fn topics_never_panic_or_stall(text in input(TOPICS)) {
        let _ = bounded("Topic::parse", &text, || Topic::parse(&text).map(|t| t.to_string()))?;
    }

    #[test]
    fn frames_never_panic_or_stall(text in input(FRAMES)) {
        bounded("frame parsing", &text, || match parse_control(&text) {
            Some(_) => {}
            None => {
                if let Ok(env) = Envelope::parse(&text) {
                    let _ = Topic::parse(&env.topic);
                    let _ = env.headers.for_response();
                    let again = Envelope::parse(&env.to_json_string());
                    assert!(again.is_ok(), "an accepted envelope must read back: {again:?}");
                }
            }
        })?;
    }

    #[test]
    fn header_objects_never_panic_or_stall(
        names in prop::collection::vec("[a-zA-Z-]{0,6}", 0..3_000),
        value in prop_oneof![Just(json!("")), Just(json!(1)), Just(json!({"a": [1, "x"]})), "[ -~]{0,64}".prop_map(Value::from)],
    ) {
        let mut map = serde_json::Map::new();
        for n in &names {
            map.insert(n.clone(), value.clone());
        }
        let text = json!({"topic": "ns/t/things/twin/commands/retrieve", "path": "/", "headers": map}).to_string();
        bounded("headers", &text, || {
            let _ = Envelope::parse(&text);
            // The trusted path (bus records) builds the same map without limits, also in linear time.
            let _: Result<Headers, _> = serde_json::from_value(Value::Object(map));
        })?;
    }
}
