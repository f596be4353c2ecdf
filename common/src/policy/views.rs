//! What a session may see of a JSON value: the readable view of a retrieve (`buildJsonView`) and the
//! per-session view of a twin event (Ditto 3.9 partial events).
//!
//! Retrieves follow `PolicyTrie.buildJsonView` (combined verdict of all the session's subjects per field)
//! plus the allowlist of `ThingCommandEnforcement`/`PolicyCommandEnforcement`. Events follow the 3.9
//! pipeline (`ThingCommandEnforcement.addEffectedReadSubjectsToThingSignal`, `PartialAccessPathCalculator`,
//! `PartialAccessPathResolver`, `AdaptablePartialAccessFilter`, `JsonPartialAccessFilter`,
//! `WebSocketRoute.postprocess`), where the readable parts are the union of what each restricted subject
//! can read alone.

use super::enforcer::{path_keys, Enforcer};
use super::permission::Permission;
use serde_json::{Map, Value};
use smallvec::SmallVec;

/// Thing fields a session with at least partial READ on the thing always sees in retrieves and root
/// events (`THING_QUERY_COMMAND_RESPONSE_ALLOWLIST`, `AdaptablePartialAccessFilter.ALWAYS_INCLUDED_THING_FIELDS`).
pub const ALWAYS_VISIBLE_THING_FIELDS: [&str; 5] = [
    "thingId",
    "_namespace",
    "_revision",
    "_modified",
    "_created",
];

/// `POLICY_QUERY_COMMAND_RESPONSE_ALLOWLIST`.
const ALWAYS_VISIBLE_POLICY_FIELDS: [&str; 1] = ["policyId"];

/// How a twin event looks to one session.
#[derive(Debug, Clone, PartialEq)]
pub enum EventView {
    /// Not delivered.
    Hidden,
    /// Delivered unchanged.
    Full,
    /// Delivered with this value instead of the event's.
    Partial(Value),
}

/// Which view of twin events a subject set gets. Sessions with equal keys get equal views, so a caller can
/// group sessions and compute [`Enforcer::event_view_for`] once per group and event. Only meaningful with
/// the enforcer that made it (it holds that enforcer's interned subject numbers): recompute it when the
/// policy revision changes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EventAudience {
    /// No subject has any READ grant on the thing: no twin events at all.
    Nobody,
    /// Some subject has unrestricted READ on `thing:/`: every event in full.
    Everything,
    /// Only subjects with partial READ (interned IDs, sorted): events cut down to what they can read.
    Restricted(Box<[u32]>),
}

impl Enforcer {
    /// The readable part of `value`, which sits at `rtype:path` (e.g. `/` for a whole thing, `/attributes`
    /// for the attributes object): fields the subjects may not READ are removed (`PolicyTrie.buildJsonView`).
    /// Per field the deepest policy node naming any of the subjects decides, a revoke beating a grant at
    /// the same node. Objects left empty disappear unless readable themselves; array items are judged at the
    /// array's node (policies cannot address items). `None` when nothing at all is readable.
    ///
    /// Deliberate difference: when `path` lies below the policy's trie, Ditto starts from the nearest policy
    /// node and matches the value's keys against that node's children, as if the value sat there; here the
    /// value's keys are matched where they really are.
    pub fn readable_view(
        &self,
        subjects: &[String],
        rtype: &str,
        path: &str,
        value: &Value,
    ) -> Option<Value> {
        let ids = self.ids(subjects);
        let (verdict, node) = self.walk(rtype, path, Permission::Read, &ids);
        self.view(node, verdict, value, &ids)
    }

    fn view(&self, node: Option<u32>, verdict: bool, value: &Value, ids: &[u32]) -> Option<Value> {
        let Some(node) = node else {
            // Below the trie nothing changes any more: all or nothing.
            return verdict.then(|| value.clone());
        };
        match value {
            Value::Object(m) => {
                let mut out = Map::new();
                for (k, v) in m {
                    let child = self.child(node, k);
                    let child_verdict = child
                        .and_then(|c| self.node_verdict(c, Permission::Read, ids))
                        .unwrap_or(verdict);
                    if let Some(x) = self.view(child, child_verdict, v, ids) {
                        out.insert(k.clone(), x);
                    }
                }
                (!out.is_empty() || verdict).then_some(Value::Object(out))
            }
            Value::Array(a) => {
                let items: Vec<Value> = a
                    .iter()
                    .filter_map(|x| self.view(Some(node), verdict, x, ids))
                    .collect();
                (!items.is_empty() || verdict).then_some(Value::Array(items))
            }
            scalar => verdict.then(|| scalar.clone()),
        }
    }

    /// The response value of a retrieve at `rtype:path` for a session already authorized by
    /// [`Enforcer::has_partial`] READ there (`buildJsonViewForThingQueryCommandResponse`,
    /// `buildJsonViewForPolicyQueryCommandResponse`):
    /// * non-object values are returned as they are (Ditto filters objects only, so a scalar is returned
    ///   even when only a path "below" it is readable);
    /// * objects are cut down to [`Enforcer::readable_view`] (possibly `{}` – a retrieve never turns into
    ///   404 after authorization);
    /// * when the session has partial READ on the type's root, the top-level allowlist fields of the value
    ///   (`thingId`, `_namespace`, `_revision`, `_modified`, `_created` for things; `policyId` for policies)
    ///   are kept and come first (`JsonObjectMerger`).
    pub fn retrieve_view(
        &self,
        subjects: &[String],
        rtype: &str,
        path: &str,
        value: &Value,
    ) -> Value {
        let Value::Object(input) = value else {
            return value.clone();
        };
        let enforced = match self.readable_view(subjects, rtype, path, value) {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        };
        let allowlist: &[&str] = match rtype {
            "thing" => &ALWAYS_VISIBLE_THING_FIELDS,
            "policy" => &ALWAYS_VISIBLE_POLICY_FIELDS,
            _ => &[],
        };
        if allowlist.is_empty() || !self.has_partial(subjects, rtype, "/", Permission::Read) {
            return Value::Object(enforced);
        }
        let mut out = Map::new();
        for key in allowlist {
            if let Some(v) = input.get(*key) {
                out.insert((*key).to_owned(), v.clone());
            }
        }
        for (k, v) in enforced {
            if !out.contains_key(&k) {
                out.insert(k, v);
            }
        }
        Value::Object(out)
    }

    // ---- events ----

    /// Classifies a subject set for twin events:
    /// * Ditto 3.9 marks as read-granted on every twin event all subjects with partial READ on `thing:/`
    ///   (each on its own); a session receives the event when one of its subjects is read-granted
    ///   (`isAuthorized`; twin events carry no read-revoked subjects since 3.9);
    /// * a read-granted subject with unrestricted READ on `thing:/` is not in the partial-access header, so
    ///   `PartialAccessPathResolver` delivers the full event to its session;
    /// * otherwise the event is filtered to what the session's restricted subjects can read.
    pub fn event_audience(&self, subjects: &[String]) -> EventAudience {
        let ids = self.ids(subjects);
        let readers: Vec<u32> = ids
            .iter()
            .copied()
            .filter(|s| self.event_readers.binary_search(s).is_ok())
            .collect();
        if readers.is_empty() {
            EventAudience::Nobody
        } else if readers
            .iter()
            .any(|s| self.event_full_readers.binary_search(s).is_ok())
        {
            EventAudience::Everything
        } else {
            EventAudience::Restricted(readers.into_boxed_slice())
        }
    }

    /// What a twin event changing the thing at `path` with payload `value` (`None` for deletes) looks like to
    /// a session with `subjects`. See [`Enforcer::event_view_for`].
    pub fn event_view(&self, subjects: &[String], path: &str, value: Option<&Value>) -> EventView {
        self.event_view_for(&self.event_audience(subjects), path, value)
    }

    /// The event view for an audience (Ditto 3.9 partial events, reference §5.1 item 2 and §5.2):
    /// * `Nobody` → hidden; `Everything` → full;
    /// * restricted, object payload: each field is kept when one of the restricted subjects can READ it alone
    ///   (leaves = scalars, arrays, `null` and empty objects; objects left empty disappear); for events at `/`
    ///   `thingId`, `_namespace`, `_revision`, `_modified`, `_created` are always kept; an empty payload `{}`
    ///   is delivered as it is; a non-empty payload cut down to `{}` is not delivered;
    /// * restricted, any other payload (scalar, array, `null`, none for deletes): delivered in full when one
    ///   restricted subject can READ `path` itself, else not at all (Ditto replaces it by `{}`, which is then
    ///   not sent).
    ///
    /// Deliberate differences from Ditto's code, which computes readable paths on the stored thing and then
    /// applies those thing-absolute paths to the payload:
    /// * the payload's keys are judged at their real thing path (`path` + key). Ditto matches them as if the
    ///   payload sat at the thing root, so object events below `/` (ModifyAttributes, ModifyFeature, ...)
    ///   almost always end up `{}` and are dropped for restricted sessions; its own system tests
    ///   (`partialAccessEventsFilteredForModifyAttributesUpdates`) accept either outcome;
    /// * readability is judged on the payload itself, not on the stored thing, so merge patches and deletes
    ///   are judged by the paths they touch;
    /// * a restricted subject whose readable paths do not exist in the thing gets nothing here, where Ditto's
    ///   header would leave it out and its session would then get the event unfiltered.
    pub fn event_view_for(
        &self,
        audience: &EventAudience,
        path: &str,
        value: Option<&Value>,
    ) -> EventView {
        let restricted: &[u32] = match audience {
            EventAudience::Nobody => return EventView::Hidden,
            EventAudience::Everything => return EventView::Full,
            EventAudience::Restricted(ids) => ids,
        };
        let (states, node) = self.subject_states("thing", path, restricted);
        match value {
            Some(Value::Object(m)) => {
                if m.is_empty() {
                    // WebSocketRoute only drops payloads that became empty.
                    return EventView::Full;
                }
                let at_root = path_keys(path).next().is_none();
                let mut complete = true;
                let filtered =
                    self.filter_union(node, &states, m, restricted, at_root, &mut complete);
                if filtered.is_empty() {
                    EventView::Hidden
                } else if complete {
                    EventView::Full
                } else {
                    EventView::Partial(Value::Object(filtered))
                }
            }
            _ => {
                if states.contains(&true) {
                    EventView::Full
                } else {
                    EventView::Hidden
                }
            }
        }
    }

    /// The `extra` object (enrichment, thing-shaped from the root) a session may see with an event: all of it
    /// for `Everything`, the readable part plus the always-visible fields for restricted audiences, `None`
    /// when nothing remains (`AdaptablePartialAccessFilter.filterExtraFieldsIntoBuilder`).
    pub fn event_extra_view(&self, audience: &EventAudience, extra: &Value) -> Option<Value> {
        let restricted: &[u32] = match audience {
            EventAudience::Nobody => return None,
            EventAudience::Everything => return Some(extra.clone()),
            EventAudience::Restricted(ids) => ids,
        };
        let Value::Object(m) = extra else { return None };
        let (states, node) = self.subject_states("thing", "/", restricted);
        let mut complete = true;
        let filtered = self.filter_union(node, &states, m, restricted, true, &mut complete);
        (!filtered.is_empty()).then_some(Value::Object(filtered))
    }

    /// Each subject's own inherited READ verdict at `rtype:path`, and the resource's node if the trie has one.
    fn subject_states(&self, rtype: &str, path: &str, ids: &[u32]) -> (Vec<bool>, Option<u32>) {
        let mut states = vec![false; ids.len()];
        let Some(mut node) = self.child(0, rtype) else {
            return (states, None);
        };
        self.update_states(node, ids, &mut states);
        for key in path_keys(path) {
            match self.child(node, &key) {
                Some(c) => {
                    node = c;
                    self.update_states(node, ids, &mut states);
                }
                None => return (states, None),
            }
        }
        (states, Some(node))
    }

    fn update_states(&self, node: u32, ids: &[u32], states: &mut [bool]) {
        for (state, &s) in states.iter_mut().zip(ids) {
            if let Some(v) = self.subject_verdict(node, Permission::Read, s) {
                *state = v;
            }
        }
    }

    /// The fields of `m` that at least one subject can read alone (`JsonPartialAccessFilter` over the union
    /// of the subjects' accessible paths). Clears `complete` when anything is dropped.
    fn filter_union(
        &self,
        node: Option<u32>,
        states: &[bool],
        m: &Map<String, Value>,
        ids: &[u32],
        at_root: bool,
        complete: &mut bool,
    ) -> Map<String, Value> {
        let mut out = Map::new();
        for (k, v) in m {
            if at_root && ALWAYS_VISIBLE_THING_FIELDS.contains(&k.as_str()) {
                out.insert(k.clone(), v.clone());
                continue;
            }
            let child = node.and_then(|n| self.child(n, k));
            let mut child_states: SmallVec<[bool; 4]> = SmallVec::from_slice(states);
            if let Some(c) = child {
                self.update_states(c, ids, &mut child_states);
            }
            let readable_by_someone = child_states.contains(&true);
            match v {
                Value::Object(sub) if !sub.is_empty() && child.is_some() => {
                    let filtered =
                        self.filter_union(child, &child_states, sub, ids, false, complete);
                    if !filtered.is_empty() {
                        out.insert(k.clone(), Value::Object(filtered));
                    } else {
                        *complete = false;
                    }
                }
                // Leaves, and whole subtrees below the trie (nothing below can change a subject's verdict).
                _ => {
                    if readable_by_someone {
                        out.insert(k.clone(), v.clone());
                    } else {
                        *complete = false;
                    }
                }
            }
        }
        out
    }
}
