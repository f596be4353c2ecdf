//! Dispatch: one command of a shard's batch, sent to the module that decides it (things,
//! policies, live, RetrieveThings), with what it decided recorded: the writes for the batch's
//! commit, the policy revisions to announce, the caches updated as the command left them, and the
//! command's [`Effects`] (its response, its event, its live deliveries).

use crate::metrics::Metrics;
use crate::policies::{CachedPolicy, PolicyCache};
use crate::registry::SubscriptionRegistry;
use crate::store::Write;
use crate::things::apply::Limits;
use crate::things::cache::TwinCache;
use crate::things::retrieve::{self, CommittedThings};
use crate::things::twin::Twin;
use std::sync::Arc;
use twinwire_common::bus::EventRecord;
use twinwire_common::bus::{BusCommand, Delivery, Keys, Origin};
use twinwire_common::protocol::{
    error_envelope, Action, Channel, Criterion, Envelope, Group, Topic,
};
use twinwire_common::Error;

/// An event with the twin and policy it was produced under, for its fan-out.
pub type EventWithState = (EventRecord, Option<Arc<Twin>>, Option<Arc<CachedPolicy>>);

/// What handling one command produced, awaiting the batch's commit.
pub struct Effects {
    pub origin: Origin,
    pub response: Option<String>,
    pub accepted_ms: u64,
    pub event: Option<EventWithState>,
    /// Deliveries of a live signal (not journaled: at most once, as in Ditto).
    pub live: Vec<(String, Delivery)>,
    /// The command was a live signal, so its sender matches the answer against a pending request.
    pub live_signal: bool,
}

/// Size limits the command modules enforce.
pub struct CommandLimits {
    pub thing: Limits,
    pub message_bytes: usize,
    pub policy_bytes: usize,
}

/// One shard batch's dispatch: what the commands read, and what they wrote so far.
pub struct Dispatch<'a> {
    pub shard: u32,
    /// The batch's timestamp, as Ditto prints it.
    pub now: &'a str,
    pub keys: &'a Keys,
    pub shard_count: u32,
    pub limits: &'a CommandLimits,
    pub metrics: &'a Metrics,
    pub registry: &'a SubscriptionRegistry,
    pub committed: &'a CommittedThings,
    pub twins: &'a mut TwinCache,
    pub policies: &'a mut PolicyCache,
    /// Policy announcements waiting for acknowledgements (`policies::expiry`).
    pub pending_acks: &'a mut crate::policies::expiry::PendingAcks,
    /// The kept histories the batch's history requests read (loaded before dispatch).
    pub histories: &'a crate::history::Histories,
    /// Entity writes of the batch, in command order.
    pub writes: Vec<Write>,
    /// Policy revisions the batch wrote (`-1`: deleted), to announce to every hub.
    pub policy_updates: Vec<(String, i64)>,
}

impl Dispatch<'_> {
    /// Handles one command (`topic`: its parsed topic, `None` if it does not parse).
    pub fn dispatch(&mut self, cmd: &BusCommand, topic: Option<Topic>) -> Effects {
        let mut effects = Effects {
            origin: cmd.origin.clone(),
            response: None,
            accepted_ms: cmd.accepted_ms,
            event: None,
            live: Vec::new(),
            live_signal: false,
        };
        let respond = cmd.envelope.headers.response_required();
        let topic = match topic {
            Some(t) => t,
            None => {
                // Gateways validate topics; a bad one here is a bug, answered all the same.
                let e = Topic::parse(&cmd.envelope.topic)
                    .err()
                    .unwrap_or(Error::UnknownSignal {
                        topic: cmd.envelope.topic.clone(),
                    });
                if respond {
                    effects.response = Some(
                        error_envelope(&e, None, cmd.envelope.headers.for_response())
                            .to_json_string(),
                    );
                }
                return effects;
            }
        };
        // Header validation comes before anything else (Ditto validates headers at its edge).
        let checked = crate::things::if_equal::IfEqual::from_headers(&cmd.envelope.headers);
        let result = match (topic.group, topic.channel, topic.criterion) {
            _ if checked.is_err() => checked.map(|_| None),
            (Group::Things, Some(Channel::Twin), Criterion::Commands)
            | (Group::Policies, _, Criterion::Commands)
                if topic.action == Some(Action::CheckPermissions) =>
            {
                let id = topic.entity_id();
                let policy = match topic.group {
                    Group::Things => self
                        .twins
                        .get(self.shard, &id)
                        .and_then(|t| t.policy_id().and_then(|p| self.policies.get(p))),
                    _ => self.policies.get(&id),
                };
                crate::policies::check::answer(cmd, policy.as_deref()).map(Some)
            }
            (Group::Things, Some(Channel::Twin), Criterion::Commands)
                if topic.is_wildcard_name() =>
            {
                let sources = retrieve::Sources {
                    twins: self.twins,
                    committed: self.committed,
                    policies: self.policies,
                    shard_count: self.shard_count,
                };
                retrieve::retrieve_things(cmd, &topic, &sources).map(Some)
            }
            // History (crate::history): a streaming page, or a retrieve at a past point.
            (Group::Things, Some(Channel::Twin), Criterion::Streaming) => {
                self.history_page(cmd, &topic)
            }
            (Group::Things, Some(Channel::Twin), Criterion::Commands)
                if crate::history::reads_history(cmd, &topic) =>
            {
                self.retrieve_at(cmd, &topic).map(Some)
            }
            (Group::Things, Some(Channel::Twin), Criterion::Commands) => {
                match crate::smart_channel::condition_of(&cmd.envelope.headers, &topic) {
                    Err(e) => Err(e),
                    Ok(None) => self
                        .apply_thing_command(cmd, &topic, &mut effects)
                        .map(|r| Some(r.to_json_string())),
                    Ok(Some(cond)) => self
                        .smart_retrieve(cmd, &topic, &cond, &mut effects)
                        .map(Some),
                }
            }
            (
                Group::Things,
                Some(Channel::Live),
                Criterion::Messages | Criterion::Commands | Criterion::Events,
            ) => {
                // Answered by whoever receives it; only a refusal is answered here.
                effects.live_signal = true;
                self.route_live(cmd, &topic).map(|deliveries| {
                    effects.live = deliveries;
                    None
                })
            }
            // Announcement acknowledgements and redeliveries (`policies::expiry`).
            (Group::Things, _, Criterion::Acks) => {
                self.announcement_ack(cmd, &topic);
                Ok(None)
            }
            (Group::Policies, _, Criterion::Commands)
                if cmd
                    .envelope
                    .headers
                    .contains(crate::policies::expiry::RETRY_HEADER) =>
            {
                if let Some(cid) = cmd
                    .envelope
                    .headers
                    .get_str(crate::policies::expiry::RETRY_HEADER)
                {
                    effects.live.extend(crate::policies::expiry::retry(
                        &cid,
                        self.shard,
                        self.registry,
                        self.pending_acks,
                        twinwire_common::clock::now_ms(),
                    ));
                }
                Ok(None)
            }
            // The expiry sweeper's own command (`policies::expiry`); clients cannot send it.
            (Group::Policies, _, Criterion::Commands)
                if cmd
                    .envelope
                    .headers
                    .contains(crate::policies::expiry::EXPIRY_HEADER) =>
            {
                self.expire_subjects(cmd, &topic, &mut effects);
                Ok(None)
            }
            (Group::Policies, _, Criterion::Commands) => self
                .apply_policy_command(cmd, &topic, &mut effects)
                .map(Some),
            _ => Err(Error::UnknownSignal {
                topic: cmd.envelope.topic.clone(),
            }),
        };
        match result {
            Ok(response) => {
                self.metrics.commands.with_label_values(&["ok"]).inc();
                if respond {
                    effects.response = response;
                }
            }
            Err(e) => {
                self.metrics.commands.with_label_values(&["error"]).inc();
                if respond {
                    effects.response = Some(
                        error_envelope(&e, Some(&topic), cmd.envelope.headers.for_response())
                            .to_json_string(),
                    );
                }
            }
        }
        effects
    }

    /// A twin-channel thing command: decided against the cached twin, its change recorded.
    fn apply_thing_command(
        &mut self,
        cmd: &BusCommand,
        topic: &Topic,
        effects: &mut Effects,
    ) -> Result<Envelope, Error> {
        let thing_id = topic.entity_id();
        let current = self.twins.get(self.shard, &thing_id);
        let decision = crate::things::command::decide(
            cmd,
            topic,
            current.as_deref(),
            self.policies,
            self.now,
            &self.limits.thing,
        )?;
        if let Some(change) = decision.change {
            let key = self.keys.thing(self.shard, &change.thing_id);
            let twin = change.twin.map(Arc::new);
            match &twin {
                Some(t) => self.writes.push(Write::Put {
                    key,
                    value: t.to_stored(),
                }),
                None => self.writes.push(Write::Delete { key }),
            }
            if let Some(p) = &change.new_policy {
                // Created along with the thing: same id, hence same shard and same commit.
                self.writes.push(Write::Put {
                    key: self.policies.key(&p.id),
                    value: serde_json::to_string(&p.stored).expect("policy serializes"),
                });
                self.policy_updates.push((p.id.clone(), p.stored.revision));
                self.policy_changed(&p.id, None, Some(p), effects);
                let cached = CachedPolicy::new(&p.id, p.stored.clone())
                    .map_err(|e| Error::Internal(e.to_string()))?;
                self.policies.put(cached);
            }
            self.twins
                .put(self.shard, change.thing_id.clone(), twin.clone());
            let policy = twin
                .as_ref()
                .or(current.as_ref())
                .and_then(|t| t.policy_id())
                .and_then(|p| self.policies.get(p));
            self.metrics.events.inc();
            effects.event = Some((change.event, twin, policy));
        }
        Ok(decision.response)
    }

    /// A page of a persisted-events subscription (`crate::history::page`).
    fn history_page(&mut self, cmd: &BusCommand, topic: &Topic) -> Result<Option<String>, Error> {
        let id = topic.entity_id();
        let current = self.twins.get(self.shard, &id);
        let empty = Vec::new();
        let history = self.histories.get(&id).unwrap_or(&empty);
        crate::history::page::answer(
            cmd,
            topic,
            current.as_deref(),
            self.policies,
            history,
            chrono::Utc::now(),
        )
        .map(Some)
    }

    /// A twin retrieve at a past point (`crate::history::at`): the past twin, read under the
    /// current policy.
    fn retrieve_at(&mut self, cmd: &BusCommand, topic: &Topic) -> Result<String, Error> {
        let id = topic.entity_id();
        let current = self.twins.get(self.shard, &id);
        let Some(at) = crate::history::at::at_of(&cmd.envelope.headers)? else {
            return Err(Error::Internal("no historical point".into()));
        };
        let Some(now_twin) = current.as_deref() else {
            return Err(Error::ThingNotFound(id));
        };
        let empty = Vec::new();
        let history = self.histories.get(&id).unwrap_or(&empty);
        let past =
            crate::history::at::twin_at(&id, &at, Some(now_twin), history, chrono::Utc::now())?;
        let decision = crate::things::command::decide_governed(
            cmd,
            topic,
            Some(&past),
            now_twin.policy_id(),
            self.policies,
            self.now,
            &self.limits.thing,
        )?;
        Ok(decision.response.to_json_string())
    }

    /// Subject expiry hooks of a policy change: its schedule, and the `whenDeleted` announcements
    /// of subjects it removed (`policies::expiry`).
    fn policy_changed(
        &mut self,
        id: &str,
        before: Option<&CachedPolicy>,
        after: Option<&CachedPolicy>,
        effects: &mut Effects,
    ) {
        use crate::policies::expiry;
        let now_ms = twinwire_common::clock::now_ms();
        self.writes.push(expiry::schedule(
            self.keys,
            self.shard,
            id,
            after.map(|p| &p.policy),
            now_ms,
        ));
        if let Some(before) = before {
            for a in
                expiry::when_deleted(&before.policy, after.map(|p| &p.policy), now_ms, self.now)
            {
                effects.live.extend(expiry::announce(
                    a,
                    self.shard,
                    0,
                    self.registry,
                    self.pending_acks,
                    now_ms,
                ));
            }
        }
    }

    /// A receiver's acknowledgement of a policy announcement this shard sent.
    fn announcement_ack(&mut self, cmd: &BusCommand, topic: &Topic) {
        let (Some(cid), Some(label)) = (cmd.envelope.headers.correlation_id(), &topic.subject)
        else {
            return;
        };
        self.pending_acks.acknowledge(
            &cid,
            label,
            cmd.envelope.status.unwrap_or(200),
            twinwire_common::clock::now_ms(),
        );
    }

    /// The sweeper's command for a due policy: its due announcements, and its expired subjects
    /// removed as a new revision.
    fn expire_subjects(&mut self, cmd: &BusCommand, topic: &Topic, effects: &mut Effects) {
        use crate::policies::expiry;
        let id = topic.entity_id();
        let now_ms = twinwire_common::clock::now_ms();
        let Some(current) = self.policies.get(&id) else {
            self.writes
                .push(expiry::schedule(self.keys, self.shard, &id, None, now_ms));
            return;
        };
        let since = cmd
            .envelope
            .headers
            .get_str(expiry::EXPIRY_HEADER)
            .and_then(|d| d.parse().ok())
            .unwrap_or(0);
        let expired = expiry::expire(&current, since, now_ms, self.now);
        for a in expired.announcements {
            effects.live.extend(expiry::announce(
                a,
                self.shard,
                0,
                self.registry,
                self.pending_acks,
                now_ms,
            ));
        }
        let after = expired.policy.unwrap_or_else(|| current.clone());
        self.writes.push(expiry::schedule(
            self.keys,
            self.shard,
            &id,
            Some(&after.policy),
            now_ms,
        ));
        if after.stored.revision != current.stored.revision {
            self.writes.push(Write::Put {
                key: self.keys.policy(self.shard, &id),
                value: serde_json::to_string(&after.stored).expect("policy serializes"),
            });
            self.policy_updates.push((id, after.stored.revision));
            self.policies.put_arc(after);
        }
    }

    /// A twin retrieve with a live-channel condition (the smart channel): the twin's response,
    /// marked with whether the condition held, and when it held, the live retrieve's deliveries
    /// to the devices (the sender's session waits for their answer).
    fn smart_retrieve(
        &mut self,
        cmd: &BusCommand,
        topic: &Topic,
        cond: &twinwire_common::rql::ParsedCondition,
        effects: &mut Effects,
    ) -> Result<String, Error> {
        let mut response = self.apply_thing_command(cmd, topic, effects)?;
        let twin = self.twins.get(self.shard, &topic.entity_id());
        let policy = twin
            .as_ref()
            .and_then(|t| t.policy_id())
            .and_then(|p| self.policies.get(p));
        let matched = match (&twin, &policy) {
            (Some(t), Some(p)) => crate::smart_channel::matches(cond, cmd, t, p, self.now)?,
            _ => false,
        };
        crate::smart_channel::mark_twin_response(&mut response, matched);
        if matched {
            if let Some((live, live_topic)) = crate::smart_channel::live_command(cmd) {
                match self.route_live(&live, &live_topic) {
                    Ok(deliveries) => effects.live = deliveries,
                    // Nobody receives it: the sender's timeout strategy decides.
                    Err(e) => {
                        tracing::debug!(error = %e, "smart channel: live retrieve not routed")
                    }
                }
            }
        }
        Ok(response.to_json_string())
    }

    /// A message, live command or live event: authorized against the thing's policy and routed.
    fn route_live(
        &mut self,
        cmd: &BusCommand,
        topic: &Topic,
    ) -> Result<Vec<(String, Delivery)>, Error> {
        let twin = self.twins.get(self.shard, &topic.entity_id());
        let policy = twin
            .as_ref()
            .and_then(|t| t.policy_id())
            .and_then(|p| self.policies.get(p));
        let mut evaluations = 0;
        let out = crate::live::route(
            cmd,
            topic,
            twin.as_deref(),
            policy.as_deref(),
            self.registry,
            self.limits.message_bytes,
            &mut evaluations,
        );
        self.metrics.filter_evaluations.inc_by(evaluations);
        if let Ok(d) = &out {
            let kind = match topic.criterion {
                Criterion::Messages => "message",
                Criterion::Commands => "live_command",
                _ => "live_event",
            };
            self.metrics
                .deliveries
                .with_label_values(&[kind])
                .inc_by(d.len() as u64);
        }
        out
    }

    /// A policies command; policies live in the shard of their own id.
    fn apply_policy_command(
        &mut self,
        cmd: &BusCommand,
        topic: &Topic,
        effects: &mut Effects,
    ) -> Result<String, Error> {
        let id = topic.entity_id();
        let current = self.policies.get(&id);
        let decision = crate::policies::command::decide(
            cmd,
            topic,
            current.as_ref(),
            self.now,
            self.limits.policy_bytes,
        )?;
        if let Some(change) = decision.change {
            let key = self.keys.policy(self.shard, &change.id);
            self.policy_changed(
                &change.id,
                current.as_deref(),
                change.policy.as_deref(),
                effects,
            );
            match change.policy {
                Some(p) => {
                    // Plain data always serializes.
                    self.writes.push(Write::Put {
                        key,
                        value: serde_json::to_string(&p.stored).expect("policy serializes"),
                    });
                    self.policy_updates.push((change.id, p.stored.revision));
                    self.policies.put_arc(p);
                }
                None => {
                    self.writes.push(Write::Delete { key });
                    // A revision no policy has: every hub drops its cached copy.
                    self.policy_updates.push((change.id.clone(), -1));
                    self.policies.forget(&change.id);
                }
            }
        }
        Ok(decision.response.to_json_string())
    }
}
