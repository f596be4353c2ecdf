//! RetrieveThings (`<ns>/_/things/twin/commands/retrieve` with `{"thingIds": [...]}`): the
//! readable view of each listed thing, in the order asked, leaving out missing and unreadable
//! ones. Listed things may live in any shard: those of shards this hub owns come from the twin
//! cache, the others from their committed state, read once per batch ([`CommittedThings`]).
//!
//! A `condition` applies to each listed thing as to a retrieve of it (Ditto splits RetrieveThings
//! into one RetrieveThing per id and leaves out those that fail): things whose condition does not
//! hold, or names fields the requester may not read, are left out; an invalid one is 400.

use super::cache::TwinCache;
use super::twin::Twin;
use crate::error::HubError;
use crate::policies::PolicyCache;
use crate::store::Store;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use twinwire_common::bus::{shard_of, BusCommand};
use twinwire_common::policy::Permission;
use twinwire_common::protocol::headers::names;
use twinwire_common::protocol::{Action, Envelope, Topic};
use twinwire_common::things::FieldSelector;
use twinwire_common::Error;

/// Things of any shard read for the current batch's RetrieveThings commands (committed state).
#[derive(Default)]
pub struct CommittedThings {
    things: HashMap<String, Option<Arc<Twin>>>,
}

impl CommittedThings {
    /// Replaces what the previous batch read by the things `ids` name, and returns the policy
    /// ids those things refer to (to be prefetched).
    pub async fn load(
        &mut self,
        store: &Store,
        shard_count: u32,
        ids: Vec<String>,
    ) -> Result<Vec<String>, HubError> {
        self.things.clear();
        let mut policy_ids = Vec::new();
        if ids.is_empty() {
            return Ok(policy_ids);
        }
        let keys: Vec<String> = ids
            .iter()
            .map(|id| store.keys.thing(shard_of(id, shard_count), id))
            .collect();
        let values = store.get_many(&keys).await?;
        for (id, v) in ids.into_iter().zip(values) {
            let t = v.and_then(|s| Twin::from_stored(&s).ok()).map(Arc::new);
            if let Some(p) = t.as_ref().and_then(|t| t.policy_id()) {
                policy_ids.push(p.to_owned());
            }
            self.things.insert(id, t);
        }
        Ok(policy_ids)
    }

    fn get(&self, id: &str) -> Option<Arc<Twin>> {
        self.things.get(id).cloned().flatten()
    }
}

/// Whether `topic` is a RetrieveThings command (a things topic without a thing name).
pub fn is_retrieve_things(topic: &Topic) -> bool {
    topic.group == twinwire_common::protocol::Group::Things && topic.is_wildcard_name()
}

/// The thing ids a RetrieveThings command lists.
pub fn thing_ids_of(env: &Envelope) -> Vec<String> {
    env.value
        .as_ref()
        .and_then(|v| v.get("thingIds"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Where RetrieveThings finds things and their policies.
pub struct Sources<'a> {
    pub twins: &'a TwinCache,
    pub committed: &'a CommittedThings,
    pub policies: &'a PolicyCache,
    pub shard_count: u32,
}

/// Answers a RetrieveThings command: its response frame, or the error to answer with.
pub fn retrieve_things(cmd: &BusCommand, topic: &Topic, from: &Sources) -> Result<String, Error> {
    let env = &cmd.envelope;
    if topic.action != Some(Action::Retrieve) {
        return Err(Error::unknown_topic_path(env.topic.clone()));
    }
    let ids = env
        .value
        .as_ref()
        .and_then(|v| v.get("thingIds"))
        .and_then(Value::as_array)
        .ok_or(Error::ThingIdsMissing)?;
    if ids.is_empty() {
        return Err(Error::ThingIdsMissing);
    }
    // A concrete namespace in the topic must be every thing's namespace (Ditto RetrieveThings).
    if topic.namespace != "_" {
        let prefix = format!("{}:", topic.namespace);
        if ids
            .iter()
            .any(|id| !id.as_str().is_some_and(|s| s.starts_with(&prefix)))
        {
            return Err(Error::JsonFormatInvalid(
                "The provided namespace must match the namespace of all things to retrieve.".into(),
            ));
        }
    }
    let fields = env
        .fields
        .as_deref()
        .map(FieldSelector::parse)
        .transpose()?;
    let condition = super::condition::parse(&env.headers, super::condition::Carrier::Command)?;
    let now = crate::instant::now_iso();
    let mut out = Vec::new();
    for id in ids.iter().filter_map(Value::as_str) {
        let twin = from
            .twins
            .lookup(shard_of(id, from.shard_count), id)
            .unwrap_or_else(|| from.committed.get(id));
        let Some(twin) = twin else { continue };
        let Some(policy) = twin.policy_id().and_then(|p| from.policies.get(p)) else {
            continue;
        };
        if let Some(cond) = &condition {
            let holds = super::condition::check_readable(cond, &policy.enforcer, &cmd.subjects)
                .and_then(|()| super::condition::evaluate(cond, &twin.with_special_fields(), &now));
            if holds.is_err() {
                continue;
            }
        }
        let source = match &fields {
            Some(sel) => sel.apply(&twin.with_special_fields()),
            None => twin.thing.clone(),
        };
        // Ditto leaves out things the requester may not read at all.
        if policy
            .enforcer
            .has_partial(&cmd.subjects, "thing", "/", Permission::Read)
        {
            let view = policy
                .enforcer
                .retrieve_view(&cmd.subjects, "thing", "/", &source);
            // API 1 clients see the ACL in place of the policy id.
            out.push(if cmd.api_version == 1 {
                super::v1::to_v1_thing(&view, Some(&policy.policy))
            } else {
                view
            });
        }
    }
    let mut headers = env.headers.for_response();
    headers.set(names::CONTENT_TYPE, "application/json");
    Ok(Envelope {
        topic: env.topic.clone(),
        headers,
        path: env.path.clone(),
        value: Some(Value::Array(out)),
        status: Some(200),
        ..Default::default()
    }
    .to_json_string())
}
