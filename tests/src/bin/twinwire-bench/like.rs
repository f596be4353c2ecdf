//! `--only like`: the worst case of `like`/`ilike` filter evaluation at the limits chosen for hostile
//! input (issue 19), measured in-process on the same code the hub runs for every signal: a filter
//! with the most like comparisons allowed, each with a pattern of the longest length allowed, matched
//! against an attribute as large as a thing may be. What a subscriber at the limits costs a hub per
//! signal of a thing it receives, and what compiling such a filter costs a START.

use serde_json::{json, Value};
use std::borrow::Cow;
use std::time::{Duration, Instant};
use twinwire_common::rql::{self, PlaceholderSource, MAX_LIKE_PATTERNS, MAX_LIKE_PATTERN_CHARS};

/// The hub's default `limits.thing_bytes`; the attribute leaves room for the rest of the thing.
const THING_BYTES: usize = 102_400;
const ATTRIBUTE_BYTES: usize = THING_BYTES - 400;

/// Evaluations per case after the first; their median is reported, and the first apart.
const RUNS: usize = 15;

/// Pattern families that are slow for one matcher or another, each `MAX_LIKE_PATTERN_CHARS` long:
/// the backtracking matcher this replaced took O(text × pattern) on the first two.
fn patterns() -> Vec<(&'static str, String)> {
    let n = MAX_LIKE_PATTERN_CHARS;
    vec![
        ("star-literal", format!("*{}b", "a".repeat(n - 2))),
        ("star-per-char", format!("{}b", "*a".repeat((n - 1) / 2))),
        (
            "star-repeated-pair-star",
            format!("*{}*", "ab".repeat((n - 2) / 2)),
        ),
        (
            "star-any-literal",
            format!("*{}a", "?a".repeat((n - 2) / 2)),
        ),
        (
            "literal-star-literal",
            format!("{}*{}", "a".repeat(n / 2), "a".repeat(n / 2 - 1)),
        ),
        // An exponential DFA (`.*a.{k}.*`): the lazy DFA's cache fills and is rebuilt. The longest
        // window that compiles is a few hundred characters; longer ones are refused at START.
        ("star-window-star", format!("*a{}*", "?".repeat(300))),
        ("star-window-full", format!("*a{}*", "?".repeat(n - 3))),
    ]
}

/// Attribute values of `ATTRIBUTE_BYTES` that keep those patterns busy.
fn values() -> Vec<(&'static str, String)> {
    let n = ATTRIBUTE_BYTES;
    vec![
        ("a*", "a".repeat(n)),
        ("ab*", "ab".repeat(n / 2)),
        (
            "mixed",
            (0..n)
                .map(|i| char::from(b'a' + ((i * 7919) % 3) as u8))
                .collect(),
        ),
    ]
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

/// Runs every case and returns the figures; prints one line per case and the worst.
pub fn measure() -> Value {
    let ctx = NoPlaceholders;
    let mut cases = Vec::new();
    let (mut worst_eval, mut worst_eval_case) = (Duration::ZERO, String::new());
    let (mut worst_compile, mut worst_compile_case) = (Duration::ZERO, String::new());
    let (mut worst_cold, mut worst_cold_case) = (Duration::ZERO, String::new());
    for (pname, pattern) in patterns() {
        for op in ["like", "ilike"] {
            let clause = format!("{op}(attributes/big,'{pattern}')");
            // The most comparisons allowed, all on the large attribute. `or` stops at the first
            // match and `and` at the first miss, so each value gets the form that evaluates all.
            let all_of = |combinator: &str| {
                format!(
                    "{combinator}({})",
                    [clause.as_str(); MAX_LIKE_PATTERNS].join(",")
                )
            };
            let started = Instant::now();
            let filters = match (rql::parse(&all_of("or")), rql::parse(&all_of("and"))) {
                (Ok(or), Ok(and)) => (or, and),
                (Err(e), _) | (_, Err(e)) => {
                    println!("like {pname:24} {op:5} refused at START: {}", e.message);
                    cases.push(json!({"pattern": pname, "op": op, "refused": e.message}));
                    continue;
                }
            };
            let compile = started.elapsed() / 2;
            if compile > worst_compile {
                (worst_compile, worst_compile_case) = (compile, format!("{pname} {op}"));
            }
            for (vname, value) in values() {
                let thing = json!({"thingId": "org.attacker:big", "attributes": {"big": value}});
                let filter = if filters.0.matches(&thing, &ctx) {
                    &filters.1
                } else {
                    &filters.0
                };
                // A fresh filter, so the first evaluation pays for building the automata's
                // caches, as the first signal after a START does.
                let fresh = rql::parse(&all_of(if std::ptr::eq(filter, &filters.1) {
                    "and"
                } else {
                    "or"
                }))
                .expect("parsed before");
                let t = Instant::now();
                std::hint::black_box(fresh.matches(&thing, &ctx));
                let cold = t.elapsed();
                let mut runs = Vec::with_capacity(RUNS);
                for _ in 0..RUNS {
                    let t = Instant::now();
                    std::hint::black_box(filter.matches(&thing, &ctx));
                    runs.push(t.elapsed());
                }
                let med = median(runs);
                println!(
                    "like {pname:24} {op:5} value {vname:6}: {MAX_LIKE_PATTERNS} comparisons \
                     evaluate in {:.2} ms (median; first {:.2} ms), compile {:.2} ms",
                    ms(med),
                    ms(cold),
                    ms(compile)
                );
                if med > worst_eval {
                    (worst_eval, worst_eval_case) = (med, format!("{pname} {op} on {vname}"));
                }
                if cold > worst_cold {
                    (worst_cold, worst_cold_case) = (cold, format!("{pname} {op} on {vname}"));
                }
                cases.push(json!({"pattern": pname, "op": op, "value": vname,
                    "eval_median_ms": ms(med), "eval_first_ms": ms(cold), "compile_ms": ms(compile)}));
            }
        }
    }
    println!(
        "like worst case: {:.2} ms per signal ({worst_eval_case}), {:.2} ms for the first signal \
         ({worst_cold_case}); compiling a filter at most {:.2} ms ({worst_compile_case}); limits: \
         {MAX_LIKE_PATTERNS} comparisons of {MAX_LIKE_PATTERN_CHARS} characters, a \
         {ATTRIBUTE_BYTES}-byte value",
        ms(worst_eval),
        ms(worst_cold),
        ms(worst_compile)
    );
    json!({
        "limits": {"like_patterns": MAX_LIKE_PATTERNS, "pattern_chars": MAX_LIKE_PATTERN_CHARS,
            "value_bytes": ATTRIBUTE_BYTES},
        "worst_eval_ms": ms(worst_eval), "worst_eval_case": worst_eval_case,
        "worst_first_eval_ms": ms(worst_cold), "worst_first_eval_case": worst_cold_case,
        "worst_compile_ms": ms(worst_compile), "worst_compile_case": worst_compile_case,
        "cases": cases,
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// These filters use no placeholders.
struct NoPlaceholders;

impl PlaceholderSource for NoPlaceholders {
    fn placeholder(&self, _prefix: &str, _name: &str) -> Option<Cow<'_, str>> {
        None
    }
}
