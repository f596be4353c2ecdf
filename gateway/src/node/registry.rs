//! The sessions of this node and their subscriptions: who the inbox can deliver to, and what to
//! write back into Redis when the node must re-register (DESIGN.md §3, "A gateway that reconnects to
//! Redis rewrites its whole hash").

use crate::session::{DeliverBatch, SessionControl};
use actix::Recipient;
use parking_lot::RwLock;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use twinwire_common::bus::SubRecord;
use twinwire_common::protocol::StreamingKind;

/// How the inbox reaches one session.
#[derive(Clone)]
pub struct SessionHandle {
    pub deliver: Recipient<DeliverBatch>,
    pub control: Recipient<SessionControl>,
    /// Cancelled to end a session at once, even while it waits on a stuck socket.
    pub kill: CancellationToken,
    /// Frames queued in the session's mailbox and not yet taken: its outbound queue's length.
    pub queued: Arc<AtomicUsize>,
}

#[derive(Default)]
pub struct Inner {
    pub sessions: HashMap<u64, SessionHandle>,
    /// Each subscription with its group key.
    subs: HashMap<(u64, StreamingKind), (SubRecord, String)>,
    /// Subscription group key → the sessions of this node in it (hubs address groups, not sessions).
    pub groups: HashMap<String, HashSet<u64>>,
}

impl Inner {
    fn unlink(&mut self, id: u64, key: &str) {
        if let Some(members) = self.groups.get_mut(key) {
            members.remove(&id);
            if members.is_empty() {
                self.groups.remove(key);
            }
        }
    }
}

#[derive(Default)]
pub struct Registry {
    inner: RwLock<Inner>,
}

impl Registry {
    pub fn insert_session(&self, id: u64, handle: SessionHandle) {
        self.inner.write().sessions.insert(id, handle);
    }

    /// Forgets a session and its subscriptions; returns the kinds it had.
    pub fn remove_session(&self, id: u64) -> Vec<StreamingKind> {
        let mut g = self.inner.write();
        g.sessions.remove(&id);
        let mut kinds = Vec::new();
        for k in StreamingKind::ALL {
            if let Some((_, key)) = g.subs.remove(&(id, k)) {
                g.unlink(id, &key);
                kinds.push(k);
            }
        }
        kinds
    }

    pub fn set_sub(&self, id: u64, kind: StreamingKind, record: SubRecord) {
        let key = record.group_key(kind);
        let mut g = self.inner.write();
        if let Some((_, old)) = g.subs.remove(&(id, kind)) {
            g.unlink(id, &old);
        }
        g.groups.entry(key.clone()).or_default().insert(id);
        g.subs.insert((id, kind), (record, key));
    }

    pub fn remove_sub(&self, id: u64, kind: StreamingKind) {
        let mut g = self.inner.write();
        if let Some((_, key)) = g.subs.remove(&(id, kind)) {
            g.unlink(id, &key);
        }
    }

    pub fn get(&self, id: u64) -> Option<SessionHandle> {
        self.inner.read().sessions.get(&id).cloned()
    }

    /// Runs `f` with read access to sessions and groups, for dispatching under one lock.
    pub fn with<R>(&self, f: impl FnOnce(&Inner) -> R) -> R {
        f(&self.inner.read())
    }

    pub fn all_subs(&self) -> Vec<((u64, StreamingKind), SubRecord)> {
        self.inner
            .read()
            .subs
            .iter()
            .map(|(k, (r, _))| (*k, r.clone()))
            .collect()
    }

    pub fn session_ids(&self) -> Vec<u64> {
        self.inner.read().sessions.keys().copied().collect()
    }

    pub fn session_count(&self) -> usize {
        self.inner.read().sessions.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(filter: Option<&str>) -> SubRecord {
        SubRecord {
            subjects: vec!["nginx:ditto".into()],
            namespaces: vec![],
            filter: filter.map(str::to_owned),
            extra_fields: None,
            api_version: 2,
            declared_acks: vec![],
        }
    }

    #[test]
    fn sessions_move_between_groups_and_empty_groups_disappear() {
        let r = Registry::default();
        let k_all = rec(None).group_key(StreamingKind::Events);
        let k_f = rec(Some("exists(attributes/a)")).group_key(StreamingKind::Events);
        r.set_sub(1, StreamingKind::Events, rec(None));
        r.set_sub(2, StreamingKind::Events, rec(None));
        r.with(|g| assert_eq!(g.groups[&k_all].len(), 2));
        r.set_sub(2, StreamingKind::Events, rec(Some("exists(attributes/a)")));
        r.with(|g| {
            assert_eq!(g.groups[&k_all].len(), 1);
            assert_eq!(g.groups[&k_f].len(), 1);
        });
        r.remove_sub(2, StreamingKind::Events);
        r.with(|g| assert!(!g.groups.contains_key(&k_f)));
        assert_eq!(r.remove_session(1), vec![StreamingKind::Events]);
        r.with(|g| assert!(g.groups.is_empty()));
    }
}
