//! The search index (`tw:{k}:sx:…`, `bus::search`): the candidates of a query's index plan in one
//! shard, in one pipelined round trip; the ids of a shard in order; and the backfill of twins
//! written before the index existed. The index's writes are part of the commit script
//! (`commit.lua`, with `search_index.lua`), so a twin and its entries change atomically.

use super::Store;
use crate::error::HubError;
use crate::search::{IdsChange, IndexUpdate};
use std::collections::HashSet;
use twinwire_common::bus::scripts;
use twinwire_common::rql::{IndexPlan, Lookup, TextBound};

/// The candidates of a plan in one shard.
pub enum Candidates {
    /// These things may match (a superset; the exact filter decides).
    Ids(Vec<String>),
    /// More than the bound would have to be read.
    TooMany,
}

/// The lookups of a plan in reading order, so their results can be combined as the plan says.
fn lookups_of<'a>(plan: &'a IndexPlan, out: &mut Vec<&'a Lookup>) {
    match plan {
        IndexPlan::And(children) | IndexPlan::Or(children) => {
            children.iter().for_each(|c| lookups_of(c, out))
        }
        IndexPlan::Lookup(l) => out.extend(l.iter()),
        IndexPlan::Scan | IndexPlan::Nothing => {}
    }
}

/// Whether nothing in the plan narrows the candidates.
fn needs_scan(plan: &IndexPlan) -> bool {
    match plan {
        IndexPlan::Scan => true,
        IndexPlan::Nothing | IndexPlan::Lookup(_) => false,
        IndexPlan::And(children) => children.iter().all(needs_scan),
        IndexPlan::Or(children) => children.iter().any(needs_scan),
    }
}

/// Combines the lookups' results as the plan says (`None`: every twin); `next` walks the results
/// in the order of [`lookups_of`].
fn combine(
    plan: &IndexPlan,
    results: &mut std::vec::IntoIter<HashSet<String>>,
) -> Option<HashSet<String>> {
    match plan {
        IndexPlan::Scan => None,
        IndexPlan::Nothing => Some(HashSet::new()),
        IndexPlan::Lookup(l) => {
            let mut set = HashSet::new();
            for _ in l {
                set.extend(results.next().unwrap_or_default());
            }
            Some(set)
        }
        IndexPlan::And(children) => {
            let mut acc: Option<HashSet<String>> = None;
            for c in children {
                if let Some(s) = combine(c, results) {
                    acc = Some(match acc {
                        None => s,
                        Some(a) => a.intersection(&s).cloned().collect(),
                    });
                }
            }
            acc
        }
        IndexPlan::Or(children) => {
            let mut acc = Some(HashSet::new());
            for c in children {
                match (combine(c, results), acc.as_mut()) {
                    (Some(s), Some(a)) => a.extend(s),
                    _ => acc = None,
                }
            }
            acc
        }
    }
}

/// The lexicographic range bounds of string members `<value>\0<id>`.
fn lex_min(b: &Option<TextBound>) -> String {
    match b {
        None => "-".into(),
        Some(b) if b.inclusive => format!("[{}\0", b.value),
        Some(b) => format!("[{}\u{1}", b.value),
    }
}

fn lex_max(b: &Option<TextBound>) -> String {
    match b {
        None => "+".into(),
        Some(b) if b.inclusive => format!("({}\u{1}", b.value),
        Some(b) => format!("({}\0", b.value),
    }
}

fn score(f: f64) -> String {
    if f == f64::INFINITY {
        "+inf".into()
    } else if f == f64::NEG_INFINITY {
        "-inf".into()
    } else {
        f.to_string()
    }
}

/// The thing id of a string or boolean member `<value>\0<id>`.
fn id_of_member(m: &str) -> &str {
    m.rsplit_once('\0').map(|(_, id)| id).unwrap_or(m)
}

impl Store {
    /// The candidates of `plan` in `shard` within `namespaces` (empty: all), reading at most
    /// `max` ids from any one index key.
    pub async fn search_candidates(
        &self,
        shard: u32,
        plan: &IndexPlan,
        namespaces: &[String],
        max: usize,
    ) -> Result<Candidates, HubError> {
        let prefix = self.keys.search_index(shard);
        let limit = max + 1;
        let mut lookups = Vec::new();
        lookups_of(plan, &mut lookups);
        let mut pipe = redis::pipe();
        // Things holding arrays: their values are not indexed, so they are always candidates.
        pipe.cmd("SMEMBERS").arg(format!("{prefix}arr"));
        for l in &lookups {
            match l {
                Lookup::Number { path, min, max } => pipe
                    .cmd("ZRANGEBYSCORE")
                    .arg(format!("{prefix}n:{path}"))
                    .arg(score(*min))
                    .arg(score(*max)),
                Lookup::Text { path, min, max } => pipe
                    .cmd("ZRANGEBYLEX")
                    .arg(format!("{prefix}s:{path}"))
                    .arg(lex_min(min))
                    .arg(lex_max(max)),
                Lookup::Bool { path, value } => pipe
                    .cmd("ZRANGEBYLEX")
                    .arg(format!("{prefix}b:{path}"))
                    .arg(format!("[{value}\0"))
                    .arg(format!("({value}\u{1}")),
                Lookup::Exists { path } => {
                    pipe.cmd("SMEMBERS").arg(format!("{prefix}e:{path}"));
                    continue;
                }
            };
            pipe.arg("LIMIT").arg(0).arg(limit);
        }
        let scan = needs_scan(plan);
        if scan {
            // Every twin of the namespaces (thing ids sort by namespace first).
            if namespaces.is_empty() {
                pipe.cmd("ZRANGEBYLEX")
                    .arg(format!("{prefix}ids"))
                    .arg("-")
                    .arg("+")
                    .arg("LIMIT")
                    .arg(0)
                    .arg(limit);
            } else {
                for ns in namespaces {
                    pipe.cmd("ZRANGEBYLEX")
                        .arg(format!("{prefix}ids"))
                        .arg(format!("[{ns}:"))
                        .arg(format!("({ns};"))
                        .arg("LIMIT")
                        .arg(0)
                        .arg(limit);
                }
            }
        }
        let mut conn = self.conn();
        let mut replies: Vec<Vec<String>> = self.bounded(pipe.query_async(&mut conn)).await?;
        if replies.iter().any(|r| r.len() > max) {
            return Ok(Candidates::TooMany);
        }
        let arrays = replies.remove(0);
        let scanned: Vec<String> = if scan {
            replies.split_off(lookups.len()).concat()
        } else {
            Vec::new()
        };
        let results: Vec<HashSet<String>> = replies
            .into_iter()
            .zip(&lookups)
            .map(|(r, l)| match l {
                Lookup::Text { .. } | Lookup::Bool { .. } => {
                    r.iter().map(|m| id_of_member(m).to_owned()).collect()
                }
                _ => r.into_iter().collect(),
            })
            .collect();
        let mut ids: HashSet<String> = match combine(plan, &mut results.into_iter()) {
            Some(set) => set,
            None => scanned.into_iter().collect(),
        };
        ids.extend(arrays);
        let in_namespace = |id: &String| {
            namespaces.is_empty()
                || namespaces.iter().any(|ns| {
                    id.strip_prefix(ns.as_str())
                        .is_some_and(|r| r.starts_with(':'))
                })
        };
        let mut ids: Vec<String> = ids.into_iter().filter(in_namespace).collect();
        if ids.len() > max {
            return Ok(Candidates::TooMany);
        }
        ids.sort();
        Ok(Candidates::Ids(ids))
    }
}

impl Store {
    /// Up to `limit` thing ids of `shard` within `namespaces` (empty: all), in id order, after
    /// `after` (exclusive): a scan that walks the index in `thingId` order instead of reading
    /// every twin of the shard.
    pub async fn search_ids_after(
        &self,
        shard: u32,
        namespaces: &[String],
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, HubError> {
        let key = format!("{}ids", self.keys.search_index(shard));
        let from = |floor: Option<String>| match (after, floor) {
            (Some(a), Some(f)) if a < f.as_str() => format!("[{f}"),
            (Some(a), _) => format!("({a}"),
            (None, Some(f)) => format!("[{f}"),
            (None, None) => "-".into(),
        };
        let mut pipe = redis::pipe();
        if namespaces.is_empty() {
            pipe.cmd("ZRANGEBYLEX")
                .arg(&key)
                .arg(from(None))
                .arg("+")
                .arg("LIMIT")
                .arg(0)
                .arg(limit);
        }
        for ns in namespaces {
            pipe.cmd("ZRANGEBYLEX")
                .arg(&key)
                .arg(from(Some(format!("{ns}:"))))
                .arg(format!("({ns};"))
                .arg("LIMIT")
                .arg(0)
                .arg(limit);
        }
        let mut conn = self.conn();
        let replies: Vec<Vec<String>> = self.bounded(pipe.query_async(&mut conn)).await?;
        let mut ids = replies.concat();
        ids.sort();
        ids.dedup();
        ids.truncate(limit);
        Ok(ids)
    }
}

/// Appends the index section of `commit.lua` / `search_backfill.lua` (see `search_index.lua`).
pub(super) fn index_args(
    inv: &mut redis::ScriptInvocation<'_>,
    prefix: &str,
    index: &[IndexUpdate],
) {
    inv.arg(prefix).arg(index.len());
    for u in index {
        inv.arg(&u.thing_id).arg(match u.ids {
            IdsChange::Keep => "",
            IdsChange::Add => "+",
            IdsChange::Remove => "-",
        });
        for entries in [&u.removed, &u.added] {
            inv.arg(entries.len());
            for e in entries {
                inv.arg(e.kind).arg(&e.path).arg(&e.value);
            }
        }
    }
}

impl Store {
    /// Whether every twin of `shard` is in its search index (`sx:built`).
    pub async fn search_index_built(&self, shard: u32) -> Result<bool, HubError> {
        let built: Option<String> = self
            .bounded(
                redis::cmd("GET")
                    .arg(format!("{}built", self.keys.search_index(shard)))
                    .query_async(&mut self.conn()),
            )
            .await?;
        Ok(built.is_some())
    }

    /// One step of a `SCAN` over `shard`'s thing keys: the next cursor and the thing ids found.
    pub async fn scan_things(
        &self,
        shard: u32,
        cursor: u64,
        count: usize,
    ) -> Result<(u64, Vec<String>), HubError> {
        let prefix = self.keys.thing(shard, "");
        let mut scan = redis::cmd("SCAN");
        scan.arg(cursor)
            .arg("MATCH")
            .arg(format!("{}*", glob_escape(&prefix)))
            .arg("COUNT")
            .arg(count);
        // `SCAN` walks one server: on a Redis Cluster, the primary serving the shard's slot
        // (every key of the shard carries its hash tag, so they all live there).
        let mut conn = self.conn();
        let (next, keys): (u64, Vec<String>) = self
            .bounded(conn.query_at(prefix.as_bytes(), &scan))
            .await?;
        let ids = keys
            .into_iter()
            .filter_map(|k| k.strip_prefix(&prefix).map(str::to_owned))
            .collect();
        Ok((next, ids))
    }

    /// Writes the index entries of `index` for `shard` if this hub still holds its lease
    /// (`token`); `last` marks the shard's index built.
    pub async fn search_backfill(
        &self,
        shard: u32,
        token: &str,
        index: &[IndexUpdate],
        last: bool,
    ) -> Result<(), HubError> {
        let script = redis::Script::new(scripts::SEARCH_BACKFILL);
        let mut inv = script.prepare_invoke();
        inv.key(self.keys.lease(shard))
            .arg(token)
            .arg(if last { "1" } else { "0" });
        index_args(&mut inv, &self.keys.search_index(shard), index);
        let mut conn = self.conn();
        match self.bounded(inv.invoke_async::<i64>(&mut conn)).await {
            Err(HubError::Redis(e)) if e.to_string().contains(scripts::FENCED) => {
                Err(HubError::Fenced(shard))
            }
            other => other.map(|_| ()),
        }
    }
}

/// `s` with the glob characters of `SCAN MATCH` escaped (the prefix holds `{` `}` only, but a
/// configured prefix may hold anything).
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
