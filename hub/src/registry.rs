//! Every session's subscriptions, cluster-wide, held by every hub (DESIGN.md §3). Subscriptions
//! with identical parameters form one group (`SubRecord::group_key`); a group's filter is compiled
//! once and evaluated once per signal, and the group remembers on which nodes it has members, so
//! fan-out cost follows the number of distinct subscriptions, not of sessions.
//!
//! Loading notes the last id of `tw:subs`, reads every node's hash, then tails the stream from the
//! noted id, so no change falls in between. The round calls
//! [`SubscriptionRegistry::catch_up`] after reading a batch of commands and before fanning it out
//! (the causality rule).

use crate::error::HubError;
use crate::metrics::Metrics;
use crate::shares::{Member, Shares};
use crate::store::Store;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use twinwire_common::bus::{
    parse_stream_id, parse_sub_field, Delivery, SubChange, SubRecord, SUBS_STREAM_MAXLEN,
    SUBS_STREAM_RETENTION_MS,
};
use twinwire_common::protocol::StreamingKind;
use twinwire_common::rql;
use twinwire_common::things::FieldSelector;

/// Subscription changes read per catch-up round. At most the stream's bound, so that a full first
/// batch is the sign that trimming may have overtaken this hub (see `overtaken`).
const CATCH_UP_COUNT: usize = SUBS_STREAM_MAXLEN;

/// A hub that has not read the change stream for this long may have missed changes trimmed by
/// age: half the retention, a wide margin for clocks that disagree.
const STALE_AFTER: Duration = Duration::from_millis(SUBS_STREAM_RETENTION_MS / 2);

/// Sessions with the same subscription parameters.
pub struct SubscriptionGroup {
    pub key: String,
    pub kind: StreamingKind,
    pub record: SubRecord,
    /// The compiled filter; `Err` when it does not compile, and then nothing matches.
    pub filter: Option<Result<rql::Filter, ()>>,
    pub extra: Option<FieldSelector>,
    /// Members per gateway node.
    pub nodes: HashMap<String, u32>,
}

impl SubscriptionGroup {
    pub(crate) fn new(key: String, kind: StreamingKind, record: SubRecord) -> SubscriptionGroup {
        let filter = record
            .filter
            .as_deref()
            .map(|f| rql::parse(f).map_err(|_| ()));
        let extra = record
            .extra_fields
            .as_deref()
            .and_then(|x| FieldSelector::parse(x).ok());
        SubscriptionGroup {
            key,
            kind,
            record,
            filter,
            extra,
            nodes: HashMap::new(),
        }
    }

    /// Namespace rule of reference §5.1: exact match, or no namespaces given.
    pub fn wants_namespace(&self, ns: &str) -> bool {
        self.record.namespaces.is_empty() || self.record.namespaces.iter().any(|n| n == ns)
    }
}

pub struct SubscriptionRegistry {
    metrics: Arc<Metrics>,
    groups: HashMap<String, SubscriptionGroup>,
    by_kind: HashMap<StreamingKind, HashSet<String>>,
    /// (node, session, kind) → group key.
    members: HashMap<(String, u64, StreamingKind), String>,
    /// Position in `tw:subs` up to which changes are applied.
    last_id: String,
    /// When the change stream was last read to its end.
    caught_up: Instant,
    /// Nodes that reset their hash and must be reloaded.
    reload: HashSet<String>,
    /// Shared subscriptions: sessions whose record names a share are members there, not in a
    /// subscription group (`members` maps them to their share key).
    pub shares: Shares,
    /// Nodes that left (drained or reaped) since the last catch-up: their unread deliveries are
    /// taken for the shares' other members.
    gone: Vec<String>,
    /// Deliveries giving a gone node's unread share signals to other members, for the round.
    pub redispatch_pending: Vec<(String, Delivery)>,
}

impl SubscriptionRegistry {
    /// `share_retention`: how long a shared subscription without members keeps its events.
    pub fn new(metrics: Arc<Metrics>, share_retention: Duration) -> SubscriptionRegistry {
        SubscriptionRegistry {
            shares: Shares::new(share_retention),
            gone: Vec::new(),
            redispatch_pending: Vec::new(),
            metrics,
            groups: HashMap::new(),
            by_kind: HashMap::new(),
            members: HashMap::new(),
            last_id: "0-0".into(),
            caught_up: Instant::now(),
            reload: HashSet::new(),
        }
    }

    /// Groups of one kind.
    pub fn subscription_groups(
        &self,
        kind: StreamingKind,
    ) -> impl Iterator<Item = &SubscriptionGroup> {
        self.by_kind
            .get(&kind)
            .into_iter()
            .flat_map(|keys| keys.iter().filter_map(|k| self.groups.get(k)))
    }

    /// The group of one session's subscription of `kind` (resume replays to that one session).
    pub fn group_of(
        &self,
        node: &str,
        session: u64,
        kind: StreamingKind,
    ) -> Option<&SubscriptionGroup> {
        let key = self.members.get(&(node.to_owned(), session, kind))?;
        self.groups.get(key)
    }

    pub fn nodes(&self) -> HashSet<String> {
        self.members.keys().map(|(n, _, _)| n.clone()).collect()
    }

    fn add(&mut self, node: &str, session: u64, kind: StreamingKind, record: SubRecord) {
        let share = record.share_key(kind);
        let key = share.clone().unwrap_or_else(|| record.group_key(kind));
        let member = (node.to_owned(), session, kind);
        if let Some(old) = self.members.get(&member) {
            if *old == key {
                return;
            }
            self.remove(node, session, kind);
        }
        // Shared subscriptions: hook into `shares` (DESIGN.md "Shared subscriptions").
        if share.is_some() {
            let m = Member {
                node: node.to_owned(),
                session,
            };
            self.shares.add(&key, kind, m, &record);
            self.members.insert(member, key);
            return;
        }
        let group = self
            .groups
            .entry(key.clone())
            .or_insert_with(|| SubscriptionGroup::new(key.clone(), kind, record));
        *group.nodes.entry(node.to_owned()).or_insert(0) += 1;
        self.by_kind.entry(kind).or_default().insert(key.clone());
        self.members.insert(member, key);
    }

    fn remove(&mut self, node: &str, session: u64, kind: StreamingKind) {
        let Some(key) = self.members.remove(&(node.to_owned(), session, kind)) else {
            return;
        };
        let m = Member {
            node: node.to_owned(),
            session,
        };
        if self.shares.remove(&key, &m) {
            return;
        }
        let mut empty = false;
        if let Some(g) = self.groups.get_mut(&key) {
            if let Some(n) = g.nodes.get_mut(node) {
                *n -= 1;
                if *n == 0 {
                    g.nodes.remove(node);
                }
            }
            empty = g.nodes.is_empty();
        }
        if empty {
            self.groups.remove(&key);
            if let Some(set) = self.by_kind.get_mut(&kind) {
                set.remove(&key);
            }
        }
    }

    /// Drops every subscription of `node`.
    pub fn drop_node(&mut self, node: &str) {
        let gone: Vec<(u64, StreamingKind)> = self
            .members
            .keys()
            .filter(|(n, _, _)| n == node)
            .map(|(_, s, k)| (*s, *k))
            .collect();
        for (s, k) in gone {
            self.remove(node, s, k);
        }
    }

    pub fn apply(&mut self, change: SubChange) {
        match change {
            SubChange::Add {
                node,
                session,
                kind,
                record,
            } => self.add(&node, session, kind, record),
            SubChange::Remove {
                node,
                session,
                kind,
            } => self.remove(&node, session, kind),
            SubChange::SessionEnd { node, session } => {
                for k in StreamingKind::ALL {
                    self.remove(&node, session, k);
                }
            }
            SubChange::NodeReset { node } => {
                self.drop_node(&node);
                self.reload.insert(node);
            }
            SubChange::NodeGone { node } => {
                self.drop_node(&node);
                self.reload.remove(&node);
                self.gone.push(node);
            }
        }
    }

    fn update_gauges(&self) {
        for k in StreamingKind::ALL {
            let groups = self.by_kind.get(&k).map(HashSet::len).unwrap_or(0);
            self.metrics
                .subscription_groups
                .with_label_values(&[k.as_str()])
                .set(groups as i64);
        }
        let mut per_kind: HashMap<StreamingKind, i64> = HashMap::new();
        for (_, _, k) in self.members.keys() {
            *per_kind.entry(*k).or_default() += 1;
        }
        for k in StreamingKind::ALL {
            self.metrics
                .subscriptions
                .with_label_values(&[k.as_str()])
                .set(per_kind.get(&k).copied().unwrap_or(0));
            let (shares, members) = self.shares.counts(k);
            self.metrics
                .shares
                .with_label_values(&[k.as_str()])
                .set(shares as i64);
            self.metrics
                .share_members
                .with_label_values(&[k.as_str()])
                .set(members as i64);
        }
    }

    async fn load_node(&mut self, store: &Store, node: &str) -> Result<(), HubError> {
        for (field, json) in store.node_subscriptions(node).await? {
            let (Some((session, kind)), Ok(record)) =
                (parse_sub_field(&field), SubRecord::decode(&json))
            else {
                tracing::warn!(node, field, "skipping malformed subscription record");
                continue;
            };
            self.add(node, session, kind, record);
        }
        Ok(())
    }

    /// Loads every node's subscriptions, remembering where the change stream stood before.
    pub async fn load(&mut self, store: &Store) -> Result<(), HubError> {
        self.last_id = store.sub_changes_tail().await?;
        self.caught_up = Instant::now();
        for n in store.subscribed_nodes().await? {
            self.load_node(store, &n).await?;
        }
        self.update_gauges();
        tracing::info!(
            groups = self.groups.len(),
            subscriptions = self.members.len(),
            "subscription registry loaded"
        );
        Ok(())
    }

    /// The first read of [`Self::catch_up`], to send with a round's command read (issue 13).
    pub fn catch_up_read(&self, keys: &twinwire_common::bus::Keys) -> crate::store::CatchUpRead {
        crate::store::CatchUpRead {
            key: keys.subs_stream(),
            from: self.last_id.clone(),
            count: CATCH_UP_COUNT,
        }
    }

    /// Applies every subscription change written so far; reloads everything instead when
    /// trimming may have removed changes this hub had not read.
    pub async fn catch_up(&mut self, store: &Store) -> Result<(), HubError> {
        if self.caught_up.elapsed() > STALE_AFTER {
            return self
                .reload_all(store, "this hub has not read them for too long")
                .await;
        }
        let mut changed = false;
        let mut first = true;
        loop {
            let entries = store
                .sub_changes_after(&self.last_id, CATCH_UP_COUNT)
                .await?;
            let n = entries.len();
            if first && n >= CATCH_UP_COUNT && self.overtaken(store).await? {
                return self
                    .reload_all(store, "more were written than the stream keeps")
                    .await;
            }
            first = false;
            for (id, change) in entries {
                self.last_id = id;
                match change {
                    Ok(c) => {
                        self.apply(c);
                        changed = true;
                    }
                    Err(error) => {
                        tracing::warn!(id = %self.last_id, %error, "skipping malformed subscription change")
                    }
                }
            }
            if n < CATCH_UP_COUNT {
                break;
            }
        }
        self.caught_up = Instant::now();
        // Shared subscriptions: what nodes that left never read goes to other members (a drained
        // gateway stops reading before it deregisters; a reaped one was taken by the reaper).
        for node in std::mem::take(&mut self.gone) {
            let unread = store.take_node_deliveries(&node).await?;
            let returned = crate::shares::unread_by(&node, unread);
            if !returned.is_empty() {
                self.metrics
                    .share_redispatched
                    .inc_by(returned.len() as u64);
                let out = self.shares.redispatch(&returned);
                self.redispatch_pending.extend(out);
            }
        }
        let reload: Vec<String> = self.reload.drain().collect();
        for node in reload {
            self.load_node(store, &node).await?;
            changed = true;
        }
        if changed {
            self.update_gauges();
        }
        Ok(())
    }

    /// Whether the stream was trimmed past this hub's position: its oldest entry is newer than
    /// the position. `MAXLEN ~` keeps at least `SUBS_STREAM_MAXLEN` entries, so this can only
    /// happen when at least that many are waiting, which is when it is asked. (It also answers
    /// yes when only the hub's own last entry was trimmed and the very next one is the oldest:
    /// then the reload was not needed, and costs only time.)
    async fn overtaken(&self, store: &Store) -> Result<bool, HubError> {
        let Some(head) = store.sub_changes_head().await? else {
            return Ok(false);
        };
        Ok(parse_stream_id(&head) > parse_stream_id(&self.last_id))
    }

    /// Forgets every subscription and loads the hashes again, from a new position.
    async fn reload_all(&mut self, store: &Store, why: &str) -> Result<(), HubError> {
        tracing::warn!(
            position = %self.last_id,
            "subscription changes may have been trimmed before this hub read them ({why}); reloading the registry"
        );
        self.groups.clear();
        self.by_kind.clear();
        self.members.clear();
        self.reload.clear();
        self.shares.clear();
        self.load(store).await
    }

    /// Drops the subscriptions and delivery streams of nodes whose liveness key lapsed. Returns
    /// the dead nodes and the deliveries that give what their share members never read to other
    /// members (DESIGN.md "Shared subscriptions").
    pub async fn reap_dead_nodes(
        &mut self,
        store: &Store,
    ) -> Result<(Vec<String>, Vec<(String, Delivery)>), HubError> {
        let nodes: Vec<String> = self.nodes().into_iter().collect();
        if nodes.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let alive = store.nodes_alive(&nodes).await?;
        let dead: Vec<String> = nodes
            .into_iter()
            .zip(alive)
            .filter(|(_, a)| !a)
            .map(|(n, _)| n)
            .collect();
        let mut redispatched = Vec::new();
        for n in &dead {
            tracing::info!(node = %n, "gateway node is gone; dropping its subscriptions");
            // Announce it, so every hub drops the node, then remove its keys.
            let unread = store.remove_dead_node(n).await?;
            self.drop_node(n);
            // Shared subscriptions: what the node's members never read goes to other members.
            let returned = crate::shares::unread_by(n, unread);
            self.metrics
                .share_redispatched
                .inc_by(returned.len() as u64);
            redispatched.extend(self.shares.redispatch(&returned));
        }
        if !dead.is_empty() {
            self.update_gauges();
        }
        Ok((dead, redispatched))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(subjects: &[&str], filter: Option<&str>) -> SubRecord {
        SubRecord {
            subjects: subjects.iter().map(|s| s.to_string()).collect(),
            namespaces: vec![],
            filter: filter.map(str::to_owned),
            extra_fields: None,
            api_version: 2,
            declared_acks: vec![],
            share: None,
        }
    }

    fn registry() -> SubscriptionRegistry {
        SubscriptionRegistry::new(Arc::new(Metrics::new()), Duration::from_secs(60))
    }

    fn add(r: &mut SubscriptionRegistry, node: &str, session: u64, record: SubRecord) {
        r.apply(SubChange::Add {
            node: node.into(),
            session,
            kind: StreamingKind::Events,
            record,
        });
    }

    #[test]
    fn identical_subscriptions_share_a_group_that_counts_members_per_node() {
        let mut r = registry();
        add(&mut r, "n1", 1, rec(&["a:1"], None));
        add(&mut r, "n1", 2, rec(&["a:1"], None));
        add(&mut r, "n2", 3, rec(&["a:1"], None));
        add(&mut r, "n2", 4, rec(&["b:2"], None));
        let groups: Vec<&SubscriptionGroup> =
            r.subscription_groups(StreamingKind::Events).collect();
        assert_eq!(groups.len(), 2);
        let g = r
            .subscription_groups(StreamingKind::Events)
            .find(|g| g.record.subjects == ["a:1"])
            .unwrap();
        assert_eq!(g.nodes.get("n1"), Some(&2));
        assert_eq!(g.nodes.get("n2"), Some(&1));
        assert_eq!(r.subscription_groups(StreamingKind::Messages).count(), 0);
    }

    #[test]
    fn removals_session_ends_and_node_loss_empty_groups() {
        let mut r = registry();
        add(&mut r, "n1", 1, rec(&["a:1"], None));
        add(&mut r, "n1", 2, rec(&["a:1"], Some("exists(attributes/a)")));
        add(&mut r, "n2", 3, rec(&["a:1"], None));
        r.apply(SubChange::Remove {
            node: "n1".into(),
            session: 1,
            kind: StreamingKind::Events,
        });
        r.apply(SubChange::SessionEnd {
            node: "n1".into(),
            session: 2,
        });
        assert_eq!(r.subscription_groups(StreamingKind::Events).count(), 1);
        r.apply(SubChange::NodeGone { node: "n2".into() });
        assert_eq!(r.subscription_groups(StreamingKind::Events).count(), 0);
        assert!(r.members.is_empty());
    }

    #[test]
    fn resubscribing_with_other_parameters_moves_the_session() {
        let mut r = registry();
        add(&mut r, "n1", 1, rec(&["a:1"], None));
        add(&mut r, "n1", 1, rec(&["a:1"], Some("exists(attributes/a)")));
        let groups: Vec<&SubscriptionGroup> =
            r.subscription_groups(StreamingKind::Events).collect();
        assert_eq!(groups.len(), 1);
        assert_eq!(
            groups[0].record.filter.as_deref(),
            Some("exists(attributes/a)")
        );
        assert!(matches!(groups[0].filter, Some(Ok(_))));
    }

    #[test]
    fn a_filter_that_does_not_compile_is_kept_as_broken() {
        let mut r = registry();
        add(&mut r, "n1", 1, rec(&["a:1"], Some("eq(")));
        assert!(matches!(
            r.subscription_groups(StreamingKind::Events)
                .next()
                .unwrap()
                .filter,
            Some(Err(()))
        ));
    }
}
