//! Shared subscriptions (`group=` on a START; DESIGN.md "Shared subscriptions"): sessions, on any
//! gateway, whose subscriptions have the same kind, subjects, parameters and share name form one
//! share, and each signal matching it goes to exactly one member. Every hub tracks the shares
//! cluster-wide from the same subscription records as the registry's subscription groups (the
//! records carry the share), so every hub picks the same member for a thing.
//!
//! These are not the registry's *subscription groups*: those are every session with identical
//! parameters, each receiving every signal; a share's members split its signals.
//!
//! Events that match a share while it has no member are kept here, in the memory of the hub that
//! owns the event's shard, for `groups.retention_secs`; the first member to join gets them
//! (`take_kept`). After that they are dropped and counted. Messages and live commands are never
//! kept: with no member they time out at the sender as today.

pub mod pick;
pub mod targets;

use crate::registry::SubscriptionGroup;
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use twinwire_common::bus::{
    thing_of_frame, Delivery, Origin, Reply, ReturnedSignal, ShareDispatch, SubRecord,
};
use twinwire_common::protocol::StreamingKind;

/// Events kept per share while it has no member, at most; older ones are dropped (and counted)
/// first. Bounds what a share nobody reads can make a hub hold.
pub const MAX_KEPT_PER_SHARE: usize = 10_000;

/// One member of a share: a session on a gateway node.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Member {
    pub node: String,
    pub session: u64,
}

/// A share: what its members see (evaluated once, like a subscription group) and who they are.
pub struct Share {
    pub key: String,
    pub kind: StreamingKind,
    pub dispatch: ShareDispatch,
    /// The share's subscription without declared acknowledgement labels (each member's own are
    /// in `members`): namespace, permission, filter and extraFields are decided with it.
    pub view: SubscriptionGroup,
    /// Members in a stable order, each with the labels it declared.
    pub members: BTreeMap<Member, Vec<String>>,
    /// Round-robin position, per hub.
    turn: AtomicUsize,
    /// When the last member left; the share is forgotten `retention` later.
    pub empty_since: Option<Instant>,
}

impl Share {
    /// The member that gets a signal about `thing_id`, never `exclude` (the session that caused
    /// it: sessions do not receive their own signals), with its declared labels.
    pub fn pick(&self, thing_id: &str, exclude: Option<&Member>) -> Option<(&Member, &[String])> {
        let candidates = || self.members.keys().filter(|m| Some(*m) != exclude);
        let member = match self.dispatch {
            ShareDispatch::ByThing => pick::by_thing(thing_id, candidates())?,
            ShareDispatch::RoundRobin => {
                let n = candidates().count();
                if n == 0 {
                    return None;
                }
                let turn = self.turn.fetch_add(1, Ordering::Relaxed);
                candidates().nth(turn % n)?
            }
        };
        self.members
            .get_key_value(member)
            .map(|(m, l)| (m, l.as_slice()))
    }
}

/// An event a share got while it had no member.
pub struct KeptEvent {
    pub thing_id: String,
    pub frame: String,
    pub written_ms: u64,
    pub reply: Option<Reply>,
    pub kept_at: Instant,
}

/// Every share, cluster-wide.
pub struct Shares {
    retention: Duration,
    shares: HashMap<String, Share>,
    by_kind: HashMap<StreamingKind, HashSet<String>>,
    /// Events kept for shares without members (behind a lock: fan-out reads the registry shared).
    kept: Mutex<HashMap<String, VecDeque<KeptEvent>>>,
    /// Events dropped for want of a member since last asked (for the metric).
    dropped: AtomicUsize,
}

impl Shares {
    pub fn new(retention: Duration) -> Shares {
        Shares {
            retention,
            shares: HashMap::new(),
            by_kind: HashMap::new(),
            kept: Mutex::new(HashMap::new()),
            dropped: AtomicUsize::new(0),
        }
    }

    /// Shares of one kind (with or without members).
    pub fn of_kind(&self, kind: StreamingKind) -> impl Iterator<Item = &Share> {
        self.by_kind
            .get(&kind)
            .into_iter()
            .flat_map(|keys| keys.iter().filter_map(|k| self.shares.get(k)))
    }

    /// Adds a member; `key` is the record's `share_key`.
    pub fn add(&mut self, key: &str, kind: StreamingKind, member: Member, record: &SubRecord) {
        let share = self.shares.entry(key.to_owned()).or_insert_with(|| {
            let mut shared = record.clone();
            shared.declared_acks.clear();
            Share {
                key: key.to_owned(),
                kind,
                dispatch: record
                    .share
                    .as_ref()
                    .map(|s| s.dispatch)
                    .unwrap_or_default(),
                view: SubscriptionGroup::new(key.to_owned(), kind, shared),
                members: BTreeMap::new(),
                turn: AtomicUsize::new(0),
                empty_since: None,
            }
        });
        share.members.insert(member, record.declared_acks.clone());
        share.empty_since = None;
        self.by_kind.entry(kind).or_default().insert(key.to_owned());
    }

    /// Removes a member; false when `key` is no share. A share of events left without members is
    /// kept for the retention, so its events wait for the next member.
    pub fn remove(&mut self, key: &str, member: &Member) -> bool {
        let Some(share) = self.shares.get_mut(key) else {
            return false;
        };
        share.members.remove(member);
        if share.members.is_empty() {
            if share.kind == StreamingKind::Events && !self.retention.is_zero() {
                share.empty_since.get_or_insert_with(Instant::now);
            } else {
                self.forget(key);
            }
        }
        true
    }

    fn forget(&mut self, key: &str) {
        if let Some(share) = self.shares.remove(key) {
            if let Some(set) = self.by_kind.get_mut(&share.kind) {
                set.remove(key);
            }
        }
        if let Some(gone) = self.kept.lock().remove(key) {
            self.dropped.fetch_add(gone.len(), Ordering::Relaxed);
        }
    }

    /// Forgets every share and kept event (before the registry reloads everything).
    pub fn clear(&mut self) {
        self.shares.clear();
        self.by_kind.clear();
        let mut kept = self.kept.lock();
        let n: usize = kept.values().map(VecDeque::len).sum();
        self.dropped.fetch_add(n, Ordering::Relaxed);
        kept.clear();
    }

    /// Keeps an event for `share`, which has no member now.
    pub fn keep(&self, share: &Share, event: KeptEvent) {
        let mut kept = self.kept.lock();
        let q = kept.entry(share.key.clone()).or_default();
        if q.len() >= MAX_KEPT_PER_SHARE {
            q.pop_front();
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        q.push_back(event);
    }

    /// Drops events and member-less shares older than the retention.
    pub fn expire(&mut self) {
        let now = Instant::now();
        let retention = self.retention;
        let expired: Vec<String> = self
            .shares
            .values()
            .filter(|s| {
                s.empty_since
                    .is_some_and(|t| now.duration_since(t) >= retention)
            })
            .map(|s| s.key.clone())
            .collect();
        for key in expired {
            self.forget(&key);
        }
        let mut kept = self.kept.lock();
        for q in kept.values_mut() {
            while q
                .front()
                .is_some_and(|e| now.duration_since(e.kept_at) >= retention)
            {
                q.pop_front();
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        kept.retain(|_, q| !q.is_empty());
    }

    /// Whether any share is known.
    pub fn any(&self) -> bool {
        !self.shares.is_empty()
    }

    /// Whether events wait for a member.
    pub fn has_kept(&self) -> bool {
        !self.kept.lock().is_empty()
    }

    /// Deliveries of the kept events of shares that have members again, each to the member it
    /// picks now, in the order they were kept.
    pub fn take_kept(&self) -> Vec<(String, Delivery)> {
        let mut kept = self.kept.lock();
        let ready: Vec<String> = kept
            .keys()
            .filter(|k| self.shares.get(*k).is_some_and(|s| !s.members.is_empty()))
            .cloned()
            .collect();
        let mut out = Vec::new();
        for key in ready {
            let (Some(share), Some(events)) = (self.shares.get(&key), kept.remove(&key)) else {
                continue;
            };
            for e in events {
                let Some((member, _)) = share.pick(&e.thing_id, None) else {
                    continue;
                };
                out.push((
                    member.node.clone(),
                    Delivery::Fanout {
                        kind: share.kind,
                        // A kept event is delivered after newer ones may have passed its node:
                        // without a position, the node's replay check does not drop it.
                        pos: None,
                        written_ms: e.written_ms,
                        exclude: None,
                        groups: Vec::new(),
                        reply: e.reply,
                        members: vec![(key.clone(), member.session, e.frame)],
                    },
                ));
            }
        }
        out
    }

    /// Deliveries of signals members gave back, each to another member of its share. An event
    /// whose share has no other member is kept as if it had just happened; anything else without
    /// a member is dropped (messages and live commands then time out at their sender).
    pub fn redispatch(&self, returned: &[ReturnedSignal]) -> Vec<(String, Delivery)> {
        let mut out = Vec::new();
        for r in returned {
            let Some(share) = self.shares.get(&r.share) else {
                if r.kind == StreamingKind::Events {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                }
                continue;
            };
            let gone = Member {
                node: r.member.node.clone(),
                session: r.member.session,
            };
            tracing::debug!(thing = %r.thing_id, from = ?gone, to = ?share.pick(&r.thing_id, Some(&gone)).map(|m| m.0), "dispatching a returned signal again");
            match share.pick(&r.thing_id, Some(&gone)) {
                Some((member, _)) => out.push((
                    member.node.clone(),
                    Delivery::Fanout {
                        kind: r.kind,
                        // Not a journal position: the node's replay check must not drop it.
                        pos: None,
                        written_ms: r.written_ms,
                        exclude: None,
                        groups: Vec::new(),
                        reply: r.reply(),
                        members: vec![(share.key.clone(), member.session, r.frame.clone())],
                    },
                )),
                None if r.kind == StreamingKind::Events => self.keep(
                    share,
                    KeptEvent {
                        thing_id: r.thing_id.clone(),
                        frame: r.frame.clone(),
                        written_ms: r.written_ms,
                        reply: r.reply(),
                        kept_at: Instant::now(),
                    },
                ),
                None => {}
            }
        }
        out
    }

    /// Events dropped for want of a member since the last call.
    pub fn take_dropped(&self) -> u64 {
        self.dropped.swap(0, Ordering::Relaxed) as u64
    }

    /// (shares with members, members) of `kind`, for the gauges.
    pub fn counts(&self, kind: StreamingKind) -> (usize, usize) {
        let live = self.of_kind(kind).filter(|s| !s.members.is_empty());
        let (mut shares, mut members) = (0, 0);
        for s in live {
            shares += 1;
            members += s.members.len();
        }
        (shares, members)
    }
}

/// The shared-subscription signals among the deliveries a dead node never read, as if its
/// members had given them back.
pub fn unread_by(node: &str, unread: Vec<Delivery>) -> Vec<ReturnedSignal> {
    let mut out = Vec::new();
    for d in unread {
        let Delivery::Fanout {
            kind,
            written_ms,
            reply,
            members,
            ..
        } = d
        else {
            continue;
        };
        for (share, session, frame) in members {
            let Some(thing_id) = thing_of_frame(&frame) else {
                continue;
            };
            let mut r = ReturnedSignal {
                share,
                kind,
                member: Origin {
                    node: node.to_owned(),
                    session,
                },
                thing_id,
                frame,
                reply_node: None,
                reply_session: None,
                reply_cid: None,
                written_ms,
            };
            r.set_reply(reply.as_ref());
            out.push(r);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use twinwire_common::bus::ShareSpec;

    fn record(dispatch: ShareDispatch, acks: &[&str]) -> SubRecord {
        SubRecord {
            subjects: vec!["nginx:ditto".into()],
            namespaces: vec![],
            filter: None,
            extra_fields: None,
            api_version: 2,
            declared_acks: acks.iter().map(|s| s.to_string()).collect(),
            share: Some(ShareSpec {
                name: "w".into(),
                dispatch,
            }),
        }
    }

    fn member(node: &str, session: u64) -> Member {
        Member {
            node: node.into(),
            session,
        }
    }

    fn kept(thing: &str, frame: &str) -> KeptEvent {
        KeptEvent {
            thing_id: thing.into(),
            frame: frame.into(),
            written_ms: 0,
            reply: None,
            kept_at: Instant::now(),
        }
    }

    fn returned(key: &str, from: &Member) -> ReturnedSignal {
        ReturnedSignal {
            share: key.into(),
            kind: StreamingKind::Events,
            member: Origin {
                node: from.node.clone(),
                session: from.session,
            },
            thing_id: "org.x:t".into(),
            frame: "F".into(),
            reply_node: None,
            reply_session: None,
            reply_cid: None,
            written_ms: 0,
        }
    }

    #[test]
    fn round_robin_takes_members_in_turn_and_never_the_sender() {
        let mut s = Shares::new(Duration::from_secs(60));
        let r = record(ShareDispatch::RoundRobin, &[]);
        let key = r.share_key(StreamingKind::Events).unwrap();
        for (n, sess) in [("a", 1), ("a", 2), ("b", 1)] {
            s.add(&key, StreamingKind::Events, member(n, sess), &r);
        }
        let share = s.of_kind(StreamingKind::Events).next().unwrap();
        let picks: Vec<Member> = (0..6)
            .map(|_| share.pick("t", None).unwrap().0.clone())
            .collect();
        assert_eq!(picks[..3], picks[3..]);
        assert_eq!(picks.iter().collect::<BTreeSet<_>>().len(), 3);
        let sender = member("a", 2);
        for _ in 0..4 {
            assert_ne!(share.pick("t", Some(&sender)).unwrap().0, &sender);
        }
    }

    #[test]
    fn events_wait_for_the_next_member_and_what_a_member_gives_back_goes_to_another() {
        let mut s = Shares::new(Duration::from_secs(60));
        let r = record(ShareDispatch::ByThing, &["l1"]);
        let key = r.share_key(StreamingKind::Events).unwrap();
        let (m1, m2) = (member("a", 1), member("b", 7));
        s.add(&key, StreamingKind::Events, m1.clone(), &r);
        s.add(&key, StreamingKind::Events, m2.clone(), &r);
        assert_eq!(s.counts(StreamingKind::Events), (1, 2));
        // Given back by m1: to m2, with the share key and no journal position.
        let out = s.redispatch(&[returned(&key, &m1)]);
        let [(node, Delivery::Fanout { pos, members, .. })] = out.as_slice() else {
            panic!("{out:?}");
        };
        assert_eq!((node.as_str(), *pos), ("b", None));
        assert_eq!(members, &vec![(key.clone(), 7, "F".to_string())]);
        // Both leave: the share stays for the retention, and keeps what comes meanwhile.
        assert!(s.remove(&key, &m1));
        assert!(s.remove(&key, &m2));
        assert_eq!(s.counts(StreamingKind::Events), (0, 0));
        let share = s.of_kind(StreamingKind::Events).next().unwrap();
        s.keep(share, kept("org.x:t", "E1"));
        let share = s.of_kind(StreamingKind::Events).next().unwrap();
        s.keep(share, kept("org.x:t", "E2"));
        assert!(s.take_kept().is_empty(), "nobody to take them yet");
        s.add(&key, StreamingKind::Events, member("c", 3), &r);
        let frames: Vec<String> = s
            .take_kept()
            .into_iter()
            .map(|(node, d)| match d {
                Delivery::Fanout { members, .. } => format!("{node}:{}", members[0].2),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(frames, ["c:E1", "c:E2"]);
        assert!(!s.has_kept());
        assert_eq!(s.take_dropped(), 0);
    }

    #[test]
    fn kept_events_and_empty_shares_expire_and_are_counted() {
        let mut s = Shares::new(Duration::from_millis(1));
        let r = record(ShareDispatch::ByThing, &[]);
        let key = r.share_key(StreamingKind::Events).unwrap();
        s.add(&key, StreamingKind::Events, member("a", 1), &r);
        s.remove(&key, &member("a", 1));
        let share = s.of_kind(StreamingKind::Events).next().unwrap();
        s.keep(share, kept("org.x:t", "E1"));
        std::thread::sleep(Duration::from_millis(5));
        s.expire();
        assert_eq!(s.take_dropped(), 1);
        assert_eq!(s.of_kind(StreamingKind::Events).count(), 0);
        // Messages are never kept: a message share goes with its last member.
        let m = record(ShareDispatch::ByThing, &[]);
        let mkey = m.share_key(StreamingKind::Messages).unwrap();
        s.add(&mkey, StreamingKind::Messages, member("a", 2), &m);
        s.remove(&mkey, &member("a", 2));
        assert_eq!(s.of_kind(StreamingKind::Messages).count(), 0);
    }
}
