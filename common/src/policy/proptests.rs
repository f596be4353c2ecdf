//! Randomized tests: random policies (grants and revokes at random paths for random subjects) and random
//! JSON, checked against a deliberately naive evaluator written here. The evaluator knows no trie: it
//! re-derives every answer from the raw entries by simulating the weighted grant/revoke maps of Ditto's
//! `TrieBasedPolicyEnforcer` literally (inherited weights decremented per level and overridden by each
//! level's own grants/revokes; grants or revokes of descendants pushed up with weights incremented per
//! level; a set of subjects allowed when its best grant weight beats its best revoke weight), path by path.

use super::*;
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use std::collections::{BTreeSet, HashMap};

const KEYS: [&str; 3] = ["a", "b", "c"];
const SUBJECT_COUNT: u32 = 4;
const PERMS: [Permission; 2] = [Permission::Read, Permission::Write];

fn subject_name(i: u32) -> String {
    format!("s:{i}")
}

// ---- the naive evaluator ----

type Path = Vec<String>;
/// subject → weight
type Weights = HashMap<u32, i64>;

struct Naive {
    /// (subject, type-prefixed path, permission, is grant)
    defs: Vec<(u32, Path, Permission, bool)>,
    /// Every prefix of every resource path (the root `[]` included).
    nodes: BTreeSet<Path>,
}

impl Naive {
    fn new(policy: &Policy) -> Naive {
        let mut defs = Vec::new();
        let mut nodes = BTreeSet::new();
        nodes.insert(Vec::new());
        for entry in policy.entries() {
            // PolicyEnforcers.defaultEvaluator ignores entries without subjects or resources.
            if entry.subjects().is_empty() || entry.resources().is_empty() {
                continue;
            }
            for resource in entry.resources() {
                let mut path = vec![resource.key().resource_type().to_owned()];
                path.extend(resource.key().path().iter().cloned());
                for len in 0..=path.len() {
                    nodes.insert(path[..len].to_vec());
                }
                for subject in entry.subjects() {
                    let s: u32 = subject.id()[2..].parse().expect("test subjects are s:<n>");
                    for p in PERMS {
                        if resource.grants(p) {
                            defs.push((s, path.clone(), p, true));
                        }
                        if resource.revokes(p) {
                            defs.push((s, path.clone(), p, false));
                        }
                    }
                }
            }
        }
        Naive { defs, nodes }
    }

    fn raw(&self, node: &[String], p: Permission, grant: bool) -> Vec<u32> {
        self.defs
            .iter()
            .filter(|d| d.1 == node && d.2 == p && d.3 == grant)
            .map(|d| d.0)
            .collect()
    }

    /// The transitive closure at `node` (which must be a node).
    fn inherited(&self, node: &[String], p: Permission) -> (Weights, Weights) {
        let (mut g, mut r) = (Weights::new(), Weights::new());
        for depth in 0..=node.len() {
            let prefix = &node[..depth];
            g.values_mut().for_each(|w| *w -= 1);
            r.values_mut().for_each(|w| *w -= 1);
            let (rg, rr) = (self.raw(prefix, p, true), self.raw(prefix, p, false));
            for s in &rg {
                g.insert(*s, 0);
            }
            for s in &rr {
                g.remove(s);
            }
            for s in &rg {
                r.remove(s);
            }
            for s in &rr {
                r.insert(*s, 0);
            }
        }
        (g, r)
    }

    fn children(&self, node: &[String]) -> Vec<Path> {
        self.nodes
            .iter()
            .filter(|n| n.len() == node.len() + 1 && n.starts_with(node))
            .cloned()
            .collect()
    }

    fn bottom_up_grant(&self, node: &[String], p: Permission) -> (Weights, Weights) {
        let (mut g, r) = self.inherited(node, p);
        for child in self.children(node) {
            for (s, w) in self.bottom_up_grant(&child, p).0 {
                let e = g.entry(s).or_insert(w + 1);
                *e = (*e).max(w + 1);
            }
        }
        let r = r.into_iter().filter(|(s, _)| !g.contains_key(s)).collect();
        (g, r)
    }

    fn bottom_up_revoke(&self, node: &[String], p: Permission) -> (Weights, Weights) {
        let (g, mut r) = self.inherited(node, p);
        for child in self.children(node) {
            for (s, w) in self.bottom_up_revoke(&child, p).1 {
                let e = r.entry(s).or_insert(w + 1);
                *e = (*e).max(w + 1);
            }
        }
        (g, r)
    }

    fn least_ancestor(&self, path: &[String]) -> Path {
        (0..=path.len())
            .rev()
            .map(|l| path[..l].to_vec())
            .find(|p| self.nodes.contains(p))
            .unwrap_or_default()
    }

    fn allowed((g, r): &(Weights, Weights), subjects: &[u32]) -> bool {
        let best = |m: &Weights| subjects.iter().filter_map(|s| m.get(s).copied()).max();
        match (best(g), best(r)) {
            (Some(gw), Some(rw)) => rw < gw,
            (Some(_), None) => true,
            _ => false,
        }
    }

    fn unrestricted(&self, subjects: &[u32], path: &[String], p: Permission) -> bool {
        if self.nodes.contains(path) {
            Naive::allowed(&self.bottom_up_revoke(path, p), subjects)
        } else {
            Naive::allowed(&self.inherited(&self.least_ancestor(path), p), subjects)
        }
    }

    fn partial(&self, subjects: &[u32], path: &[String], p: Permission) -> bool {
        if self.nodes.contains(path) {
            Naive::allowed(&self.bottom_up_grant(path, p), subjects)
        } else {
            Naive::allowed(&self.inherited(&self.least_ancestor(path), p), subjects)
        }
    }

    /// `buildJsonView`'s per-value verdict: the inherited maps of the nearest node at or above the value.
    fn readable_at(&self, subjects: &[u32], path: &[String]) -> bool {
        Naive::allowed(
            &self.inherited(&self.least_ancestor(path), Permission::Read),
            subjects,
        )
    }

    fn view(&self, subjects: &[u32], path: &Path, value: &Value) -> Option<Value> {
        let here = self.readable_at(subjects, path);
        match value {
            Value::Object(m) => {
                let mut out = Map::new();
                for (k, v) in m {
                    let mut child = path.clone();
                    child.push(k.clone());
                    if let Some(x) = self.view(subjects, &child, v) {
                        out.insert(k.clone(), x);
                    }
                }
                (!out.is_empty() || here).then_some(Value::Object(out))
            }
            // Array items are judged at the array's own path.
            Value::Array(a) => {
                let items: Vec<Value> = a
                    .iter()
                    .filter_map(|x| self.view(subjects, path, x))
                    .collect();
                (!items.is_empty() || here).then_some(Value::Array(items))
            }
            other => here.then(|| other.clone()),
        }
    }

    /// Keeps the fields some reader can read alone; leaves are scalars, arrays, null and `{}`.
    fn event_filter(
        &self,
        readers: &[u32],
        path: &Path,
        m: &Map<String, Value>,
        at_root: bool,
    ) -> Map<String, Value> {
        let mut out = Map::new();
        for (k, v) in m {
            let mut child = path.clone();
            child.push(k.clone());
            if at_root && ALWAYS_VISIBLE_THING_FIELDS.contains(&k.as_str()) {
                out.insert(k.clone(), v.clone());
                continue;
            }
            match v {
                Value::Object(sub) if !sub.is_empty() => {
                    let f = self.event_filter(readers, &child, sub, false);
                    if !f.is_empty() {
                        out.insert(k.clone(), Value::Object(f));
                    }
                }
                _ => {
                    if readers.iter().any(|s| self.readable_at(&[*s], &child)) {
                        out.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        out
    }

    fn event_view(&self, subjects: &[u32], path: &[String], value: Option<&Value>) -> EventView {
        let root = vec!["thing".to_owned()];
        let readers: Vec<u32> = subjects
            .iter()
            .copied()
            .filter(|s| self.partial(&[*s], &root, Permission::Read))
            .collect();
        if readers.is_empty() {
            return EventView::Hidden;
        }
        if readers
            .iter()
            .any(|s| self.unrestricted(&[*s], &root, Permission::Read))
        {
            return EventView::Full;
        }
        let mut full_path = root.clone();
        full_path.extend(path.iter().cloned());
        match value {
            Some(Value::Object(m)) if m.is_empty() => EventView::Full,
            Some(Value::Object(m)) => {
                let f = self.event_filter(&readers, &full_path, m, path.is_empty());
                if f.is_empty() {
                    EventView::Hidden
                } else if &f == m {
                    EventView::Full
                } else {
                    EventView::Partial(Value::Object(f))
                }
            }
            _ => {
                if readers.iter().any(|s| self.readable_at(&[*s], &full_path)) {
                    EventView::Full
                } else {
                    EventView::Hidden
                }
            }
        }
    }

    /// `getSubjectsWithPermission` + `isAuthorized`.
    fn live(&self, subjects: &[u32], path: &[String]) -> bool {
        let (g, r) = self.inherited(&self.least_ancestor(path), Permission::Read);
        subjects.iter().any(|s| g.contains_key(s)) && !subjects.iter().any(|s| r.contains_key(s))
    }
}

// ---- strategies ----

fn path_strategy(max: usize) -> impl Strategy<Value = Path> {
    prop::collection::vec(
        prop::sample::select(&KEYS[..]).prop_map(String::from),
        0..=max,
    )
}

/// A resource: type, path, granted and revoked permission bits (1 = READ, 2 = WRITE).
type ResourceSpec = (&'static str, Path, u8, u8);
/// An entry: its subjects and resources.
type EntrySpec = (BTreeSet<u32>, Vec<ResourceSpec>);

fn entry_strategy() -> impl Strategy<Value = EntrySpec> {
    // Short paths and few keys make entries overlap, so grants and revokes meet on the same paths.
    let resource = (
        prop::sample::select(&["thing", "thing", "thing", "policy"][..]),
        path_strategy(2),
        0u8..4,
        0u8..4,
    );
    (
        prop::collection::btree_set(0..SUBJECT_COUNT, 0..=2),
        prop::collection::vec(resource, 0..=3),
    )
}

fn policy_json(entries: &[EntrySpec]) -> Value {
    let names = |bits: u8| {
        let mut v = Vec::new();
        if bits & 1 != 0 {
            v.push("READ");
        }
        if bits & 2 != 0 {
            v.push("WRITE");
        }
        v
    };
    let mut out = Map::new();
    for (i, (subjects, resources)) in entries.iter().enumerate() {
        let subjects: Map<String, Value> = subjects
            .iter()
            .map(|s| (subject_name(*s), json!({"type": "t"})))
            .collect();
        let resources: Map<String, Value> = resources
            .iter()
            .map(|(t, path, g, r)| {
                (
                    format!("{t}:/{}", path.join("/")),
                    json!({"grant": names(*g), "revoke": names(*r)}),
                )
            })
            .collect();
        out.insert(
            format!("e{i}"),
            json!({"subjects": subjects, "resources": resources}),
        );
    }
    json!({ "entries": out })
}

fn json_strategy() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        (0i64..100).prop_map(|i| json!(i)),
        Just(Value::Null),
        Just(json!({})),
        Just(json!("x")),
    ];
    leaf.prop_recursive(3, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(&KEYS[..]).prop_map(String::from),
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn thing_strategy() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(
        prop::sample::select(&KEYS[..]).prop_map(String::from),
        json_strategy(),
        0..4,
    )
    .prop_map(|m| {
        let mut o: Map<String, Value> = Map::new();
        o.insert("thingId".into(), json!("ns:t"));
        o.extend(m);
        Value::Object(o)
    })
}

fn session_strategy() -> impl Strategy<Value = BTreeSet<u32>> {
    // SUBJECT_COUNT stands for a subject the policy never names.
    prop::collection::btree_set(0..=SUBJECT_COUNT, 1..=3)
}

fn setup(entries: &[EntrySpec]) -> (Policy, Enforcer, Naive) {
    let policy =
        Policy::from_json("ns:p", &policy_json(entries)).expect("generated policies are valid");
    let enforcer = Enforcer::new(&policy);
    let naive = Naive::new(&policy);
    (policy, enforcer, naive)
}

fn names(session: &BTreeSet<u32>) -> Vec<String> {
    session.iter().map(|s| subject_name(*s)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn permission_checks_match_the_naive_evaluator(
        entries in prop::collection::vec(entry_strategy(), 1..=5),
        session in session_strategy(),
        rtype in prop::sample::select(&["thing", "policy", "message"][..]),
        path in path_strategy(4),
    ) {
        let (_, enforcer, naive) = setup(&entries);
        let ids: Vec<u32> = session.iter().copied().collect();
        let mut full = vec![rtype.to_owned()];
        full.extend(path.iter().cloned());
        let path_str = format!("/{}", path.join("/"));
        for p in PERMS {
            prop_assert_eq!(enforcer.has_unrestricted(&names(&session), rtype, &path_str, p),
                            naive.unrestricted(&ids, &full, p), "unrestricted {:?} {}", p, path_str);
            prop_assert_eq!(enforcer.has_partial(&names(&session), rtype, &path_str, p),
                            naive.partial(&ids, &full, p), "partial {:?} {}", p, path_str);
        }
        prop_assert_eq!(enforcer.can_receive_live(&names(&session), rtype, &path_str), naive.live(&ids, &full));
        for p in PERMS {
            let partial: Vec<String> = (0..SUBJECT_COUNT).filter(|s| naive.partial(&[*s], &full, p)).map(subject_name).collect();
            let mut got = enforcer.subjects_with_partial(rtype, &path_str, p);
            got.sort();
            prop_assert_eq!(got, partial);
            let unrestricted: Vec<String> =
                (0..SUBJECT_COUNT).filter(|s| naive.unrestricted(&[*s], &full, p)).map(subject_name).collect();
            let mut got = enforcer.subjects_with_unrestricted(rtype, &path_str, p);
            got.sort();
            prop_assert_eq!(got, unrestricted);
        }
    }

    #[test]
    fn readable_views_match_the_naive_evaluator(
        entries in prop::collection::vec(entry_strategy(), 1..=5),
        session in session_strategy(),
        thing in thing_strategy(),
        path in path_strategy(2),
    ) {
        let (_, enforcer, naive) = setup(&entries);
        let ids: Vec<u32> = session.iter().copied().collect();
        let value = if path.is_empty() { thing.clone() } else { thing.pointer(&format!("/{}", path.join("/"))).cloned().unwrap_or(json!({"a": 1})) };
        let mut full = vec!["thing".to_owned()];
        full.extend(path.iter().cloned());
        let path_str = format!("/{}", path.join("/"));
        prop_assert_eq!(enforcer.readable_view(&names(&session), "thing", &path_str, &value), naive.view(&ids, &full, &value));
    }

    #[test]
    fn event_views_match_the_naive_evaluator(
        entries in prop::collection::vec(entry_strategy(), 1..=5),
        session in session_strategy(),
        payload in prop_oneof![thing_strategy().prop_map(Some), json_strategy().prop_map(Some), Just(None)],
        path in path_strategy(2),
    ) {
        let (_, enforcer, naive) = setup(&entries);
        let ids: Vec<u32> = session.iter().copied().collect();
        let path_str = format!("/{}", path.join("/"));
        let got = enforcer.event_view(&names(&session), &path_str, payload.as_ref());
        prop_assert_eq!(&got, &naive.event_view(&ids, &path, payload.as_ref()));
        // The audience shortcut gives the same answer as the per-session call.
        let audience = enforcer.event_audience(&names(&session));
        prop_assert_eq!(enforcer.event_view_for(&audience, &path_str, payload.as_ref()), got);
    }

    #[test]
    fn policies_survive_a_json_round_trip(entries in prop::collection::vec(entry_strategy(), 0..=5)) {
        let policy = Policy::from_json("ns:p", &policy_json(&entries)).expect("valid");
        prop_assert_eq!(Policy::from_json("ns:p", &policy.to_json()).expect("still valid"), policy);
    }
}
