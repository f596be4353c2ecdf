//! Subject expiry and policy announcements (ditto-features §5). A policy whose subjects carry an
//! `expiry` is indexed in its shard's `tw:{k}:expiring` sorted set, scored by when its next
//! expiry or `beforeExpiry` announcement is due; the index is written in the same commit as the
//! policy. The shard owner's [`Sweeper`] looks for due policies and puts an internal command for
//! each on the shard's command stream, so the expiry is handled in order with every other command
//! of the policy: expired subjects leave every entry as a normal policy change (new revision,
//! cache invalidation on every hub through `tw:policy-updates`), and `subjectDeletion`
//! announcements go to the sessions with `START-SEND-POLICY-ANNOUNCEMENTS` whose subjects are
//! affected: `beforeExpiry` ahead of the expiry, `whenDeleted` when a subject is deleted (by its
//! expiry, or by a change of the policy) without a `beforeExpiry` announcement before it.
//!
//! An announcement whose subject asks for acknowledgements (`requestedAcks`) names this shard as
//! where they go ([`Origin::shard`]): the receiving gateway writes them to the shard's command
//! stream. Until every requested label acknowledged it, the owner keeps it in [`PendingAcks`] and
//! announces it again (with a new correlation-id) when an acknowledgement fails (408, 424, 5xx)
//! or the timeout passes, backing off from 1 s to 1 h, until 4 h after its `deleteAt` (Ditto's
//! grace period). That state is the owner's memory: a new owner after a failover does not redeliver.

use super::command::cache;
use super::CachedPolicy;
use crate::registry::SubscriptionRegistry;
use crate::store::{Store, Write};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use twinwire_common::bus::{BusCommand, Delivery, Keys, Origin, Reply};
use twinwire_common::policy::Policy;
use twinwire_common::protocol::headers::names;
use twinwire_common::protocol::{Envelope, Headers, StreamingKind};

/// The internal header marking the sweeper's command for a policy; its value is the due time
/// (ms) the sweeper found. Clients cannot set it (`ditto-internal*` headers are stripped).
pub const EXPIRY_HEADER: &str = "ditto-internal-subject-expiry";
/// How often the shard owner looks for due policies: with one round, the bound on how late an
/// expired subject is removed.
pub const SWEEP_INTERVAL: Duration = Duration::from_millis(250);
/// Due policies enqueued per shard and sweep at most.
const SWEEP_BATCH: usize = 100;
/// A due policy is not enqueued again for the same due time within this window.
const REENQUEUE_AFTER: Duration = Duration::from_secs(10);

/// A subject with an expiry, as the schedule sees it.
struct Timed {
    id: String,
    expiry: String,
    expiry_ms: u64,
    /// When its `beforeExpiry` announcement is due.
    announce_ms: Option<u64>,
    when_deleted: bool,
    requested_acks: Option<Value>,
}

fn instant_ms(s: &str) -> Option<u64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .and_then(|t| u64::try_from(t.timestamp_millis()).ok())
}

/// A `beforeExpiry` duration (`ms`, `s`, `m`, `h`).
fn duration_ms(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().ok()?;
    let factor = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return None,
    };
    n.checked_mul(factor)
}

fn timed_subjects(policy: &Policy) -> Vec<Timed> {
    let mut out: Vec<Timed> = Vec::new();
    for entry in policy.entries() {
        for s in entry.subjects() {
            let Some((expiry, expiry_ms)) = s.expiry().and_then(|e| Some((e, instant_ms(e)?)))
            else {
                continue;
            };
            if out
                .iter()
                .any(|t| t.id == s.id() && t.expiry_ms == expiry_ms)
            {
                continue;
            }
            let ann = s.announcement();
            let before = ann
                .and_then(|a| a.get("beforeExpiry"))
                .and_then(Value::as_str)
                .and_then(duration_ms);
            out.push(Timed {
                id: s.id().to_owned(),
                expiry: expiry.to_owned(),
                expiry_ms,
                announce_ms: before.map(|b| expiry_ms.saturating_sub(b)),
                when_deleted: ann
                    .and_then(|a| a.get("whenDeleted"))
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                requested_acks: ann.and_then(|a| a.get("requestedAcks")).cloned(),
            });
        }
    }
    out
}

/// Ditto's `checkForAlreadyExpiredSubject`: a write may not bring in a subject whose expiry has
/// passed (400 `policies:subjectexpiry.invalid`); subjects `before` already had are left alone.
pub fn check_not_expired(
    before: Option<&Policy>,
    after: &Policy,
    now_ms: u64,
) -> Result<(), twinwire_common::DittoError> {
    let known = before.map(timed_subjects).unwrap_or_default();
    for t in timed_subjects(after) {
        if t.expiry_ms <= now_ms
            && !known
                .iter()
                .any(|k| k.id == t.id && k.expiry_ms == t.expiry_ms)
        {
            return Err(twinwire_common::DittoError::subject_expiry_invalid(
                &t.expiry,
            ));
        }
    }
    Ok(())
}

/// When the policy next needs the sweeper: its earliest expiry, or an announcement still ahead
/// of `now_ms`; `None` when nothing is due ever.
pub fn next_due(policy: &Policy, now_ms: u64) -> Option<u64> {
    timed_subjects(policy)
        .iter()
        .flat_map(|t| {
            [
                Some(t.expiry_ms),
                t.announce_ms.filter(|a| *a > now_ms && *a < t.expiry_ms),
            ]
        })
        .flatten()
        .min()
}

/// The schedule write for policy `id` as it is after a change (`None`: deleted).
pub fn schedule(keys: &Keys, shard: u32, id: &str, policy: Option<&Policy>, now_ms: u64) -> Write {
    match policy.and_then(|p| next_due(p, now_ms)) {
        Some(at_ms) => Write::Schedule {
            key: keys.expiring(shard),
            member: id.to_owned(),
            at_ms,
        },
        None => Write::Unschedule {
            key: keys.expiring(shard),
            member: id.to_owned(),
        },
    }
}

/// One `subjectDeletion` announcement.
#[derive(Debug, Clone, PartialEq)]
pub struct Announcement {
    pub policy_id: String,
    pub subject_ids: Vec<String>,
    pub delete_at: String,
    pub requested_acks: Option<Value>,
}

/// What the sweeper's command does to a policy.
pub struct Expired {
    /// The policy without its expired subjects, when some expired.
    pub policy: Option<Arc<CachedPolicy>>,
    pub announcements: Vec<Announcement>,
}

/// Handles a due policy at `now_ms`: the `beforeExpiry` announcements due since `since_ms` (the
/// due time the sweeper found; earlier ones were handled then), and the removal of every subject
/// whose expiry passed, with its `whenDeleted` announcement when none went before it.
pub fn expire(current: &CachedPolicy, since_ms: u64, now_ms: u64, now: &str) -> Expired {
    let mut announcements = Vec::new();
    let mut policy = current.policy.clone();
    let mut removed = false;
    for t in timed_subjects(&current.policy) {
        let announce = |delete_at: &str| Announcement {
            policy_id: current.id.clone(),
            subject_ids: vec![t.id.clone()],
            delete_at: delete_at.to_owned(),
            requested_acks: t.requested_acks.clone(),
        };
        if t.announce_ms
            .is_some_and(|a| a >= since_ms && a <= now_ms && a < t.expiry_ms)
        {
            announcements.push(announce(&t.expiry));
        }
        if t.expiry_ms <= now_ms {
            let labels: Vec<String> = policy
                .entries()
                .iter()
                .filter(|e| {
                    e.subject(&t.id)
                        .is_some_and(|s| s.expiry() == Some(t.expiry.as_str()))
                })
                .map(|e| e.label().to_owned())
                .collect();
            for label in labels {
                if let Some(e) = policy.entry_mut(&label) {
                    e.remove_subject(&t.id);
                    removed = true;
                }
            }
            if t.when_deleted && t.announce_ms.is_none() {
                announcements.push(announce(&t.expiry));
            }
        }
    }
    let policy = removed.then(|| {
        cache(
            &current.id,
            policy,
            current.stored.revision + 1,
            &current.stored.created,
            now,
        )
    });
    Expired {
        policy,
        announcements,
    }
}

/// The `whenDeleted` announcements of a policy change: subjects of `before` that `after` no
/// longer has, announced with `deleteAt` now unless a `beforeExpiry` announcement went first.
pub fn when_deleted(
    before: &Policy,
    after: Option<&Policy>,
    now_ms: u64,
    now: &str,
) -> Vec<Announcement> {
    let mut out = Vec::new();
    for entry in before.entries() {
        for s in entry.subjects() {
            let ann = s.announcement();
            if !ann
                .and_then(|a| a.get("whenDeleted"))
                .and_then(Value::as_bool)
                .unwrap_or(false)
            {
                continue;
            }
            let still =
                after.is_some_and(|p| p.entries().iter().any(|e| e.subject(s.id()).is_some()));
            let announced_before = ann
                .and_then(|a| a.get("beforeExpiry"))
                .and_then(Value::as_str)
                .and_then(duration_ms)
                .zip(s.expiry().and_then(instant_ms))
                .is_some_and(|(b, e)| e.saturating_sub(b) <= now_ms);
            if still
                || announced_before
                || out
                    .iter()
                    .any(|a: &Announcement| a.subject_ids[0] == s.id())
            {
                continue;
            }
            out.push(Announcement {
                policy_id: before.id().to_owned(),
                subject_ids: vec![s.id().to_owned()],
                delete_at: now.to_owned(),
                requested_acks: ann.and_then(|a| a.get("requestedAcks")).cloned(),
            });
        }
    }
    out
}

/// The announcement frame (Ditto's `PolicyAnnouncementSignalMapper`): with `requestedAcks`
/// configured, its headers ask for those labels with that timeout.
pub fn frame(a: &Announcement, cid: &str) -> Envelope {
    let (ns, name) = a.policy_id.split_once(':').unwrap_or(("", &a.policy_id));
    let mut headers = Headers::new();
    headers.insert(names::CORRELATION_ID, cid);
    if let Some(acks) = &a.requested_acks {
        if let Some(labels) = acks.get("labels").filter(|l| l.is_array()) {
            headers.insert(names::REQUESTED_ACKS, labels.clone());
        }
        if let Some(t) = acks.get("timeout").and_then(Value::as_str) {
            headers.insert("timeout", t);
        }
    }
    Envelope {
        topic: format!("{ns}/{name}/policies/announcements/subjectDeletion"),
        headers,
        path: "/".into(),
        value: Some(json!({"deleteAt": a.delete_at, "subjectIds": a.subject_ids})),
        ..Default::default()
    }
}

/// The deliveries of an announcement: to every announcement subscription whose session's subjects
/// include one of the announced ones and whose namespaces admit the policy's.
fn deliveries(
    a: &Announcement,
    cid: &str,
    reply: Option<Reply>,
    registry: &SubscriptionRegistry,
    written_ms: u64,
) -> Vec<(String, Delivery)> {
    let ns = a.policy_id.split_once(':').map_or("", |(ns, _)| ns);
    let mut per_node: HashMap<&str, Vec<String>> = HashMap::new();
    for group in registry.subscription_groups(StreamingKind::PolicyAnnouncements) {
        if !group.wants_namespace(ns)
            || !group
                .record
                .subjects
                .iter()
                .any(|s| a.subject_ids.contains(s))
        {
            continue;
        }
        for node in group.nodes.keys() {
            per_node
                .entry(node.as_str())
                .or_default()
                .push(group.key.clone());
        }
    }
    if per_node.is_empty() {
        return Vec::new();
    }
    let frame = frame(a, cid).to_json_string();
    let mut out: Vec<(String, Delivery)> = per_node
        .into_iter()
        .map(|(node, mut keys)| {
            keys.sort();
            (
                node.to_owned(),
                Delivery::Fanout {
                    kind: StreamingKind::PolicyAnnouncements,
                    pos: None,
                    written_ms,
                    exclude: None,
                    groups: vec![(keys, frame.clone())],
                    members: Vec::new(),
                    reply: reply.clone(),
                },
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The labels an announcement asks for and how long it waits for them (Ditto: at most 60 s).
fn requested(a: &Announcement) -> Option<(Vec<String>, u64)> {
    let acks = a.requested_acks.as_ref()?;
    let labels: Vec<String> = acks
        .get("labels")?
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    if labels.is_empty() {
        return None;
    }
    let timeout = acks
        .get("timeout")
        .and_then(Value::as_str)
        .and_then(duration_ms)
        .unwrap_or(10_000)
        .min(60_000);
    Some((labels, timeout))
}

/// The header marking the sweeper's command to announce a pending announcement again; its value
/// is the correlation-id it was last sent with.
pub const RETRY_HEADER: &str = "ditto-internal-announcement-retry";
/// How long after `deleteAt` an unacknowledged announcement is still redelivered (Ditto).
const GRACE_MS: u64 = 4 * 3_600_000;

/// Redelivery back-off: 1 s, doubling, at most 1 h.
fn backoff_ms(attempt: u32) -> u64 {
    1000u64.saturating_mul(1 << attempt.min(12)).min(3_600_000)
}

/// An announcement waiting for its acknowledgements.
struct Pending {
    announcement: Announcement,
    shard: u32,
    labels: Vec<String>,
    acked: HashSet<String>,
    attempt: u32,
    /// When the sweeper asks for the next delivery, unless all labels acknowledge before.
    retry_ms: u64,
    /// The retry was enqueued (not again until it is handled).
    enqueued: bool,
}

/// The owner's announcements waiting for acknowledgements, by the correlation-id sent last.
#[derive(Default)]
pub struct PendingAcks {
    by_cid: HashMap<String, Pending>,
}

impl PendingAcks {
    /// Announcements to deliver again now: (shard, correlation-id, policy id), marked as enqueued.
    fn due(&mut self, now_ms: u64) -> Vec<(u32, String, String)> {
        self.by_cid
            .iter_mut()
            .filter(|(_, p)| !p.enqueued && p.retry_ms <= now_ms)
            .map(|(cid, p)| {
                p.enqueued = true;
                (p.shard, cid.clone(), p.announcement.policy_id.clone())
            })
            .collect()
    }

    /// A retry that could not be enqueued is due again.
    fn requeue(&mut self, cid: &str) {
        if let Some(p) = self.by_cid.get_mut(cid) {
            p.enqueued = false;
        }
    }

    /// An acknowledgement from a receiver: a failure (408, 424, 5xx) asks for redelivery soon,
    /// anything else counts its label; all labels acknowledged end the wait.
    pub fn acknowledge(&mut self, cid: &str, label: &str, status: u16, now_ms: u64) {
        let Some(p) = self.by_cid.get_mut(cid) else {
            return;
        };
        if status == 408 || status == 424 || status >= 500 {
            p.retry_ms = p.retry_ms.min(now_ms + backoff_ms(p.attempt));
            return;
        }
        if p.labels.iter().any(|l| l == label) {
            p.acked.insert(label.to_owned());
        }
        if p.labels.iter().all(|l| p.acked.contains(l)) {
            self.by_cid.remove(cid);
        }
    }
}

/// Sends announcement `a` from `shard`: its deliveries, and when it asks for acknowledgements,
/// its wait for them in `pending`.
pub fn announce(
    a: Announcement,
    shard: u32,
    attempt: u32,
    registry: &SubscriptionRegistry,
    pending: &mut PendingAcks,
    now_ms: u64,
) -> Vec<(String, Delivery)> {
    let cid = uuid::Uuid::new_v4().to_string();
    let Some((labels, timeout_ms)) = requested(&a) else {
        return deliveries(&a, &cid, None, registry, now_ms);
    };
    let reply = Reply {
        origin: Origin::shard(shard),
        correlation_id: cid.clone(),
    };
    let out = deliveries(&a, &cid, Some(reply), registry, now_ms);
    pending.by_cid.insert(
        cid,
        Pending {
            announcement: a,
            shard,
            labels,
            acked: HashSet::new(),
            attempt,
            retry_ms: now_ms + timeout_ms + backoff_ms(attempt),
            enqueued: false,
        },
    );
    out
}

/// The sweeper's retry command for the announcement last sent as `cid`: delivered again with a
/// new correlation-id, unless it was acknowledged meanwhile or its grace period is over.
pub fn retry(
    cid: &str,
    shard: u32,
    registry: &SubscriptionRegistry,
    pending: &mut PendingAcks,
    now_ms: u64,
) -> Vec<(String, Delivery)> {
    let Some(p) = pending.by_cid.remove(cid) else {
        return Vec::new();
    };
    let delete_at = instant_ms(&p.announcement.delete_at).unwrap_or(0);
    if now_ms > delete_at.saturating_add(GRACE_MS) {
        return Vec::new();
    }
    announce(
        p.announcement,
        shard,
        p.attempt + 1,
        registry,
        pending,
        now_ms,
    )
}

/// The sweeper's command for a due policy: a retrieve marked with [`EXPIRY_HEADER`], from nobody
/// and wanting no response.
fn command(policy_id: &str, due_ms: u64, now_ms: u64) -> BusCommand {
    let (ns, name) = policy_id.split_once(':').unwrap_or(("", policy_id));
    let mut headers = Headers::new();
    headers.insert(names::CORRELATION_ID, uuid::Uuid::new_v4().to_string());
    headers.insert("response-required", false);
    headers.insert(EXPIRY_HEADER, due_ms.to_string());
    BusCommand {
        origin: Origin {
            node: String::new(),
            session: 0,
        },
        subjects: Vec::new(),
        api_version: 2,
        envelope: Envelope {
            topic: format!("{ns}/{name}/policies/commands/retrieve"),
            headers,
            path: "/".into(),
            ..Default::default()
        },
        accepted_ms: now_ms,
    }
}

/// The sweeper's command to deliver the announcement last sent as `cid` again.
fn retry_command(cid: &str, policy_id: &str, now_ms: u64) -> BusCommand {
    let (ns, name) = policy_id.split_once(':').unwrap_or(("", policy_id));
    let mut headers = Headers::new();
    headers.insert(names::CORRELATION_ID, uuid::Uuid::new_v4().to_string());
    headers.insert("response-required", false);
    headers.insert(RETRY_HEADER, cid);
    BusCommand {
        origin: Origin {
            node: String::new(),
            session: 0,
        },
        subjects: Vec::new(),
        api_version: 2,
        envelope: Envelope {
            topic: format!("{ns}/{name}/policies/commands/retrieve"),
            headers,
            path: "/".into(),
            ..Default::default()
        },
        accepted_ms: now_ms,
    }
}

/// Looks for due policies in the shards this hub owns and enqueues their commands.
#[derive(Default)]
pub struct Sweeper {
    next: Option<Instant>,
    /// (policy, due time) enqueued recently, so a slow round does not get it twice.
    enqueued: HashMap<(String, u64), Instant>,
}

impl Sweeper {
    /// One sweep, when its interval has passed.
    pub async fn tick(&mut self, store: &Store, shards: &[u32], pending: &mut PendingAcks) {
        let now = Instant::now();
        if self.next.is_some_and(|n| now < n) || shards.is_empty() {
            return;
        }
        self.next = Some(now + SWEEP_INTERVAL);
        self.enqueued
            .retain(|_, at| now.duration_since(*at) < REENQUEUE_AFTER);
        let now_ms = twinwire_common::clock::now_ms();
        let due = match store.due_policies(shards, now_ms, SWEEP_BATCH).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "looking for expiring subjects failed");
                return;
            }
        };
        let mut commands: Vec<(u32, BusCommand)> = pending
            .due(now_ms)
            .into_iter()
            .filter(|(s, _, _)| shards.contains(s))
            .map(|(s, cid, policy)| (s, retry_command(&cid, &policy, now_ms)))
            .collect();
        for (shard, id, due_ms) in due {
            if self.enqueued.contains_key(&(id.clone(), due_ms)) {
                continue;
            }
            self.enqueued.insert((id.clone(), due_ms), now);
            commands.push((shard, command(&id, due_ms, now_ms)));
        }
        if let Err(e) = store.enqueue_commands(&commands).await {
            tracing::warn!(error = %e, "enqueuing subject expiry failed");
            for (_, c) in &commands {
                if let Some(cid) = c.envelope.headers.get_str(RETRY_HEADER) {
                    pending.requeue(&cid);
                    continue;
                }
                let due = c
                    .envelope
                    .headers
                    .get_str(EXPIRY_HEADER)
                    .and_then(|d| d.parse().ok())
                    .unwrap_or(0);
                let id = c
                    .envelope
                    .topic
                    .splitn(3, '/')
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(":");
                self.enqueued.remove(&(id, due));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policies::StoredPolicy;

    fn policy(subjects: Value) -> CachedPolicy {
        let json = json!({"policyId": "org.x:p", "entries": {
            "owner": {"subjects": {"nginx:owner": {"type": "t"}}, "resources": {"policy:/": {"grant": ["READ", "WRITE"], "revoke": []}}},
            "guest": {"subjects": subjects, "resources": {"thing:/": {"grant": ["READ"], "revoke": []}}}}});
        let p = Policy::from_json("org.x:p", &json).unwrap();
        CachedPolicy::new(
            "org.x:p",
            StoredPolicy {
                json: p.to_json(),
                revision: 4,
                created: "c".into(),
                modified: "m".into(),
            },
        )
        .unwrap()
    }

    const EXPIRY: &str = "2030-01-01T00:00:10Z";
    fn ms(s: &str) -> u64 {
        instant_ms(s).unwrap()
    }

    #[test]
    fn the_schedule_is_the_next_announcement_then_the_expiry() {
        let p = policy(
            json!({"nginx:bob": {"type": "t", "expiry": EXPIRY, "announcement": {"beforeExpiry": "2s"}}}),
        );
        let before = ms("2030-01-01T00:00:08Z");
        assert_eq!(next_due(&p.policy, before - 1), Some(before));
        assert_eq!(next_due(&p.policy, before), Some(ms(EXPIRY)));
        assert_eq!(
            next_due(&policy(json!({"nginx:bob": {"type": "t"}})).policy, 0),
            None
        );
        assert_eq!(duration_ms("1500ms"), Some(1500));
        assert_eq!(duration_ms("1h"), Some(3_600_000));
        assert_eq!(duration_ms("1d"), None);
    }

    #[test]
    fn expiry_announces_ahead_and_removes_the_subject_as_a_new_revision() {
        let p = policy(json!({
            "nginx:bob": {"type": "t", "expiry": EXPIRY, "announcement": {"beforeExpiry": "2s", "whenDeleted": true}},
            "nginx:carol": {"type": "t", "expiry": EXPIRY, "announcement": {"whenDeleted": true}},
            "nginx:dave": {"type": "t"}}));
        let before = ms("2030-01-01T00:00:08Z");
        let e = expire(&p, before, before + 5, "now");
        assert!(e.policy.is_none());
        assert_eq!(e.announcements.len(), 1);
        assert_eq!(
            e.announcements[0].subject_ids,
            vec!["nginx:bob".to_string()]
        );
        assert_eq!(e.announcements[0].delete_at, EXPIRY);
        let e = expire(&p, ms(EXPIRY), ms(EXPIRY) + 5, "now");
        let after = e.policy.unwrap();
        assert_eq!(after.stored.revision, 5);
        let guests: Vec<&str> = after
            .policy
            .entry("guest")
            .unwrap()
            .subjects()
            .iter()
            .map(|s| s.id())
            .collect();
        assert_eq!(guests, vec!["nginx:dave"]);
        // bob was announced before; carol only when deleted.
        let ids: Vec<&str> = e
            .announcements
            .iter()
            .map(|a| a.subject_ids[0].as_str())
            .collect();
        assert_eq!(ids, vec!["nginx:carol"]);
        assert_eq!(next_due(&after.policy, ms(EXPIRY) + 5), None);
    }

    #[test]
    fn a_removed_subject_with_when_deleted_is_announced_now() {
        let before = policy(
            json!({"nginx:carol": {"type": "t", "expiry": EXPIRY, "announcement": {"whenDeleted": true}}}),
        );
        let after = policy(json!({"nginx:dave": {"type": "t"}}));
        let a = when_deleted(
            &before.policy,
            Some(&after.policy),
            0,
            "2029-01-01T00:00:00Z",
        );
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].delete_at, "2029-01-01T00:00:00Z");
        let f = frame(&a[0], "c1");
        assert_eq!(f.topic, "org.x/p/policies/announcements/subjectDeletion");
        assert_eq!(
            f.value,
            Some(json!({"deleteAt": "2029-01-01T00:00:00Z", "subjectIds": ["nginx:carol"]}))
        );
        assert!(when_deleted(&before.policy, Some(&before.policy), 0, "x").is_empty());
    }
}
