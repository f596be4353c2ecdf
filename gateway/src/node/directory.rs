//! The directory of this node's sessions: how each is reached (its handle and the messages a
//! session accepts), each session's subscription records, and the subscription groups they form
//! (DESIGN.md "subscription group": hubs address groups, not sessions). It is what both the inbox
//! and the sessions depend on: a session registers itself here and never the reverse, as in
//! actix's chat example. It is also what the node writes back into Redis when it must re-register
//! (DESIGN.md §3, "A gateway that reconnects to Redis rewrites its whole hash").

use actix::prelude::*;
use bytestring::ByteString;
use parking_lot::RwLock;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use twinwire_common::bus::{JournalPos, Reply, SubRecord};
use twinwire_common::protocol::StreamingKind;

/// Frames from the bus for one session, in stream order: the inbox sends one batch per session
/// per read, so a session's mailbox, wake-up and write burst are paid once per batch, not per frame.
/// The instant is when the inbox's read returned (the `inbox` hop, crate::hops).
#[derive(Message)]
#[rtype(result = "()")]
pub struct DeliverBatch(pub Vec<Deliver>, pub std::time::Instant);

/// A frame from the bus for one session.
pub struct Deliver {
    /// The serialized frame, shared with every other session receiving it.
    pub frame: ByteString,
    /// The subscription kind it was delivered for; `None` for responses.
    pub kind: Option<StreamingKind>,
    /// When the hub wrote it, ms since the epoch (0 if unknown).
    pub written_ms: u64,
    /// For a live signal that wants an answer: where this session's response goes.
    pub reply: Option<Reply>,
    /// An answer from another session (live response, acknowledgement), to be matched against
    /// what this session asked before it is written.
    pub live: bool,
    /// For journaled events: where the event is, for the session's resume token (issue 16).
    pub resume: Option<ResumeMark>,
    /// For a frame a shared subscription picked this session for: gives it back to the share
    /// unless it is written (see `give_back`).
    pub give_back: Option<super::give_back::GiveBack>,
}

/// What a session needs of a journaled event for its resume token (issue 16).
#[derive(Debug, Clone)]
pub enum ResumeMark {
    /// A live event; `base` is the node's least watermark when the event was dispatched; `class`
    /// what it does to the position its subscription group's sessions share
    /// (`position_class`).
    Live {
        pos: JournalPos,
        base: (u64, u64),
        class: Option<Arc<super::position_class::ClassStep>>,
    },
    /// An event replayed to this session alone.
    Replayed { pos: JournalPos },
    /// The replay of `shard` is complete (`expired`: it could not be exact); the frame is empty.
    Done { shard: u32, expired: bool },
}

/// Orders from the node to a session.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub enum SessionControl {
    /// Send `frame` if given, then close with `code` and `reason`.
    Close {
        code: u16,
        reason: String,
        frame: Option<ByteString>,
    },
    /// The gateway is shutting down: close with 1001 (going away).
    Drain,
    /// The outbound queue overflowed.
    SlowConsumer,
}

/// Where the inbox puts a session's batches.
#[derive(Clone)]
pub enum Inlet {
    /// A WebSocket session: through its worker thread's queue (`worker_queue`), closes too.
    Worker(Arc<super::worker_queue::WorkerQueue>),
    /// Any other session (SSE): its actor's mailbox.
    Mailbox(Recipient<DeliverBatch>),
}

/// How the inbox reaches one session.
#[derive(Clone)]
pub struct SessionHandle {
    pub deliver: Inlet,
    pub control: Recipient<SessionControl>,
    /// Cancelled to end a session at once, even while it waits on a stuck socket.
    pub kill: CancellationToken,
    /// Frames queued in the session's mailbox and not yet taken: its outbound queue's length.
    pub queued: Arc<AtomicUsize>,
}

/// The directory's contents, read under one lock by the inbox while it dispatches a read.
#[derive(Default)]
pub struct Entries {
    sessions: HashMap<u64, SessionHandle>,
    /// Each subscription with its subscription group key.
    subscriptions: HashMap<(u64, StreamingKind), (SubRecord, String)>,
    /// Subscription group key → the sessions of this node in it.
    subscription_groups: HashMap<String, HashSet<u64>>,
}

impl Entries {
    /// How to reach session `id`, while it lives.
    pub fn session(&self, id: u64) -> Option<&SessionHandle> {
        self.sessions.get(&id)
    }

    /// The sessions of this node in the subscription group `key`.
    pub fn group_members(&self, key: &str) -> impl Iterator<Item = u64> + '_ {
        self.subscription_groups
            .get(key)
            .into_iter()
            .flat_map(|members| members.iter().copied())
    }

    fn leave_group(&mut self, id: u64, key: &str) {
        if let Some(members) = self.subscription_groups.get_mut(key) {
            members.remove(&id);
            if members.is_empty() {
                self.subscription_groups.remove(key);
            }
        }
    }
}

/// This node's sessions and their subscriptions.
#[derive(Default)]
pub struct SessionDirectory {
    entries: RwLock<Entries>,
}

impl SessionDirectory {
    pub fn insert_session(&self, id: u64, handle: SessionHandle) {
        self.entries.write().sessions.insert(id, handle);
    }

    /// Forgets a session and its subscriptions; returns the kinds it had.
    pub fn remove_session(&self, id: u64) -> Vec<StreamingKind> {
        let mut g = self.entries.write();
        g.sessions.remove(&id);
        let mut kinds = Vec::new();
        for k in StreamingKind::ALL {
            if let Some((_, key)) = g.subscriptions.remove(&(id, k)) {
                g.leave_group(id, &key);
                kinds.push(k);
            }
        }
        kinds
    }

    /// Sets session `id`'s subscription of `kind` (moving it to the record's group); returns the
    /// record it replaces.
    pub fn subscribe(&self, id: u64, kind: StreamingKind, record: SubRecord) -> Option<SubRecord> {
        let key = record.group_key(kind);
        let mut g = self.entries.write();
        let previous = g.subscriptions.remove(&(id, kind)).map(|(old, old_key)| {
            g.leave_group(id, &old_key);
            old
        });
        g.subscription_groups
            .entry(key.clone())
            .or_default()
            .insert(id);
        g.subscriptions.insert((id, kind), (record, key));
        previous
    }

    /// Ends session `id`'s subscription of `kind`; returns its record.
    pub fn unsubscribe(&self, id: u64, kind: StreamingKind) -> Option<SubRecord> {
        let mut g = self.entries.write();
        let (record, key) = g.subscriptions.remove(&(id, kind))?;
        g.leave_group(id, &key);
        Some(record)
    }

    /// Puts back the subscription `previous` (or none) after a change failed.
    pub fn restore(&self, id: u64, kind: StreamingKind, previous: Option<SubRecord>) {
        match previous {
            Some(p) => {
                self.subscribe(id, kind, p);
            }
            None => {
                self.unsubscribe(id, kind);
            }
        }
    }

    /// How to reach session `id`, while it lives.
    pub fn session(&self, id: u64) -> Option<SessionHandle> {
        self.entries.read().sessions.get(&id).cloned()
    }

    /// Runs `f` with read access to sessions and groups, for dispatching under one lock.
    pub fn read<R>(&self, f: impl FnOnce(&Entries) -> R) -> R {
        f(&self.entries.read())
    }

    /// Every subscription of this node, for rewriting its hash in Redis.
    pub fn all_subscriptions(&self) -> Vec<((u64, StreamingKind), SubRecord)> {
        self.entries
            .read()
            .subscriptions
            .iter()
            .map(|(k, (r, _))| (*k, r.clone()))
            .collect()
    }

    /// Whether any session of this node subscribed to anything.
    pub fn has_subscriptions(&self) -> bool {
        !self.entries.read().subscriptions.is_empty()
    }

    pub fn session_ids(&self) -> Vec<u64> {
        self.entries.read().sessions.keys().copied().collect()
    }

    pub fn session_count(&self) -> usize {
        self.entries.read().sessions.len()
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
            share: None,
        }
    }

    #[test]
    fn sessions_move_between_groups_and_empty_groups_disappear() {
        let d = SessionDirectory::default();
        let k_all = rec(None).group_key(StreamingKind::Events);
        let k_f = rec(Some("exists(attributes/a)")).group_key(StreamingKind::Events);
        assert!(d.subscribe(1, StreamingKind::Events, rec(None)).is_none());
        d.subscribe(2, StreamingKind::Events, rec(None));
        d.read(|g| assert_eq!(g.group_members(&k_all).count(), 2));
        let previous = d.subscribe(2, StreamingKind::Events, rec(Some("exists(attributes/a)")));
        assert_eq!(previous.map(|p| p.filter), Some(None));
        d.read(|g| {
            assert_eq!(g.group_members(&k_all).count(), 1);
            assert_eq!(g.group_members(&k_f).count(), 1);
        });
        assert!(d.unsubscribe(2, StreamingKind::Events).is_some());
        d.read(|g| assert!(!g.subscription_groups.contains_key(&k_f)));
        assert_eq!(d.remove_session(1), vec![StreamingKind::Events]);
        d.read(|g| assert!(g.subscription_groups.is_empty()));
    }

    #[test]
    fn a_failed_change_restores_the_previous_subscription_or_none() {
        let d = SessionDirectory::default();
        let k_all = rec(None).group_key(StreamingKind::Events);
        let k_f = rec(Some("exists(attributes/a)")).group_key(StreamingKind::Events);
        let previous = d.subscribe(1, StreamingKind::Events, rec(None));
        let failed = d.subscribe(1, StreamingKind::Events, rec(Some("exists(attributes/a)")));
        d.restore(1, StreamingKind::Events, failed);
        d.read(|g| {
            assert_eq!(g.group_members(&k_all).collect::<Vec<_>>(), vec![1]);
            assert_eq!(g.group_members(&k_f).count(), 0);
        });
        d.restore(1, StreamingKind::Events, previous);
        assert!(d.all_subscriptions().is_empty());
    }
}
