//! `--only like`: the worst case of `like`/`ilike` filter evaluation at the limits chosen for hostile
//! input (issue 19), measured in-process on the same code the hub runs for every signal: filters
//! that spend the whole budget of pattern characters, as the most comparisons allowed or as the
//! longest patterns allowed, matched against an attribute as large as a thing may be. What a
//! subscriber at the limits costs a hub per signal of a thing it receives, and what compiling such
//! a filter costs a START.

use serde_json::{json, Value};
use std::borrow::Cow;
use std::time::{Duration, Instant};
use twinwire_common::rql::{
    self, PlaceholderSource, MAX_LIKE_CHARS_PER_FILTER, MAX_LIKE_PATTERNS, MAX_LIKE_PATTERN_CHARS,
};

/// The hub's default `limits.thing_bytes`; the attribute leaves room for the rest of the thing.
const THING_BYTES: usize = 102_400;
const ATTRIBUTE_BYTES: usize = THING_BYTES - 400;

/// Evaluations per case after the first; their median is reported, and the first apart.
const RUNS: usize = 15;

/// The two ways to spend the budget: the most comparisons, or the longest patterns.
fn shapes() -> [(usize, usize); 2] {
    [
        (
            MAX_LIKE_PATTERNS,
            MAX_LIKE_CHARS_PER_FILTER / MAX_LIKE_PATTERNS,
        ),
        (
            MAX_LIKE_CHARS_PER_FILTER / MAX_LIKE_PATTERN_CHARS,
            MAX_LIKE_PATTERN_CHARS,
        ),
    ]
}

/// Pattern families that are slow for one matcher or another, each `n` characters long: the
/// backtracking matcher this replaced took O(text × pattern) on the first two.
fn patterns(n: usize) -> Vec<(&'static str, String)> {
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
        (
            "star-window-star",
            format!("*a{}*", "?".repeat(300.min(n - 3))),
        ),
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

/// The slowest case seen for one figure: its time and its name.
#[derive(Default)]
struct Worst {
    time: Duration,
    case: String,
}

impl Worst {
    fn note(&mut self, time: Duration, case: impl FnOnce() -> String) {
        if time > self.time {
            (self.time, self.case) = (time, case());
        }
    }
}

/// Runs every case and returns the figures; prints one line per case and the worst.
pub fn measure() -> Value {
    let ctx = NoPlaceholders;
    let mut cases = Vec::new();
    let (mut eval, mut first, mut compile) = (Worst::default(), Worst::default(), Worst::default());
    for (count, chars) in shapes() {
        for (family, pattern) in patterns(chars) {
            for op in ["like", "ilike"] {
                let name = format!("{count}x{chars} {family} {op}");
                let clause = format!("{op}(attributes/big,'{pattern}')");
                // All comparisons on the large attribute. `or` stops at the first match and `and`
                // at the first miss, so each value gets the form that evaluates them all.
                let all_of = |combinator: &str| {
                    format!("{combinator}({})", vec![clause.as_str(); count].join(","))
                };
                let started = Instant::now();
                let filters = match (rql::parse(&all_of("or")), rql::parse(&all_of("and"))) {
                    (Ok(or), Ok(and)) => (or, and),
                    (Err(e), _) | (_, Err(e)) => {
                        println!("like {name:40} refused at START: {}", e.message);
                        cases.push(json!({"case": name, "refused": e.message}));
                        continue;
                    }
                };
                let compiled = started.elapsed() / 2;
                compile.note(compiled, || name.clone());
                for (vname, value) in values() {
                    let thing =
                        json!({"thingId": "org.attacker:big", "attributes": {"big": value}});
                    let combinator = if filters.0.matches(&thing, &ctx) {
                        "and"
                    } else {
                        "or"
                    };
                    let filter = if combinator == "and" {
                        &filters.1
                    } else {
                        &filters.0
                    };
                    // A fresh filter, so the first evaluation pays for building the automata's
                    // caches, as the first signal after a START does.
                    let fresh = rql::parse(&all_of(combinator)).expect("parsed before");
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
                        "like {name:40} value {vname:6}: {:.2} ms per signal (median; first {:.2} ms), \
                         compile {:.2} ms",
                        ms(med),
                        ms(cold),
                        ms(compiled)
                    );
                    eval.note(med, || format!("{name} on {vname}"));
                    first.note(cold, || format!("{name} on {vname}"));
                    cases.push(
                        json!({"case": name, "value": vname, "eval_median_ms": ms(med),
                        "eval_first_ms": ms(cold), "compile_ms": ms(compiled)}),
                    );
                }
            }
        }
    }
    println!(
        "like worst case: {:.2} ms per signal ({}), {:.2} ms for the first signal ({}); compiling a \
         filter at most {:.2} ms ({}); limits: {MAX_LIKE_PATTERNS} comparisons, \
         {MAX_LIKE_PATTERN_CHARS} characters a pattern, {MAX_LIKE_CHARS_PER_FILTER} a filter, a \
         {ATTRIBUTE_BYTES}-byte value",
        ms(eval.time),
        eval.case,
        ms(first.time),
        first.case,
        ms(compile.time),
        compile.case
    );
    json!({
        "limits": {"like_patterns": MAX_LIKE_PATTERNS, "pattern_chars": MAX_LIKE_PATTERN_CHARS,
            "filter_pattern_chars": MAX_LIKE_CHARS_PER_FILTER, "value_bytes": ATTRIBUTE_BYTES},
        "worst_eval_ms": ms(eval.time), "worst_eval_case": eval.case,
        "worst_first_eval_ms": ms(first.time), "worst_first_eval_case": first.case,
        "worst_compile_ms": ms(compile.time), "worst_compile_case": compile.case,
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
