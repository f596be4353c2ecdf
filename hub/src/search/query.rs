//! A shard owner's answer to a search query (`bus::search`): candidates from the index (read
//! before the batch is dispatched, with their twins), then, in the batch's order, every candidate
//! judged on the twin as it stands and under its current policy: READ somewhere on the thing, the
//! exact filter on what the requester may read (so hidden fields never match, Ditto's
//! semantics), then the sort key, the cursor's cut and the page. Twins written earlier in the same
//! batch are candidates too, so the index lagging inside a batch never hides them. A query sorted
//! by `thingId` alone that the index cannot narrow walks the shard's ids in order instead
//! ([`SearchBatch::load`]), so listing a namespace reads a page's worth, not the shard.

use crate::error::HubError;
use crate::policies::{CachedPolicy, PolicyCache};
use crate::store::{Candidates, Store, Write};
use crate::things::cache::TwinCache;
use crate::things::twin::Twin;
use serde_json::Value;
use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use twinwire_common::bus::search::{
    compare_keys, key_of, SearchAnswer, SearchItem, SearchQuery, QUERY_TOPIC,
};
use twinwire_common::bus::{BusCommand, Keys};
use twinwire_common::policy::Permission;
use twinwire_common::protocol::headers::names;
use twinwire_common::protocol::Envelope;
use twinwire_common::rql::{Filter, IndexPlan, MapPlaceholders};
use twinwire_common::things::FieldSelector;
use twinwire_common::Error;

/// A query of the batch, parsed, with its candidates.
struct Prepared {
    query: SearchQuery,
    filter: Option<Filter>,
    fields: Option<FieldSelector>,
    candidates: Vec<String>,
    /// An ordered scan stopped here: ids after it were not looked at, so nothing after it may
    /// be answered and more may follow.
    until: Option<String>,
}

/// The search queries of one shard batch, by their position in it.
#[derive(Default)]
pub struct SearchBatch {
    queries: HashMap<usize, Result<Prepared, Error>>,
    /// The candidates' committed twins.
    twins: HashMap<String, Arc<Twin>>,
}

/// Whether `cmd` is a search query.
pub fn is_query(cmd: &BusCommand) -> bool {
    cmd.envelope.topic == QUERY_TOPIC
}

fn prepare(
    cmd: &BusCommand,
) -> Result<(SearchQuery, Option<Filter>, Option<FieldSelector>), Error> {
    let query: SearchQuery = cmd
        .envelope
        .value
        .clone()
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| Error::JsonFormatInvalid(e.to_string()))?
        .ok_or(Error::ValueMissing)?;
    let filter = query
        .filter
        .as_deref()
        .map(twinwire_common::rql::parse)
        .transpose()
        .map_err(|e| Error::RqlInvalid(e.message))?;
    let fields = query
        .fields
        .as_deref()
        .map(FieldSelector::parse)
        .transpose()?;
    Ok((query, filter, fields))
}

impl SearchBatch {
    /// Reads the candidates of the batch's queries and their twins (one round trip each), at
    /// most `max_candidates` ids from any index key (`search.max_candidates`). A query the index
    /// cannot narrow, sorted by `thingId` alone (Ditto's default), walks the shard's ids in order
    /// from its cursor instead, judging twins as it goes (with `policies`), until its page is
    /// full: listing a namespace page by page never reads every twin.
    pub async fn load(
        store: &Store,
        shard: u32,
        commands: &[(String, BusCommand)],
        max_candidates: usize,
        policies: &mut PolicyCache,
    ) -> Result<SearchBatch, HubError> {
        let mut batch = SearchBatch::default();
        let mut wanted = BTreeSet::new();
        for (pos, (_, cmd)) in commands.iter().enumerate() {
            if !is_query(cmd) {
                continue;
            }
            let prepared = match prepare(cmd) {
                Err(e) => Err(e),
                Ok((query, filter, fields)) => {
                    let plan = filter
                        .as_ref()
                        .map(Filter::index_plan)
                        .unwrap_or(IndexPlan::Scan);
                    let ordered = plan == IndexPlan::Scan
                        && !query.count
                        && query.sort.len() == 1
                        && query.sort[0].path == "thingId"
                        && !query.sort[0].desc;
                    if ordered {
                        batch
                            .ordered_scan(
                                store,
                                shard,
                                cmd,
                                query,
                                filter,
                                fields,
                                max_candidates,
                                policies,
                            )
                            .await?
                    } else {
                        match store
                            .search_candidates(shard, &plan, &query.namespaces, max_candidates)
                            .await?
                        {
                            Candidates::TooMany => Err(Error::SearchTooExpensive),
                            Candidates::Ids(candidates) => {
                                wanted.extend(candidates.iter().cloned());
                                Ok(Prepared {
                                    query,
                                    filter,
                                    fields,
                                    candidates,
                                    until: None,
                                })
                            }
                        }
                    }
                }
            };
            batch.queries.insert(pos, prepared);
        }
        wanted.retain(|id| !batch.twins.contains_key(id));
        let ids: Vec<String> = wanted.into_iter().collect();
        let twins = crate::things::cache::load(store, shard, &ids).await?;
        batch.twins.extend(
            ids.into_iter()
                .zip(twins)
                .filter_map(|(id, t)| t.map(|t| (id, t))),
        );
        Ok(batch)
    }

    /// Walks the shard's ids in order after the query's cursor, a chunk at a time, keeping those
    /// the requester may see and the filter matches, until one more than a page is found or the
    /// ids run out; more than `max` ids read fail as too expensive.
    #[allow(clippy::too_many_arguments)]
    async fn ordered_scan(
        &mut self,
        store: &Store,
        shard: u32,
        cmd: &BusCommand,
        query: SearchQuery,
        filter: Option<Filter>,
        fields: Option<FieldSelector>,
        max: usize,
        policies: &mut PolicyCache,
    ) -> Result<Result<Prepared, Error>, HubError> {
        let ctx = MapPlaceholders::new(chrono::Utc::now());
        let chunk = ((query.size + 1) * 2).clamp(16, 1000);
        let mut after: Option<String> = query
            .after
            .as_ref()
            .and_then(|k| k.first())
            .and_then(Value::as_str)
            .map(str::to_owned);
        let mut matched = Vec::new();
        // Ids read so far: the bound is on what a page reads, not on the shard's size.
        let mut read = 0;
        let until = loop {
            // One more than the bound allows: more than `max` ids to judge is too expensive, a
            // shard of exactly `max` is not.
            let want = chunk.min(max + 1 - read);
            let ids = store
                .search_ids_after(shard, &query.namespaces, after.as_deref(), want)
                .await?;
            read += ids.len();
            if read > max {
                return Ok(Err(Error::SearchTooExpensive));
            }
            let twins = crate::things::cache::load(store, shard, &ids).await?;
            let policy_ids: Vec<String> = twins
                .iter()
                .flatten()
                .filter_map(|t| t.policy_id().map(str::to_owned))
                .collect();
            policies.prefetch(store, &policy_ids).await?;
            for (id, twin) in ids.iter().zip(twins) {
                let Some(twin) = twin else { continue };
                if matches(&twin, policies, &cmd.subjects, filter.as_ref(), &ctx).is_some() {
                    matched.push(id.clone());
                    self.twins.insert(id.clone(), twin);
                }
            }
            if matched.len() > query.size {
                break ids.last().cloned();
            }
            if ids.len() < want {
                break None;
            }
            after = ids.last().cloned();
        };
        Ok(Ok(Prepared {
            query,
            filter,
            fields,
            candidates: matched,
            until,
        }))
    }

    /// The policies the candidates refer to (to be prefetched with the batch's).
    pub fn policy_ids(&self) -> impl Iterator<Item = String> + '_ {
        self.twins
            .values()
            .filter_map(|t| t.policy_id().map(str::to_owned))
    }

    /// The response frame of the query at `pos` of the batch, judged against the twins and
    /// policies as the batch's earlier commands left them (`writes`).
    pub fn answer(&self, pos: usize, cmd: &BusCommand, state: &State) -> String {
        let result = match self.queries.get(&pos) {
            Some(Ok(p)) => Ok(self.run(p, cmd, state)),
            Some(Err(e)) => Err(e.clone()),
            None => Err(Error::Internal("search query not prepared".into())),
        };
        let mut headers = cmd.envelope.headers.for_response();
        match result {
            Ok(answer) => {
                headers.set(names::CONTENT_TYPE, "application/json");
                Envelope {
                    topic: QUERY_TOPIC.into(),
                    headers,
                    path: "/".into(),
                    // Plain data always serializes.
                    value: Some(serde_json::to_value(answer).expect("answer serializes")),
                    status: Some(200),
                    ..Default::default()
                }
                .to_json_string()
            }
            Err(e) => twinwire_common::protocol::error_envelope(&e, None, headers).to_json_string(),
        }
    }

    fn run(&self, p: &Prepared, cmd: &BusCommand, state: &State) -> SearchAnswer {
        let written = state.written_things();
        let mut ids: BTreeSet<&str> = p.candidates.iter().map(String::as_str).collect();
        ids.extend(written.iter().map(String::as_str));
        let ctx = MapPlaceholders::new(
            chrono::DateTime::parse_from_rfc3339(state.now)
                .map(|t| t.with_timezone(&chrono::Utc))
                .unwrap_or_else(|_| chrono::Utc::now()),
        );
        let in_namespace = |id: &str| {
            p.query.namespaces.is_empty()
                || p.query.namespaces.iter().any(|ns| {
                    id.strip_prefix(ns.as_str())
                        .is_some_and(|r| r.starts_with(':'))
                })
        };
        let mut items = Vec::new();
        let mut count = 0u64;
        let scanned = |id: &str| p.until.as_deref().is_none_or(|u| id <= u);
        for id in ids.into_iter().filter(|id| in_namespace(id) && scanned(id)) {
            // The batch's own changes first, then the committed twin.
            let twin = match state.twins.lookup(state.shard, id) {
                Some(t) => t,
                None => self.twins.get(id).cloned(),
            };
            let Some(twin) = twin else { continue };
            let Some((policy, full, view)) = matches(
                &twin,
                state.policies,
                &cmd.subjects,
                p.filter.as_ref(),
                &ctx,
            ) else {
                continue;
            };
            let enforcer = &policy.enforcer;
            count += 1;
            if p.query.count {
                continue;
            }
            let key = key_of(&view, &p.query.sort);
            if let Some(after) = &p.query.after {
                if compare_keys(&key, after, &p.query.sort) != Ordering::Greater {
                    continue;
                }
            }
            let thing = match &p.fields {
                Some(sel) => enforcer.retrieve_view(&cmd.subjects, "thing", "/", &sel.apply(&full)),
                None => enforcer.retrieve_view(&cmd.subjects, "thing", "/", &twin.thing),
            };
            items.push(SearchItem { key, thing });
        }
        if p.query.count {
            return SearchAnswer {
                items: Vec::new(),
                more: false,
                count,
            };
        }
        items.sort_by(|a, b| compare_keys(&a.key, &b.key, &p.query.sort));
        let more = items.len() > p.query.size || p.until.is_some();
        items.truncate(p.query.size);
        SearchAnswer {
            items,
            more,
            count: 0,
        }
    }
}

/// What a query is judged against: the shard's twins and policies as the batch left them so far.
pub struct State<'a> {
    pub shard: u32,
    pub now: &'a str,
    pub keys: &'a Keys,
    pub twins: &'a TwinCache,
    pub policies: &'a PolicyCache,
    pub writes: &'a [Write],
}

impl State<'_> {
    /// Things of the shard written earlier in the batch (not yet in the index).
    fn written_things(&self) -> Vec<String> {
        let prefix = self.keys.thing(self.shard, "");
        self.writes
            .iter()
            .filter_map(|w| w.key().strip_prefix(&prefix).map(str::to_owned))
            .collect()
    }
}

/// Whether the requester may see `twin` (READ somewhere on it) and `filter` matches what it may
/// read: its policy, the twin with its special fields, and the requester's view of it.
fn matches(
    twin: &Twin,
    policies: &PolicyCache,
    subjects: &[String],
    filter: Option<&Filter>,
    ctx: &MapPlaceholders,
) -> Option<(Arc<CachedPolicy>, Value, Value)> {
    let policy = twin.policy_id().and_then(|p| policies.get(p))?;
    if !policy
        .enforcer
        .has_partial(subjects, "thing", "/", Permission::Read)
    {
        return None;
    }
    let full = twin.with_special_fields();
    let view = policy.enforcer.retrieve_view(subjects, "thing", "/", &full);
    if filter.is_some_and(|f| !f.matches(&view, ctx)) {
        return None;
    }
    Some((policy, full, view))
}
