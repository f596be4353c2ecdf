//! `fields=_policy` on a thing (Ditto retrieves the thing and then its policy with the requester's
//! own authorization): the hub answers the thing, and the thing's policy, as far as the requester
//! may read it, joins the answer as `_policy`, cut to the selector's `_policy/…` parts. A policy
//! the requester may not read is left out, as Ditto leaves it out.

use super::exchange::{exchange, Exchange};
use crate::node::Node;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use twinwire_common::bus::shard_of;
use twinwire_common::protocol::headers::names;
use twinwire_common::protocol::{Envelope, Headers};
use twinwire_common::things::{EntityId, FieldSelector};

/// A thing retrieve whose selector names `_policy`.
pub struct InlinePolicy {
    pub thing: EntityId,
    pub selector: FieldSelector,
}

impl InlinePolicy {
    /// Some when `selector` names `_policy` or a part of it.
    pub fn of(thing: &EntityId, selector: Option<&FieldSelector>) -> Option<InlinePolicy> {
        let selector = selector?;
        selector
            .pointers()
            .iter()
            .any(|p| p.segments().first().is_some_and(|s| s == "_policy"))
            .then(|| InlinePolicy {
                thing: thing.clone(),
                selector: selector.clone(),
            })
    }

    /// Adds `_policy` to the thing `answer` (an object) when the requester may read its policy.
    pub async fn add_to(
        &self,
        node: &Arc<Node>,
        subjects: &[String],
        timeout: Duration,
        answer: &mut Value,
    ) {
        let Some(policy_id) = retrieve(
            node,
            &self.thing,
            "things/twin",
            "/policyId",
            subjects,
            timeout,
        )
        .await
        .as_ref()
        .and_then(Value::as_str)
        .and_then(EntityId::parse) else {
            return;
        };
        let Some(policy) = retrieve(node, &policy_id, "policies", "/", subjects, timeout).await
        else {
            return;
        };
        let selected = self.selector.apply(&json!({ "_policy": policy }));
        if let (Some(part), Some(obj)) = (selected.get("_policy"), answer.as_object_mut()) {
            obj.insert("_policy".into(), part.clone());
        }
    }
}

/// The value of a 200 answer to a retrieve of `path` in `id`, or None.
async fn retrieve(
    node: &Arc<Node>,
    id: &EntityId,
    group: &str,
    path: &str,
    subjects: &[String],
    timeout: Duration,
) -> Option<Value> {
    let mut headers = Headers::new();
    headers.insert(names::CORRELATION_ID, uuid::Uuid::new_v4().to_string());
    let envelope = Envelope {
        topic: format!("{}/{}/{group}/commands/retrieve", id.namespace, id.name),
        headers,
        path: path.to_owned(),
        ..Default::default()
    };
    let shard = shard_of(
        &format!("{}:{}", id.namespace, id.name),
        node.config.shards.count,
    );
    let Exchange::Answered(frame) =
        exchange(node, envelope, shard, timeout, subjects.to_vec()).await
    else {
        return None;
    };
    let env = Envelope::parse(&frame).ok()?;
    (env.status == Some(200)).then_some(env.value).flatten()
}
