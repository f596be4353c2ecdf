//! Table-driven tests of every policy rule: permission inheritance (grant/revoke, levels, subjects),
//! readable views, retrieve views, event views, model validation and its Ditto errors, serialization, the
//! default policy, the policy-writer rule, namespaces, references, live-signal visibility and v1 ACLs.

use super::*;
use crate::error::DittoError;
use serde_json::{json, Map, Value};

// ---- helpers ----

/// One rule = one entry: subject, resource key, `G`rant or `R`evoke, permission.
type Rule<'a> = (&'a str, &'a str, char, &'a str);

/// (what, rules, session subjects, resource, permission, unrestricted?, partial?)
type CheckRow<'a> = (
    &'a str,
    &'a [Rule<'a>],
    &'a [&'a str],
    &'a str,
    &'a str,
    bool,
    bool,
);

/// (what, session subjects, event path, payload, expected view)
type EventRow<'a> = (&'a str, &'a [&'a str], &'a str, Option<Value>, EventView);

fn policy_of(rules: &[Rule]) -> Policy {
    let mut entries = Map::new();
    for (i, (subject, key, effect, perm)) in rules.iter().enumerate() {
        let (grant, revoke) = if *effect == 'G' {
            (vec![*perm], vec![])
        } else {
            (vec![], vec![*perm])
        };
        entries.insert(
            format!("e{i}"),
            json!({
                "subjects": { *subject: { "type": "test" } },
                "resources": { *key: { "grant": grant, "revoke": revoke } }
            }),
        );
    }
    Policy::from_json("ns:p", &json!({ "entries": entries })).expect("test policy is valid")
}

fn enforcer_of(rules: &[Rule]) -> Enforcer {
    Enforcer::new(&policy_of(rules))
}

fn subjects(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

fn split(key: &str) -> (&str, &str) {
    key.split_once(':').expect("test key has a type")
}

fn perm(p: &str) -> Permission {
    Permission::parse(p).expect("test permission is known")
}

// ---- permission checks ----

#[test]
fn permission_checks_follow_dittos_grant_and_revoke_inheritance() {
    let rows: &[CheckRow] = &[
        (
            "a grant on thing:/ holds on thing:/",
            &[("s:a", "thing:/", 'G', "READ")],
            &["s:a"],
            "thing:/",
            "READ",
            true,
            true,
        ),
        (
            "a grant is inherited downwards",
            &[("s:a", "thing:/", 'G', "READ")],
            &["s:a"],
            "thing:/attributes/x/y",
            "READ",
            true,
            true,
        ),
        (
            "a grant does not reach upwards",
            &[("s:a", "thing:/attributes", 'G', "READ")],
            &["s:a"],
            "thing:/",
            "READ",
            false,
            true,
        ),
        (
            "a grant does not reach siblings",
            &[("s:a", "thing:/attributes", 'G', "READ")],
            &["s:a"],
            "thing:/features",
            "READ",
            false,
            false,
        ),
        (
            "READ does not imply WRITE",
            &[("s:a", "thing:/", 'G', "READ")],
            &["s:a"],
            "thing:/",
            "WRITE",
            false,
            false,
        ),
        (
            "WRITE does not imply READ",
            &[("s:a", "thing:/", 'G', "WRITE")],
            &["s:a"],
            "thing:/",
            "READ",
            false,
            false,
        ),
        (
            "resource types are independent",
            &[("s:a", "thing:/", 'G', "READ")],
            &["s:a"],
            "policy:/",
            "READ",
            false,
            false,
        ),
        (
            "an unknown subject holds nothing",
            &[("s:a", "thing:/", 'G', "READ")],
            &["s:b"],
            "thing:/",
            "READ",
            false,
            false,
        ),
        (
            "no subjects hold nothing",
            &[("s:a", "thing:/", 'G', "READ")],
            &[],
            "thing:/",
            "READ",
            false,
            false,
        ),
        (
            "a revoke on a sub path removes it there",
            &[
                ("s:a", "thing:/", 'G', "READ"),
                ("s:a", "thing:/attributes/secret", 'R', "READ"),
            ],
            &["s:a"],
            "thing:/attributes/secret",
            "READ",
            false,
            false,
        ),
        (
            "a revoke on a sub path removes it below",
            &[
                ("s:a", "thing:/", 'G', "READ"),
                ("s:a", "thing:/attributes/secret", 'R', "READ"),
            ],
            &["s:a"],
            "thing:/attributes/secret/deeper",
            "READ",
            false,
            false,
        ),
        (
            "a revoke below makes the parent partial, not unrestricted",
            &[
                ("s:a", "thing:/", 'G', "READ"),
                ("s:a", "thing:/attributes/secret", 'R', "READ"),
            ],
            &["s:a"],
            "thing:/attributes",
            "READ",
            false,
            true,
        ),
        (
            "a revoke on a sub path leaves siblings unrestricted",
            &[
                ("s:a", "thing:/", 'G', "READ"),
                ("s:a", "thing:/attributes/secret", 'R', "READ"),
            ],
            &["s:a"],
            "thing:/attributes/public",
            "READ",
            true,
            true,
        ),
        (
            "a grant and a revoke at the same level: the revoke wins",
            &[
                ("s:a", "thing:/attributes", 'G', "READ"),
                ("s:a", "thing:/attributes", 'R', "READ"),
            ],
            &["s:a"],
            "thing:/attributes",
            "READ",
            false,
            false,
        ),
        (
            "a revoke higher up loses to a grant lower down on the lower path",
            &[
                ("s:a", "thing:/", 'R', "READ"),
                ("s:a", "thing:/features/x", 'G', "READ"),
            ],
            &["s:a"],
            "thing:/features/x/properties",
            "READ",
            true,
            true,
        ),
        (
            "a revoke higher up still holds above the lower grant",
            &[
                ("s:a", "thing:/", 'R', "READ"),
                ("s:a", "thing:/features/x", 'G', "READ"),
            ],
            &["s:a"],
            "thing:/",
            "READ",
            false,
            true,
        ),
        (
            "a grant higher up loses to a revoke lower down",
            &[
                ("s:a", "thing:/", 'G', "WRITE"),
                ("s:a", "thing:/policyId", 'R', "WRITE"),
            ],
            &["s:a"],
            "thing:/policyId",
            "WRITE",
            false,
            false,
        ),
        (
            "a grant below a revoke below a grant re-opens the deepest part",
            &[
                ("s:a", "thing:/", 'G', "READ"),
                ("s:a", "thing:/attributes", 'R', "READ"),
                ("s:a", "thing:/attributes/open", 'G', "READ"),
            ],
            &["s:a"],
            "thing:/attributes/open/x",
            "READ",
            true,
            true,
        ),
        (
            "a revoke of another subject at the same node beats a grant",
            &[
                ("s:a", "thing:/attributes", 'G', "READ"),
                ("s:b", "thing:/attributes", 'R', "READ"),
            ],
            &["s:a", "s:b"],
            "thing:/attributes",
            "READ",
            false,
            false,
        ),
        (
            "subjects combine: the deepest node naming any of them decides",
            &[
                ("s:a", "thing:/", 'R', "READ"),
                ("s:b", "thing:/attributes", 'G', "READ"),
            ],
            &["s:a", "s:b"],
            "thing:/attributes",
            "READ",
            true,
            true,
        ),
        (
            "subjects combine: a deeper revoke of one subject beats a grant of another",
            &[
                ("s:a", "thing:/", 'G', "READ"),
                ("s:b", "thing:/attributes", 'R', "READ"),
            ],
            &["s:a", "s:b"],
            "thing:/attributes",
            "READ",
            false,
            false,
        ),
        (
            "a revoke below of a subject without any grant blocks unrestricted for the session",
            &[
                ("s:a", "thing:/", 'G', "READ"),
                ("s:b", "thing:/attributes/x", 'R', "READ"),
            ],
            &["s:a", "s:b"],
            "thing:/",
            "READ",
            false,
            true,
        ),
        (
            "another session's revoke does not matter",
            &[
                ("s:a", "thing:/", 'G', "READ"),
                ("s:b", "thing:/attributes/x", 'R', "READ"),
            ],
            &["s:a"],
            "thing:/",
            "READ",
            true,
            true,
        ),
        (
            "a grant revoked for the same subject at the same node is not partial",
            &[
                ("s:a", "thing:/a/b", 'G', "READ"),
                ("s:a", "thing:/a/b", 'R', "READ"),
            ],
            &["s:a"],
            "thing:/a",
            "READ",
            false,
            false,
        ),
        (
            "a grant below counts as partial even under a revoke",
            &[
                ("s:a", "thing:/", 'R', "READ"),
                ("s:a", "thing:/a/b/c", 'G', "READ"),
            ],
            &["s:a"],
            "thing:/a",
            "READ",
            false,
            true,
        ),
        (
            "a path below the policy's nodes inherits the deepest one",
            &[
                ("s:a", "thing:/a", 'G', "READ"),
                ("s:a", "thing:/a/b", 'R', "READ"),
            ],
            &["s:a"],
            "thing:/a/c/d/e",
            "READ",
            true,
            true,
        ),
        (
            "EXECUTE is a permission of its own",
            &[("s:a", "policy:/entries/x/actions", 'G', "EXECUTE")],
            &["s:a"],
            "policy:/entries/x/actions/activateTokenIntegration",
            "EXECUTE",
            true,
            true,
        ),
        (
            "an unknown permission grants nothing",
            &[("s:a", "thing:/", 'G', "FLY")],
            &["s:a"],
            "thing:/",
            "READ",
            false,
            false,
        ),
        (
            "message resources work like the others",
            &[("s:a", "message:/inbox", 'G', "WRITE")],
            &["s:a"],
            "message:/inbox/messages/x",
            "WRITE",
            true,
            true,
        ),
        (
            "message:/inbox does not cover feature messages",
            &[("s:a", "message:/inbox", 'G', "WRITE")],
            &["s:a"],
            "message:/features/f/inbox/messages/x",
            "WRITE",
            false,
            false,
        ),
    ];
    for (what, rules, session, key, p, unrestricted, partial) in rows {
        let e = enforcer_of(rules);
        let (rtype, path) = split(key);
        let s = subjects(session);
        assert_eq!(
            e.has_unrestricted(&s, rtype, path, perm(p)),
            *unrestricted,
            "unrestricted: {what}"
        );
        assert_eq!(
            e.has_partial(&s, rtype, path, perm(p)),
            *partial,
            "partial: {what}"
        );
    }
}

#[test]
fn a_grant_and_a_revoke_in_one_entry_revoke() {
    let p = Policy::from_json(
        "ns:p",
        &json!({"entries": {"e": {
            "subjects": {"s:a": {"type": "t"}},
            "resources": {"thing:/": {"grant": ["READ", "WRITE"], "revoke": ["WRITE"]}}
        }}}),
    )
    .unwrap();
    let e = Enforcer::new(&p);
    let s = subjects(&["s:a"]);
    assert!(e.has_unrestricted(&s, "thing", "/", Permission::Read));
    assert!(!e.has_partial(&s, "thing", "/", Permission::Write));
}

#[test]
fn one_entry_grants_to_all_its_subjects() {
    let p = Policy::from_json(
        "ns:p",
        &json!({"entries": {"e": {
            "subjects": {"s:a": {"type": "t"}, "s:b": {"type": "t"}},
            "resources": {"thing:/": {"grant": ["READ"], "revoke": []}}
        }}}),
    )
    .unwrap();
    let e = Enforcer::new(&p);
    for s in ["s:a", "s:b"] {
        assert!(
            e.has_unrestricted(&subjects(&[s]), "thing", "/attributes", Permission::Read),
            "{s}"
        );
    }
}

#[test]
fn paths_are_read_like_ditto_json_pointers() {
    let e = enforcer_of(&[("s:a", "thing:/attributes/a~0b", 'G', "READ")]);
    let s = subjects(&["s:a"]);
    assert!(e.has_unrestricted(&s, "thing", "/attributes/a~0b", Permission::Read));
    assert!(e.has_unrestricted(&s, "thing", "attributes//a~0b/", Permission::Read));
    assert!(!e.has_unrestricted(&s, "thing", "/attributes/a~b~", Permission::Read));
}

#[test]
fn unrestricted_on_every_path_is_checked_path_by_path() {
    let e = enforcer_of(&[
        ("s:a", "thing:/attributes/x", 'G', "WRITE"),
        ("s:a", "thing:/attributes/y", 'G', "WRITE"),
    ]);
    let s = subjects(&["s:a"]);
    assert!(e.has_unrestricted_all(
        &s,
        "thing",
        ["/attributes/x", "/attributes/y/z"],
        Permission::Write
    ));
    assert!(!e.has_unrestricted_all(
        &s,
        "thing",
        ["/attributes/x", "/attributes/w"],
        Permission::Write
    ));
}

#[test]
fn subject_listings_judge_each_subject_alone() {
    let e = enforcer_of(&[
        ("s:a", "thing:/", 'G', "READ"),
        ("s:b", "thing:/attributes/x", 'G', "READ"),
        ("s:c", "thing:/", 'G', "READ"),
        ("s:c", "thing:/attributes/y", 'R', "READ"),
        ("s:d", "thing:/", 'R', "READ"),
    ]);
    assert_eq!(
        e.subjects_with_partial("thing", "/attributes", Permission::Read),
        subjects(&["s:a", "s:b", "s:c"])
    );
    assert_eq!(
        e.subjects_with_unrestricted("thing", "/attributes", Permission::Read),
        subjects(&["s:a"])
    );
    assert_eq!(
        e.subjects_with_unrestricted("thing", "/features", Permission::Read),
        subjects(&["s:a", "s:c"])
    );
    let (granted, revoked) = e.subjects_with_permission("thing", "/attributes/y", Permission::Read);
    assert_eq!(granted, subjects(&["s:a"]));
    assert_eq!(revoked, subjects(&["s:c", "s:d"]));
}

#[test]
fn live_signals_need_a_granted_and_no_revoked_subject() {
    let e = enforcer_of(&[
        ("s:a", "message:/", 'G', "READ"),
        ("s:b", "message:/inbox", 'R', "READ"),
        ("s:c", "message:/", 'R', "READ"),
        ("s:d", "message:/inbox/messages/hello", 'G', "READ"),
    ]);
    let rows: &[(&[&str], &str, bool)] = &[
        (&["s:a"], "/inbox/messages/hello", true),
        (&["s:a", "s:b"], "/inbox/messages/hello", false),
        (&["s:a", "s:b"], "/outbox/messages/hello", true),
        // Per subject, not combined: s:c's inherited revoke blocks although s:d is granted deeper.
        (&["s:c", "s:d"], "/inbox/messages/hello", false),
        (&["s:d"], "/inbox/messages/hello", true),
        (&["s:x"], "/inbox/messages/hello", false),
    ];
    for (session, path, expected) in rows {
        assert_eq!(
            e.can_receive_live(&subjects(session), "message", path),
            *expected,
            "{session:?} {path}"
        );
    }
}

#[test]
fn an_enforcer_for_a_namespace_uses_only_entries_matching_it() {
    let p = Policy::from_json(
        "ns:p",
        &json!({"entries": {
            "acme": {"subjects": {"s:a": {"type": "t"}}, "resources": {"thing:/": {"grant": ["READ"], "revoke": []}},
                     "namespaces": ["com.acme", "com.acme.*"]},
            "all": {"subjects": {"s:b": {"type": "t"}}, "resources": {"thing:/": {"grant": ["READ"], "revoke": []}}}
        }}),
    )
    .unwrap();
    let rows = [
        ("com.acme", true),
        ("com.acme.cars", true),
        ("com.acmex", false),
        ("org", false),
    ];
    for (ns, a_reads) in rows {
        let e = Enforcer::for_namespace(&p, ns);
        assert_eq!(
            e.has_partial(&subjects(&["s:a"]), "thing", "/", Permission::Read),
            a_reads,
            "{ns}"
        );
        assert!(
            e.has_partial(&subjects(&["s:b"]), "thing", "/", Permission::Read),
            "{ns}"
        );
    }
    assert!(Enforcer::new(&p).has_partial(&subjects(&["s:a"]), "thing", "/", Permission::Read));
}

#[test]
fn local_references_lend_resources_and_subjects() {
    let p = Policy::from_json(
        "ns:p",
        &json!({"entries": {
            "template": {"subjects": {}, "resources": {"thing:/features": {"grant": ["READ"], "revoke": []}},
                         "allowedAdditions": ["subjects"]},
            "never": {"subjects": {"s:n": {"type": "t"}}, "resources": {"thing:/": {"grant": ["WRITE"], "revoke": []}},
                      "importable": "never"},
            "user": {"references": [{"entry": "template"}, {"entry": "never"}, {"import": "x:y", "entry": "z"}],
                     "subjects": {"s:u": {"type": "t"}},
                     "resources": {"thing:/attributes": {"grant": ["READ"], "revoke": []}}}
        }}),
    )
    .unwrap();
    let e = Enforcer::new(&p);
    let u = subjects(&["s:u"]);
    assert!(
        e.has_unrestricted(&u, "thing", "/features/f", Permission::Read),
        "inherited resource"
    );
    assert!(
        !e.has_partial(&u, "thing", "/attributes", Permission::Read),
        "own resource stripped by allowedAdditions"
    );
    assert!(
        !e.has_partial(&u, "thing", "/", Permission::Write),
        "importable: never contributes nothing"
    );
    assert!(!e.has_partial(&subjects(&["s:n"]), "thing", "/features", Permission::Read));
}

// ---- readable views ----

fn thing() -> Value {
    json!({
        "thingId": "ns:t",
        "policyId": "ns:p",
        "attributes": {"public": 1, "secret": {"pin": 1234}, "empty": {}, "list": [{"x": 1, "y": 2}, 3]},
        "features": {"f": {"properties": {"temp": 20, "unit": "C"}}, "g": {"properties": {"v": true}}}
    })
}

#[test]
fn readable_views_keep_exactly_the_readable_fields() {
    let rows: &[(&str, &[Rule], &str, Option<Value>)] = &[
        (
            "everything readable",
            &[("s:a", "thing:/", 'G', "READ")],
            "/",
            Some(thing()),
        ),
        (
            "nothing readable",
            &[("s:a", "thing:/", 'G', "WRITE")],
            "/",
            None,
        ),
        (
            "a revoked attribute disappears",
            &[
                ("s:a", "thing:/", 'G', "READ"),
                ("s:a", "thing:/attributes/secret", 'R', "READ"),
            ],
            "/",
            Some(json!({
                "thingId": "ns:t", "policyId": "ns:p",
                "attributes": {"public": 1, "empty": {}, "list": [{"x": 1, "y": 2}, 3]},
                "features": {"f": {"properties": {"temp": 20, "unit": "C"}}, "g": {"properties": {"v": true}}}
            })),
        ),
        (
            "a grant on one property shows only its path",
            &[("s:a", "thing:/features/f/properties/temp", 'G', "READ")],
            "/",
            Some(json!({"features": {"f": {"properties": {"temp": 20}}}})),
        ),
        (
            "empty objects stay only where readable",
            &[("s:a", "thing:/attributes/empty", 'G', "READ")],
            "/",
            Some(json!({"attributes": {"empty": {}}})),
        ),
        (
            "array items are judged at the array's node",
            &[("s:a", "thing:/attributes/list/x", 'G', "READ")],
            "/",
            Some(json!({"attributes": {"list": [{"x": 1}]}})),
        ),
        (
            "a view below the root matches keys at their real path",
            &[("s:a", "thing:/attributes/public", 'G', "READ")],
            "/attributes",
            Some(json!({"public": 1})),
        ),
        (
            "a revoke for one of the session's subjects wins where it is deepest",
            &[
                ("s:a", "thing:/", 'G', "READ"),
                ("s:b", "thing:/features", 'R', "READ"),
                ("s:b", "thing:/features/g", 'G', "READ"),
            ],
            "/features",
            Some(json!({"g": {"properties": {"v": true}}})),
        ),
    ];
    for (what, rules, path, expected) in rows {
        let e = enforcer_of(rules);
        let value = match *path {
            "/" => thing(),
            "/attributes" => thing()["attributes"].clone(),
            _ => thing()["features"].clone(),
        };
        assert_eq!(
            &e.readable_view(&subjects(&["s:a", "s:b"]), "thing", path, &value),
            expected,
            "{what}"
        );
    }
}

#[test]
fn a_readable_empty_object_is_some_and_an_unreadable_one_is_none() {
    let e = enforcer_of(&[("s:a", "thing:/attributes", 'G', "READ")]);
    let s = subjects(&["s:a"]);
    assert_eq!(
        e.readable_view(&s, "thing", "/attributes", &json!({})),
        Some(json!({}))
    );
    assert_eq!(e.readable_view(&s, "thing", "/features", &json!({})), None);
    assert_eq!(
        e.readable_view(&s, "thing", "/attributes/x", &json!(5)),
        Some(json!(5))
    );
    assert_eq!(e.readable_view(&s, "policy", "/", &json!({"a": 1})), None);
}

#[test]
fn retrieve_views_add_the_identity_fields_for_partial_readers() {
    let e = enforcer_of(&[
        ("s:a", "thing:/features/f", 'G', "READ"),
        ("s:b", "thing:/attributes/public", 'G', "WRITE"),
    ]);
    let mut t = thing();
    t["_revision"] = json!(7);
    assert_eq!(
        e.retrieve_view(&subjects(&["s:a"]), "thing", "/", &t),
        json!({"thingId": "ns:t", "_revision": 7, "features": {"f": {"properties": {"temp": 20, "unit": "C"}}}})
    );
    // No READ anywhere: no allowlist either (the retrieve would not have been authorized).
    assert_eq!(
        e.retrieve_view(&subjects(&["s:b"]), "thing", "/", &t),
        json!({})
    );
    // Non-objects are not filtered.
    assert_eq!(
        e.retrieve_view(
            &subjects(&["s:a"]),
            "thing",
            "/attributes/public",
            &json!(1)
        ),
        json!(1)
    );
    // Sub-resource objects: the allowlist only matches top-level keys of the value itself.
    assert_eq!(
        e.retrieve_view(
            &subjects(&["s:a"]),
            "thing",
            "/attributes",
            &t["attributes"]
        ),
        json!({})
    );
    let p = enforcer_of(&[("s:a", "policy:/entries/e", 'G', "READ")]);
    assert_eq!(
        p.retrieve_view(
            &subjects(&["s:a"]),
            "policy",
            "/",
            &json!({"policyId": "ns:p", "entries": {"e": {"x": 1}, "f": {}}})
        ),
        json!({"policyId": "ns:p", "entries": {"e": {"x": 1}}})
    );
}

// ---- event views ----

#[test]
fn event_views_follow_dittos_partial_event_delivery() {
    use EventView::{Full, Hidden, Partial};
    let rules: &[Rule] = &[
        ("s:owner", "thing:/", 'G', "READ"),
        ("s:part", "thing:/attributes/public", 'G', "READ"),
        ("s:part", "thing:/features/f", 'G', "READ"),
        ("s:part", "thing:/features/f/properties/unit", 'R', "READ"),
        ("s:other", "thing:/attributes/shared", 'G', "READ"),
        ("s:most", "thing:/", 'G', "READ"),
        ("s:most", "thing:/attributes/secret", 'R', "READ"),
        ("s:writer", "thing:/", 'G', "WRITE"),
    ];
    let e = enforcer_of(rules);
    let t = thing();
    let attrs = json!({"public": 2, "secret": 3, "shared": 4});
    let rows: Vec<EventRow> = vec![
        (
            "an unrestricted reader gets everything",
            &["s:owner"],
            "/",
            Some(t.clone()),
            Full,
        ),
        (
            "a subject without READ gets nothing",
            &["s:writer"],
            "/attributes/public",
            Some(json!(1)),
            Hidden,
        ),
        (
            "an unknown subject gets nothing",
            &["s:nobody"],
            "/",
            Some(t.clone()),
            Hidden,
        ),
        (
            "one unrestricted subject makes the session unrestricted",
            &["s:part", "s:owner"],
            "/attributes/secret",
            Some(json!(1)),
            Full,
        ),
        (
            "a root event is cut down and keeps the identity fields",
            &["s:part"],
            "/",
            Some(
                json!({"thingId": "ns:t", "_revision": 3, "policyId": "ns:p", "attributes": attrs.clone(),
                                          "features": {"f": {"properties": {"temp": 1, "unit": "K"}}}}),
            ),
            Partial(
                json!({"thingId": "ns:t", "_revision": 3, "attributes": {"public": 2},
                           "features": {"f": {"properties": {"temp": 1}}}}),
            ),
        ),
        (
            "a root event with nothing readable still carries the identity fields",
            &["s:other"],
            "/",
            Some(json!({"thingId": "ns:t", "features": {}})),
            Partial(json!({"thingId": "ns:t"})),
        ),
        (
            "a readable scalar is delivered",
            &["s:part"],
            "/attributes/public",
            Some(json!(5)),
            Full,
        ),
        (
            "an unreadable scalar is not delivered",
            &["s:part"],
            "/attributes/secret",
            Some(json!(5)),
            Hidden,
        ),
        (
            "a scalar under a revoke is not delivered",
            &["s:part"],
            "/features/f/properties/unit",
            Some(json!("F")),
            Hidden,
        ),
        (
            "a readable delete is delivered",
            &["s:part"],
            "/attributes/public",
            None,
            Full,
        ),
        (
            "an unreadable delete is not delivered",
            &["s:part"],
            "/attributes/secret",
            None,
            Hidden,
        ),
        (
            "a delete above the readable part is not delivered",
            &["s:part"],
            "/attributes",
            None,
            Hidden,
        ),
        (
            "a null payload counts as non-object",
            &["s:part"],
            "/attributes/secret",
            Some(Value::Null),
            Hidden,
        ),
        (
            "an array payload is judged at its path",
            &["s:part"],
            "/attributes/public",
            Some(json!([1, 2])),
            Full,
        ),
        (
            "an object payload below the root is cut down by its real paths",
            &["s:part"],
            "/attributes",
            Some(attrs.clone()),
            Partial(json!({"public": 2})),
        ),
        (
            "an object payload cut down to nothing is not delivered",
            &["s:part"],
            "/attributes/secret",
            Some(json!({"a": 1})),
            Hidden,
        ),
        (
            "a fully readable object payload is delivered unchanged",
            &["s:part"],
            "/features/f/properties",
            Some(json!({"temp": 3})),
            Full,
        ),
        (
            "an empty object payload is delivered unchanged",
            &["s:part"],
            "/attributes",
            Some(json!({})),
            Full,
        ),
        (
            "restricted subjects of one session combine by union",
            &["s:part", "s:other"],
            "/attributes",
            Some(attrs.clone()),
            Partial(json!({"public": 2, "shared": 4})),
        ),
        (
            "a subject with READ on the root but a revoke below is restricted",
            &["s:most"],
            "/attributes",
            Some(attrs.clone()),
            Partial(json!({"public": 2, "shared": 4})),
        ),
        (
            "merge patches keep readable nulls",
            &["s:part"],
            "/",
            Some(json!({"attributes": {"public": null, "secret": null}})),
            Partial(json!({"attributes": {"public": null}})),
        ),
    ];
    for (what, session, path, value, expected) in rows {
        assert_eq!(
            e.event_view(&subjects(session), path, value.as_ref()),
            expected,
            "{what}"
        );
    }
}

#[test]
fn event_audiences_group_sessions_with_equal_views() {
    let e = enforcer_of(&[
        ("s:a", "thing:/", 'G', "READ"),
        ("s:b", "thing:/attributes", 'G', "READ"),
        ("s:c", "thing:/", 'G', "WRITE"),
    ]);
    assert_eq!(
        e.event_audience(&subjects(&["s:a", "s:b"])),
        EventAudience::Everything
    );
    assert_eq!(e.event_audience(&subjects(&["s:c"])), EventAudience::Nobody);
    assert_eq!(
        e.event_audience(&subjects(&["s:b", "s:c"])),
        e.event_audience(&subjects(&["s:c", "s:b", "s:x"]))
    );
    let restricted = e.event_audience(&subjects(&["s:b"]));
    assert_eq!(
        e.event_extra_view(
            &restricted,
            &json!({"thingId": "t", "attributes": {"a": 1}, "features": {"f": 2}})
        ),
        Some(json!({"thingId": "t", "attributes": {"a": 1}}))
    );
    assert_eq!(
        e.event_extra_view(&restricted, &json!({"features": {"f": 2}})),
        None
    );
}

// ---- the model: validation ----

#[test]
fn invalid_policies_are_rejected_with_dittos_errors() {
    let entry = |resources: Value| json!({"entries": {"e": {"subjects": {"s:a": {"type": "t"}}, "resources": resources}}});
    let rows: Vec<(&str, Value, u16, &str, &str)> = vec![
        ("a resource key without type", entry(json!({"/attributes": {"grant": [], "revoke": []}})), 400, "json.invalid",
         "The provided string was not in the expected format 'type:path'"),
        ("a resource key with an empty type", entry(json!({":/x": {"grant": [], "revoke": []}})), 400, "policies:entry.invalid",
         "The Policy Resource :/x is invalid"),
        ("a resource path with consecutive slashes", entry(json!({"thing:/a//b": {"grant": [], "revoke": []}})), 400,
         "json.pointer.invalid", "The JSON pointer </a//b> is invalid!"),
        ("a resource key with a control character", entry(json!({"thing:/a\u{7}": {"grant": [], "revoke": []}})), 400,
         "policies:entry.invalid", "The Policy Resource thing:/a\u{7} is invalid"),
        ("resource permissions that are not an object", entry(json!({"thing:/": ["READ"]})), 400, "json.invalid",
         "The JSON object for the 'permissions' (grant/revoke) of the 'resource' 'thing:/' is missing or not an object."),
        ("a missing grant", entry(json!({"thing:/": {"revoke": []}})), 400, "json.field.missing",
         "JSON did not include required </grant> field!"),
        ("a revoke that is not an array", entry(json!({"thing:/": {"grant": [], "revoke": "READ"}})), 400, "json.invalid",
         "Value <\"READ\"> for </revoke> is not of type <JsonArray>!"),
        ("two keys for one resource", entry(json!({"thing:/a": {"grant": [], "revoke": []}, "thing:a/": {"grant": [], "revoke": []}})),
         400, "policies:entry.invalid", "There is more than one Resource with the path </a>!"),
        ("a subject without issuer", json!({"entries": {"e": {"subjects": {"alice": {"type": "t"}}}}}), 400,
         "policies:subjectid.invalid", "Subject ID 'alice' is not valid!"),
        ("a subject with an empty subject part", json!({"entries": {"e": {"subjects": {"google:": {"type": "t"}}}}}), 400,
         "policies:subjectid.invalid", "Subject ID 'google:' is not valid!"),
        ("a subject without type", json!({"entries": {"e": {"subjects": {"s:a": {}}}}}), 400, "json.field.missing",
         "The 'type' for the 'subject' is missing."),
        ("a subject that is not an object", json!({"entries": {"e": {"subjects": {"s:a": "t"}}}}), 400, "json.invalid",
         "<\"t\"> is not a JSON object!"),
        ("a bad expiry", json!({"entries": {"e": {"subjects": {"s:a": {"type": "t", "expiry": "tomorrow"}}}}}), 400,
         "policies:subjectexpiry.invalid", "Subject expiry timestamp 'tomorrow' is not valid."),
        ("subjects that are not an object", json!({"entries": {"e": {"subjects": []}}}), 400, "json.invalid",
         "Value <[]> for </subjects> is not of type <JsonObject>!"),
        ("a label with a slash", json!({"entries": {"a/b": {}}}), 400, "policies:entry.invalid", "The Policy Label a/b is invalid"),
        ("a label with a reserved prefix", json!({"entries": {"imported-x": {}}}), 400, "policies:label.invalid",
         "Label 'imported-x' is not valid!"),
        ("an entry that is not an object", json!({"entries": {"e": 5}}), 400, "json.invalid", "<5> is not a JSON object!"),
        ("entries that are not an object", json!({"entries": [1]}), 400, "json.invalid",
         "Value <[1]> for </entries> is not of type <JsonObject>!"),
        ("a bad importable", json!({"entries": {"e": {"importable": "always"}}}), 400, "policies:entry.invalid",
         "The Policy Entry is invalid."),
        ("a bad namespace pattern", json!({"entries": {"e": {"namespaces": ["com..acme"]}}}), 400, "policies:entry.invalid",
         "The Policy Entry is invalid."),
        ("a bad allowed addition", json!({"entries": {"e": {"allowedAdditions": ["labels"]}}}), 400, "policies:entry.invalid",
         "The Policy Entry is invalid."),
        ("a reference without entry", json!({"entries": {"e": {"references": [{}]}}}), 400, "json.field.missing",
         "JSON did not include required </entry> field!"),
        ("a reference with an empty import", json!({"entries": {"e": {"references": [{"import": "", "entry": "x"}]}}}), 400,
         "json.invalid", "The 'import' field of an entry reference must be a non-empty string. Received: \"\"."),
        ("another policy ID in the body", json!({"policyId": "ns:other"}), 400, "policies:id.notsettable",
         "The Policy ID in the request body is not equal to the Policy ID in the request URL."),
        ("a policy ID that is not a string", json!({"policyId": 5}), 400, "json.invalid",
         "Value <5> for </policyId> is not of type <String>!"),
        ("a self import", json!({"imports": {"ns:p": {}}}), 400, "policies:import.invalid", "The Policy Import is invalid."),
        ("a transitive self import", json!({"imports": {"ns:q": {"transitiveImports": ["ns:p"]}}}), 400,
         "policies:import.invalid", "The policy import contains a transitive resolution of the policy itself."),
        ("eleven imports", json!({"imports": (0..11).map(|i| (format!("ns:i{i}"), json!({}))).collect::<Map<_, _>>()}), 400,
         "policies:imports.toolarge", "The Imports of the Policy with ID 'ns:p' could not be modified as they exceed the allowed number of '10'."),
        ("not an object at all", json!([]), 400, "json.invalid", "<[]> is not a JSON object!"),
    ];
    for (what, value, status, code, message) in rows {
        let err = Policy::from_json("ns:p", &value).expect_err(what);
        assert_eq!(
            (err.status, err.error.as_ref(), err.message.as_str()),
            (status, code, message),
            "{what}"
        );
    }
}

#[test]
fn labels_longer_than_256_characters_are_invalid() {
    let long = "x".repeat(257);
    let err = Policy::from_json("ns:p", &json!({"entries": {long.clone(): {}}})).unwrap_err();
    assert_eq!(err.error, "policies:entry.invalid");
    assert_eq!(
        err.description.as_deref(),
        Some("Not allowed to exceed length of 256.")
    );
    assert!(Policy::from_json("ns:p", &json!({"entries": {"x".repeat(256): {}}})).is_ok());
    let err = Policy::from_json("ns:p", &json!({"entries": {"f\u{fc}r": {}}})).unwrap_err();
    assert_eq!(
        err.description.as_deref(),
        Some("Neither slashes nor any control characters are allowed."),
        "Latin-1 counts as control"
    );
}

#[test]
fn invalid_policy_ids_are_rejected() {
    for id in ["nocolon", "ns:", "1ns:x", "ns:a/b", "n..s:x"] {
        let err = Policy::from_json(id, &json!({})).expect_err(id);
        assert_eq!(err.error, "policies:id.invalid", "{id}");
        assert_eq!(err.message, format!("Policy ID '{id}' is not valid!"));
        assert!(err.href.is_some());
    }
    for id in [":x", "ns:x", "com.acme-x1.b_c:some thing"] {
        assert!(Policy::from_json(id, &json!({})).is_ok(), "{id}");
    }
}

#[test]
fn lenient_inputs_that_ditto_accepts_are_accepted() {
    let p = Policy::from_json(
        "ns:p",
        &json!({
            "policyId": "ns:p",
            "_revision": 4,
            "entries": {
                "__schemaVersion": 2,
                "no-subjects-no-resources": {},
                "nulls": {"subjects": null, "resources": {"thing:/": {"grant": null, "revoke": ["READ", 5, "READ"]}}},
                "placeholder": {"subjects": {"{{ jwt:sub }}": {"type": "t"}}},
                "unknown-permission": {"subjects": {"s:a": {"type": "t"}}, "resources": {"thing:x": {"grant": ["FLY", "READ"], "revoke": []}}}
            }
        }),
    )
    .expect("valid");
    assert_eq!(p.entries().len(), 4);
    let nulls = p.entry("nulls").unwrap();
    assert_eq!(nulls.resources()[0].revoked(), ["READ"]);
    let unknown = &p.entry("unknown-permission").unwrap().resources()[0];
    assert_eq!(unknown.key().to_string(), "thing:/x");
    assert!(unknown.granted().contains(&"FLY".to_string()));
    assert!(!Enforcer::new(&p).has_partial(&subjects(&["s:a"]), "thing", "/", Permission::Write));
}

// ---- the model: serialization and mutation ----

#[test]
fn policies_serialize_the_way_ditto_does() {
    let p = Policy::from_json(
        "ns:p",
        &json!({"entries": {"owner": {
            "subjects": {"s:a": {"type": "t", "expiry": "2099-12-31T23:59:59+01:00"}},
            "resources": {"thing:attributes/": {"grant": ["WRITE", "EXECUTE", "READ", "WRITE"], "revoke": []}},
            "namespaces": ["com.acme", "com.acme"],
            "allowedAdditions": ["subjects"],
            "references": [{"entry": "other", "import": "ns:q"}]
        }}}),
    )
    .unwrap();
    assert_eq!(
        p.to_json(),
        json!({"policyId": "ns:p", "entries": {"owner": {
            "subjects": {"s:a": {"type": "t", "expiry": "2099-12-31T22:59:59Z"}},
            "resources": {"thing:/attributes": {"grant": ["READ", "EXECUTE", "WRITE"], "revoke": []}},
            "namespaces": ["com.acme"],
            "importable": "implicit",
            "allowedAdditions": ["subjects"],
            "references": [{"import": "ns:q", "entry": "other"}]
        }}})
    );
    assert_eq!(
        Policy::from_json("ns:p", &p.to_json()).unwrap(),
        p,
        "round trip"
    );
}

#[test]
fn the_default_policy_of_a_new_thing_has_dittos_shape() {
    let p = Policy::default_for_thing("ns:t", &subjects(&["pre:alice", "pre:bob"]));
    assert_eq!(
        p.to_json(),
        json!({"policyId": "ns:t", "entries": {"DEFAULT": {
            "subjects": {"pre:alice": {"type": "generated"}},
            "resources": {
                "thing:/": {"grant": ["READ", "WRITE"], "revoke": []},
                "policy:/": {"grant": ["READ", "WRITE"], "revoke": []},
                "message:/": {"grant": ["READ", "WRITE"], "revoke": []}
            },
            "importable": "implicit"
        }}})
    );
    assert!(p.has_policy_writer());
    assert!(!Policy::default_for_thing("ns:t", &[]).has_policy_writer());
}

#[test]
fn entries_subjects_resources_and_imports_can_be_edited() {
    let mut p = Policy::default_for_thing("ns:t", &subjects(&["s:a"]));
    let mut e = PolicyEntry::new("reader").unwrap();
    assert!(e.put_subject(Subject::new("s:b", "t")));
    assert!(!e.put_subject(Subject::new("s:b", "u")));
    assert_eq!(e.subject("s:b").unwrap().subject_type(), "u");
    let key = ResourceKey::parse("thing:/attributes").unwrap();
    assert!(e.put_resource(Resource::new(key.clone(), &[Permission::Read], &[])));
    assert!(e.resource(&key).unwrap().grants(Permission::Read));
    assert!(p.put_entry(e.clone()));
    assert!(!p.put_entry(e));
    assert_eq!(
        p.entries()
            .iter()
            .map(PolicyEntry::label)
            .collect::<Vec<_>>(),
        ["DEFAULT", "reader"]
    );
    let entry = p.entry_mut("reader").unwrap();
    assert!(entry.remove_resource(&key).is_some());
    assert!(entry.remove_subject("s:b").is_some());
    assert!(entry.remove_subject("s:b").is_none());
    assert!(p.remove_entry("reader").is_some());

    let subjects_json = json!({"s:x": {"type": "t"}, "s:y": {"type": "t"}});
    let parsed = PolicyEntry::subjects_from_json(&subjects_json).unwrap();
    let entry = p.entry_mut("DEFAULT").unwrap();
    entry.set_subjects(parsed);
    assert_eq!(entry.subjects_to_json(), subjects_json);
    let resources_json = json!({"thing:/": {"grant": ["READ"], "revoke": []}});
    entry.set_resources(PolicyEntry::resources_from_json(&resources_json).unwrap());
    assert_eq!(entry.resources_to_json(), resources_json);
    entry.set_namespaces_json(&json!(["a.*"])).unwrap();
    assert!(entry.set_namespaces_json(&json!(["*"])).is_err());

    assert_eq!(p.put_import("ns:q", &json!({"entries": ["x"]})), Ok(true));
    assert_eq!(p.put_import("ns:q", &json!({})), Ok(false));
    assert_eq!(
        p.put_import("ns:t", &json!({})).unwrap_err().error,
        "policies:import.invalid"
    );
    assert_eq!(p.import("ns:q"), Some(&json!({})));
    assert!(p.remove_import("ns:q").is_some());
    assert_eq!(p.to_json()["imports"], json!({}));

    let entries = Policy::entries_from_json(&json!({"a": {}, "b": {}})).unwrap();
    p.set_entries(entries);
    assert_eq!(
        p.entries_to_json(),
        json!({"a": {"subjects": {}, "resources": {}, "importable": "implicit"},
                                           "b": {"subjects": {}, "resources": {}, "importable": "implicit"}})
    );
}

#[test]
fn an_entry_referenced_locally_is_reported_before_deletion() {
    let p = Policy::from_json("ns:p", &json!({"entries": {"t": {}, "u": {"references": [{"entry": "t"}]}, "v": {"references": [{"import": "x:y", "entry": "t"}]}}})).unwrap();
    assert_eq!(p.referencing_entry("t"), Some("u"));
    assert_eq!(p.referencing_entry("u"), None);
}

// ---- the policy-writer rule ----

#[test]
fn a_policy_needs_a_permanent_writer_on_its_root() {
    let writer = |extra: Value| {
        let mut entries = json!({"w": {"subjects": {"s:a": {"type": "t"}}, "resources": {"policy:/": {"grant": ["WRITE"], "revoke": []}}}});
        if let (Some(m), Value::Object(x)) = (entries.as_object_mut(), extra) {
            m.extend(x);
        }
        entries
    };
    let rows: Vec<(&str, Value, bool)> = vec![
        (
            "a subject granted WRITE on policy:/",
            json!({"entries": writer(json!({}))}),
            true,
        ),
        (
            "only READ on policy:/",
            json!({"entries": {"r": {"subjects": {"s:a": {"type": "t"}}, "resources": {"policy:/": {"grant": ["READ"], "revoke": []}}}}}),
            false,
        ),
        (
            "WRITE on a sub path of the policy only",
            json!({"entries": {"r": {"subjects": {"s:a": {"type": "t"}}, "resources": {"policy:/entries": {"grant": ["WRITE"], "revoke": []}}}}}),
            false,
        ),
        (
            "the only writer expires",
            json!({"entries": {"r": {"subjects": {"s:a": {"type": "t", "expiry": "2099-01-01T00:00:00Z"}}, "resources": {"policy:/": {"grant": ["WRITE"], "revoke": []}}}}}),
            false,
        ),
        (
            "the writer is revoked WRITE on policy:/ elsewhere",
            json!({"entries": writer(json!({"x": {"subjects": {"s:a": {"type": "t"}}, "resources": {"policy:/": {"grant": [], "revoke": ["WRITE"]}}}}))}),
            false,
        ),
        (
            "a revoke on a sub path does not count",
            json!({"entries": writer(json!({"x": {"subjects": {"s:a": {"type": "t"}}, "resources": {"policy:/entries": {"grant": [], "revoke": ["WRITE"]}}}}))}),
            true,
        ),
        (
            "a revoke naming the subject with another type does not count (Subject equality)",
            json!({"entries": writer(json!({"x": {"subjects": {"s:a": {"type": "other"}}, "resources": {"policy:/": {"grant": [], "revoke": ["WRITE"]}}}}))}),
            true,
        ),
        ("no entries", json!({}), false),
        (
            "imports make any policy valid",
            json!({"imports": {"ns:q": {}}}),
            true,
        ),
        ("empty imports do not", json!({"imports": {}}), false),
        (
            "a writer through a local reference",
            json!({"entries": {"tpl": {"resources": {"policy:/": {"grant": ["WRITE"], "revoke": []}}},
                            "use": {"references": [{"entry": "tpl"}], "subjects": {"s:a": {"type": "t"}}}}}),
            true,
        ),
    ];
    for (what, value, expected) in rows {
        let p = Policy::from_json("ns:p", &value).expect(what);
        assert_eq!(p.has_policy_writer(), expected, "{what}");
    }
}

#[test]
fn a_policy_without_writer_is_refused_with_the_modification_errors() {
    let p = Policy::from_json("ns:p", &json!({})).unwrap();
    let reason = "It must contain at least one permanent Subject with permission(s) <[WRITE]> on resource <policy:/>!";
    let e = p.ensure_policy_writer().unwrap_err();
    assert_eq!(
        (e.status, e.error.as_ref()),
        (403, "policies:policy.modificationinvalid")
    );
    assert_eq!(
        e.message,
        "The Policy with ID 'ns:p' could not be modified as the resulting Policy would be invalid."
    );
    assert_eq!(e.description.as_deref(), Some(reason));
    let e = p.ensure_policy_writer_for_entry("DEFAULT").unwrap_err();
    assert_eq!(
        (e.status, e.error.as_ref()),
        (403, "policies:entry.modificationinvalid")
    );
    assert_eq!(
        e.message,
        "The PolicyEntry with Label 'DEFAULT' on the Policy with ID 'ns:p' could not be modified as the resulting Policy would be invalid."
    );
    assert_eq!(e.description.as_deref(), Some(reason));
    assert_eq!(
        DittoError::thing_policy_invalid("ns:t")
            .description
            .as_deref(),
        Some("It must contain at least one Subject with the following permission(s): '[WRITE]'!")
    );
}

#[test]
fn a_policy_over_the_size_limit_is_too_large() {
    let p = Policy::default_for_thing("ns:t", &subjects(&["s:a"]));
    assert!(p.ensure_size(DEFAULT_MAX_POLICY_SIZE).is_ok());
    let size = p.json_size();
    let e = p.ensure_size(size - 1).unwrap_err();
    assert_eq!(
        (e.status, e.error.as_ref()),
        (413, "policies:policy.toolarge")
    );
    let e = DittoError::too_large(102_401, 102_400);
    assert_eq!(
        e.message,
        "The size of '100.001' kB exceeds the maximal allowed Policy size of '100' kB."
    );
    assert_eq!(
        DittoError::too_large(2_000_000, 1_048_576).message,
        "The size of '1,953.125' kB exceeds the maximal allowed Policy size of '1,024' kB."
    );
}

#[test]
fn command_errors_carry_dittos_texts() {
    let rows: Vec<(DittoError, u16, &str, &str)> = vec![
        (DittoError::policy_not_found("ns:p"), 404, "policies:policy.notfound",
         "The Policy with ID 'ns:p' could not be found or requester had insufficient permissions to access it."),
        (DittoError::policy_conflict("ns:p"), 409, "policies:policy.conflict", "The Policy with ID 'ns:p' already exists"),
        (DittoError::entry_not_found("ns:p", "l"), 404, "policies:entry.notfound",
         "The PolicyEntry with Label 'l' on the Policy with ID 'ns:p' could not be found or requester had insufficient permissions to access it."),
        (DittoError::subject_not_found("ns:p", "l", "s:a"), 404, "policies:subject.notfound",
         "The Subject with ID 's:a' of the PolicyEntry with Label 'l' on the Policy with ID 'ns:p' could not be found or requester had insufficient permissions to access it."),
        (DittoError::resource_not_found("ns:p", "l", "thing:/a"), 404, "policies:resource.notfound",
         "The Resource 'thing:/a' of the PolicyEntry with Label 'l' on the Policy with ID 'ns:p' could not be found or requester had insufficient permissions to access it."),
        (DittoError::import_not_found("ns:p", "ns:q"), 404, "policies:import.notfound",
         "The Policy import 'ns:q' of Policy 'ns:p' could not be found or requester had insufficient permissions to access it."),
        (DittoError::import_not_modifiable("ns:p", "ns:q"), 403, "policies:import.notmodifiable",
         "The Import of the Policy with ID 'ns:q' in Policy with ID 'ns:p' could not be modified as the requester had insufficient permissions."),
        (DittoError::policy_not_modifiable("ns:p"), 403, "policies:policy.notmodifiable",
         "The Policy with ID 'ns:p' could not be modified as the requester had insufficient permissions."),
    ];
    for (e, status, code, message) in rows {
        assert_eq!(
            (e.status, e.error.as_ref(), e.message.as_str()),
            (status, code, message)
        );
        assert_eq!(e.to_json()["error"], json!(code));
    }
    let json_only_description = DittoError::json_invalid_described("", "d");
    assert_eq!(
        json_only_description.to_json(),
        json!({"status": 400, "error": "json.invalid", "description": "d"})
    );
}

// ---- v1 ACLs ----

#[test]
fn an_acl_maps_onto_an_equivalent_policy() {
    let acl = json!({
        "admin": {"READ": true, "WRITE": true, "ADMINISTRATE": true},
        "reader": {"READ": true, "WRITE": false, "ADMINISTRATE": false},
        "device": {"READ": false, "WRITE": true, "ADMINISTRATE": false}
    });
    let p = policy_from_acl("ns:t", &acl).unwrap();
    assert_eq!(p.id(), "ns:t");
    assert_eq!(
        p.entries()
            .iter()
            .map(PolicyEntry::label)
            .collect::<Vec<_>>(),
        ["READ", "WRITE", "ADMINISTRATE"]
    );
    let e = Enforcer::new(&p);
    // (subject, resource, permission, expected) – the ACL enforcer ignored paths, so do we.
    let rows = [
        ("admin", "thing:/attributes/x", Permission::Write, true),
        ("admin", "policy:/", Permission::Write, true),
        (
            "reader",
            "thing:/features/f/properties/p",
            Permission::Read,
            true,
        ),
        ("reader", "policy:/", Permission::Read, true),
        ("reader", "thing:/", Permission::Write, false),
        (
            "reader",
            "message:/inbox/messages/x",
            Permission::Read,
            true,
        ),
        ("device", "thing:/", Permission::Write, true),
        ("device", "thing:/", Permission::Read, false),
        (
            "device",
            "message:/outbox/messages/x",
            Permission::Write,
            true,
        ),
        ("device", "policy:/", Permission::Write, false),
    ];
    for (s, key, p, expected) in rows {
        let (rtype, path) = split(key);
        assert_eq!(
            e.has_unrestricted(&subjects(&[s]), rtype, path, p),
            expected,
            "{s} {key} {p:?}"
        );
    }
    assert_eq!(acl_from_policy(&p), acl);
    assert!(p.has_policy_writer());
    assert_eq!(Policy::from_stored_json(&p.to_json()).unwrap(), p);
    assert!(
        Policy::from_json("ns:t", &p.to_json()).is_err(),
        "ACL subjects lack an issuer"
    );
    assert_eq!(
        policy_from_acl("ns:t", &default_acl("me"))
            .unwrap()
            .entries()
            .len(),
        3
    );
}

#[test]
fn invalid_acls_are_rejected_with_ditto_1_errors() {
    let rows: Vec<(Value, &str, &str, Option<&str>)> = vec![
        (json!({"a": true}), "json.invalid", "",
         Some("Expected for Authorization Subject 'a' a JSON object containing all of <READ, WRITE, ADMINISTRATE> but got <true>!")),
        (json!({"a": {}}), "things:acl.entry.invalid", "The Access Control List Entry is invalid.",
         Some("Expected for Authorization Subject 'a' a JSON object containing all of <READ, WRITE, ADMINISTRATE> but got <{}>!")),
        (json!({"a": {"READ": true, "WRITE": true}}), "things:acl.entry.invalid",
         "Expected for Authorization Subject 'a' the permission 'ADMINISTRATE' with value <true> or <false> but the permission is absent at all!", None),
        (json!({"a": {"READ": 1, "WRITE": true, "ADMINISTRATE": true}}), "things:acl.entry.invalid",
         "Expected for permission 'READ' of Authorization Subject 'a' the value <true> or <false> but got <1>!", None),
        (json!({"a": {"READ": false, "WRITE": false, "ADMINISTRATE": false}}), "things:acl.entry.invalid",
         "The ACL entry for 'a' did not contain any permission of <READ, WRITE, ADMINISTRATE> which evaluates to <true>!", None),
        (json!({"a": {"READ": true, "WRITE": true, "ADMINISTRATE": false}}), "things:acl.invalid",
         "The Access Control List of the Thing with ID 'ns:t' is invalid.",
         Some("The Authorization Subject <a> must have at least the permission(s): <[READ, WRITE, ADMINISTRATE]>!")),
        (json!({"a": {"READ": true, "WRITE": false, "ADMINISTRATE": false}, "b": {"READ": false, "WRITE": true, "ADMINISTRATE": true}}),
         "things:acl.invalid", "The Access Control List of the Thing with ID 'ns:t' is invalid.",
         Some("It must contain at least one Authorization Subject with the following permission(s): <[READ, WRITE, ADMINISTRATE]>!")),
        (json!({}), "things:acl.invalid", "The Access Control List of the Thing with ID 'ns:t' is invalid.",
         Some("It must contain at least one Authorization Subject with the following permission(s): <[READ, WRITE, ADMINISTRATE]>!")),
        (json!([]), "json.invalid", "Value <[]> for </acl> is not of type <JsonObject>!", None),
    ];
    for (acl, code, message, description) in rows {
        let e = policy_from_acl("ns:t", &acl).expect_err(&acl.to_string());
        assert_eq!(
            (e.status, e.error.as_ref(), e.message.as_str()),
            (400, code, message),
            "{acl}"
        );
        if description.is_some() {
            assert_eq!(e.description.as_deref(), description, "{acl}");
        }
    }
}
