//! The numbered changes the resume tests write and then expect, exactly once and in order: change
//! `j` sets thing `j % things` of a namespace to `attributes/v = {j, m}`, where `m` marks every
//! third change (what their filters select).

use crate::Client;
use serde_json::{json, Value};
use std::ops::Range;

/// Change number `j` (sent without a response).
pub fn change(ns: &str, j: usize, things: usize) -> Value {
    json!({
        "topic": format!("{ns}/t{}/things/twin/commands/modify", j % things),
        "path": "/attributes/v",
        "value": {"j": j, "m": j.is_multiple_of(3)},
        "headers": {"response-required": false},
    })
}

/// Sends changes `range`, then retrieves every thing: a shard's stream keeps the order, so the
/// answers mean every change is committed (and journaled).
pub async fn write_changes(w: &mut Client, ns: &str, range: Range<usize>, things: usize) {
    for j in range {
        w.send_json(&change(ns, j, things)).await;
    }
    for i in 0..things {
        let r = w
            .request(json!({"topic": format!("{ns}/t{i}/things/twin/commands/retrieve"), "path": "/", "headers": {}}))
            .await;
        assert_eq!(r["status"], 200, "{r}");
    }
}
