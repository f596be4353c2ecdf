//! Resume (issue 16), the session's part. Every journaled event this session gets carries the
//! header `twinwire-resume`: its exact position in every shard's journal, signed. The position
//! of shard k may be anything between the last event of k this session got and how far this node
//! has read k's fan-out (everything matching up to there was handed to the session), so a token
//! is the node's least watermark (`base`) plus only the shards where this session got something
//! later: small, and the same for most sessions.
//!
//! `START-SEND-EVENTS?resume=<token>`: the token is checked (400), the journals must still hold
//! everything after it (410, no ACK), the subscription is registered and acknowledged as usual,
//! and then every shard's owner is asked to replay its journal after the token's position to this
//! session alone. Live events of a shard wait here until its replay is done, then follow it; an
//! event this session already has (by journal position) is dropped. While any shard replays, the
//! session's tokens stay on the resumed position plus what it got since, never the node's
//! watermark, which the replay has not caught up with yet.
//!
//! Most sessions share their position with the other sessions of their subscription group on
//! this node (`node::position_class`): a live event then costs the session a pointer comparison
//! and reference counts, the token and the stamped frame having been made once by the inbox.

use super::WsSession;
use crate::metrics::OutKind;
use crate::node::directory::ResumeMark;
pub use crate::node::position_class::{with_header, RESUME_HEADER};
use crate::node::position_class::{ClassStep, PositionState};
use crate::node::publisher::BusWrite;
use actix::prelude::*;
use bytestring::ByteString;
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use twinwire_common::bus::{JournalPos, Origin, ReplayRequest, ResumePosition, TokenKey};
use twinwire_common::protocol::{StartParams, StreamingKind};
use twinwire_common::Error;

/// Live events held while their shard replays, at most: past it the session is closed (1013, try
/// again later) and its client resumes again from its last token, which stays exact.
const MAX_HELD: usize = 10_000;

/// A live event waiting for its shard's replay.
struct Held {
    pos: JournalPos,
    base: (u64, u64),
    frame: ByteString,
    written_ms: u64,
}

/// One session's position and replay state (a WebSocket's or a Server-Sent Events stream's).
#[derive(Default)]
pub struct Resume {
    /// Every shard is at least its floor (the resumed token's base, raised to the node's
    /// watermark once no replay is running); the shards where the session is beyond it. Stale
    /// while `shared` is set.
    own: PositionState,
    /// The position this session shares with its subscription group's class, when it does
    /// (`node::position_class`): its state is then exactly this.
    shared: Option<Arc<ResumePosition>>,
    /// Shards whose replay is not done, sorted.
    replaying: Vec<u32>,
    held: VecDeque<Held>,
    /// A resumed START waiting for its ACK before its replays are asked for.
    pending: Option<ResumePosition>,
    /// A fresh START waiting for its ACK: where every shard's journal was before it subscribed.
    pending_start: Option<Vec<(u64, u64)>>,
    /// How many shards there are (set when a replay begins).
    shard_count: u32,
}

/// An event to write: its frame as the hub serialized it, its token (none before the key is
/// loaded, or when the position would not fit the contract's 256 characters: the previous token
/// stays valid, never an inexact one), and when the hub wrote it.
pub struct Ready {
    pub frame: ByteString,
    pub token: Option<Arc<str>>,
    /// The frame with the token in it, when the inbox made it (shared with the session's class).
    pub stamped: Option<ByteString>,
    pub written_ms: u64,
}

/// What a journaled event does to the session.
pub enum Step {
    /// One event to write (the common case, without a vector).
    One(Ready),
    /// Events to write, in order.
    Send(Vec<Ready>),
    /// The position could not be replayed exactly, or too much waited: end with this error.
    Fail(Error),
}

impl Resume {
    /// Makes the session's own state current (it leaves its class, if it was in one).
    fn materialize(&mut self) {
        if let Some(shared) = self.shared.take() {
            self.own = PositionState::of(&shared);
        }
    }

    fn last_of(&self, shard: u32) -> (u64, u64) {
        self.own.last_of(shard)
    }

    /// Records `pos` as delivered; false when the session already has it.
    fn accept(&mut self, pos: JournalPos) -> bool {
        self.materialize();
        self.own.accept(pos)
    }

    /// The session's position now; `node_base` is the node's least watermark when the event was
    /// dispatched.
    fn position(&mut self, node_base: (u64, u64)) -> ResumePosition {
        self.materialize();
        let base = if self.replaying.is_empty() {
            node_base
        } else {
            // During a replay every shard is at least where the session's own events put it, so
            // the base rises with the slowest shard and tokens stay short.
            (0..self.shard_count)
                .map(|k| self.last_of(k))
                .min()
                .unwrap_or(self.own.floor)
        };
        self.own.raise(base)
    }

    /// The event written with the session's position after it. When that position is its
    /// class's (`class`, no replay running), the session joins the class and takes its token and
    /// stamped frame.
    fn ready(
        &mut self,
        key: Option<&TokenKey>,
        frame: ByteString,
        node_base: (u64, u64),
        written_ms: u64,
        class: Option<&ClassStep>,
    ) -> Ready {
        let pos = self.position(node_base);
        if let Some(c) = class.filter(|c| self.replaying.is_empty() && *c.after == pos) {
            self.shared = Some(c.after.clone());
            return Ready {
                frame,
                token: c.token.clone(),
                stamped: c.stamped.clone(),
                written_ms,
            };
        }
        let token = key.and_then(|k| memo::token(k, &pos));
        if token.is_none() && key.is_some() {
            tracing::debug!(?pos, "a resume position too large for a token");
        }
        Ready {
            frame,
            token,
            stamped: None,
            written_ms,
        }
    }

    /// Starts a fresh subscription at `marks` (per shard, read before it was written): nothing up
    /// to there can be owed to it, so its tokens never reach back before it.
    pub fn start_at(&mut self, marks: &[(u64, u64)]) {
        self.materialize();
        let floor = marks.iter().copied().min().unwrap_or((0, 0));
        self.own.floor = self.own.floor.max(floor);
        for (k, m) in marks.iter().enumerate() {
            if *m > self.last_of(k as u32) {
                self.accept(JournalPos {
                    shard: k as u32,
                    ms: m.0,
                    seq: m.1,
                });
            }
        }
    }

    /// Starts a resumed position: everything replays until its shard says it is done.
    pub fn begin(&mut self, pos: ResumePosition, shards: u32) {
        self.shared = None;
        self.own = PositionState {
            floor: pos.base,
            last: pos.shards,
        };
        self.replaying = (0..shards).collect();
        self.shard_count = shards;
        self.held.clear();
    }

    /// What a journaled event (or the end of a replay) does.
    pub fn step(
        &mut self,
        key: Option<&TokenKey>,
        mark: ResumeMark,
        frame: ByteString,
        written_ms: u64,
    ) -> Step {
        match mark {
            ResumeMark::Live { pos, base, class } => {
                // The common case: the session is where its class was before this event, so it
                // is where the class is after it.
                if let (Some(c), Some(shared)) = (&class, &self.shared) {
                    if Arc::ptr_eq(&c.before, shared) && self.replaying.is_empty() {
                        self.shared = Some(c.after.clone());
                        return Step::One(Ready {
                            frame,
                            token: c.token.clone(),
                            stamped: c.stamped.clone(),
                            written_ms,
                        });
                    }
                }
                if self.replaying.binary_search(&pos.shard).is_ok() {
                    if self.held.len() >= MAX_HELD {
                        return Step::Fail(Error::ServiceUnavailable(
                            "Too many events arrived during the resume's replay; resume again with the last token.".into(),
                        ));
                    }
                    self.held.push_back(Held {
                        pos,
                        base,
                        frame,
                        written_ms,
                    });
                    return Step::Send(Vec::new());
                }
                if !self.accept(pos) {
                    return Step::Send(Vec::new());
                }
                Step::One(self.ready(key, frame, base, written_ms, class.as_deref()))
            }
            ResumeMark::Replayed { pos } => {
                if !self.accept(pos) {
                    return Step::Send(Vec::new());
                }
                Step::One(self.ready(key, frame, (0, 0), written_ms, None))
            }
            ResumeMark::Done { shard, expired } => {
                if expired {
                    return Step::Fail(Error::ResumeExpired(format!(
                        "shard {shard}'s journal was trimmed during the replay"
                    )));
                }
                // A replay repeated after a hub failover ends again: nothing more to do.
                let Ok(i) = self.replaying.binary_search(&shard) else {
                    return Step::Send(Vec::new());
                };
                self.replaying.remove(i);
                let (mine, others): (VecDeque<Held>, VecDeque<Held>) =
                    std::mem::take(&mut self.held)
                        .into_iter()
                        .partition(|h| h.pos.shard == shard);
                self.held = others;
                let mut out = Vec::new();
                for h in mine {
                    if self.accept(h.pos) {
                        out.push(self.ready(key, h.frame, h.base, h.written_ms, None));
                    }
                }
                Step::Send(out)
            }
        }
    }
}

/// Tokens and stamped frames shared between sessions, per worker thread. The sessions of one
/// subscription group get the same event with the same position (their positions are the node's
/// watermark plus what they got since, which is the same for all of them once they have been
/// subscribed a while), so one signature and one copy of the frame serve them all instead of one
/// per session and event: the fan-out's "serialize once per event" holds with tokens too.
/// Bounded: each map is emptied when it reaches [`memo::LIMIT`] entries.
mod memo {
    use super::*;

    /// Entries per map and thread (a read's worth of events for a few positions).
    pub const LIMIT: usize = 1024;

    /// The frame as the inbox shared it, the token, and the frame with the token in it.
    type Stamped = (ByteString, Arc<str>, ByteString);

    thread_local! {
        static TOKENS: RefCell<HashMap<ResumePosition, Option<Arc<str>>>> =
            RefCell::new(HashMap::new());
        /// Keyed by the frame's buffer (sessions share the inbox's bytes); the value keeps
        /// that buffer alive, so its address cannot be reused by another frame meanwhile.
        static STAMPED: RefCell<HashMap<(usize, usize), Stamped>> =
            RefCell::new(HashMap::new());
    }

    /// `pos` signed (None when it does not fit a token), computed once per position.
    pub fn token(key: &TokenKey, pos: &ResumePosition) -> Option<Arc<str>> {
        TOKENS.with(|m| {
            let mut m = m.borrow_mut();
            if let Some(t) = m.get(pos) {
                return t.clone();
            }
            if m.len() >= LIMIT {
                m.clear();
            }
            let t: Option<Arc<str>> = key.encode(pos).map(Arc::from);
            m.insert(pos.clone(), t.clone());
            t
        })
    }

    /// `frame` with `token` in its headers, copied once per frame and token.
    pub fn stamped(frame: &ByteString, token: &Arc<str>) -> ByteString {
        let at = (frame.as_ptr() as usize, frame.len());
        STAMPED.with(|m| {
            let mut m = m.borrow_mut();
            if let Some((_, t, out)) = m.get(&at) {
                if **t == **token {
                    return out.clone();
                }
            }
            if m.len() >= LIMIT {
                m.clear();
            }
            let out = with_header(frame, token);
            m.insert(at, (frame.clone(), token.clone(), out.clone()));
            out
        })
    }
}

/// The refusal of a resume on a gateway with `resume.enabled = false` (400, no ACK).
pub fn disabled() -> Error {
    Error::ResumeInvalid("resume is disabled on this gateway".into())
}

/// The replay requests of a resumed position: one per shard, each on its command stream.
pub fn replay_requests(node: &str, session: u64, pos: &ResumePosition, shards: u32) -> BusWrite {
    let requests = (0..shards)
        .map(|k| {
            let (ms, seq) = pos.of(k);
            (
                k,
                ReplayRequest {
                    session: Origin {
                        node: node.to_owned(),
                        session,
                    },
                    after: format!("{ms}-{seq}"),
                },
            )
        })
        .collect();
    BusWrite::Replay { requests }
}

impl WsSession {
    /// No events START is waiting for its subscription (a START first reads the journals' marks,
    /// or checks its `resume=` token).
    pub(super) fn resume_pending_absent(&self) -> bool {
        self.resume.pending.is_none() && self.resume.pending_start.is_none()
    }

    /// An events START was refused after its marks or token were read: nothing changes.
    pub(super) fn abandon_resume(&mut self) {
        self.resume.pending = None;
        self.resume.pending_start = None;
    }

    /// A journaled event (or a replay's end) for this session: held, dropped or written with its
    /// token.
    pub(super) fn deliver_journaled(
        &mut self,
        mark: ResumeMark,
        frame: ByteString,
        written_ms: u64,
        ctx: &mut Context<Self>,
    ) {
        match self
            .resume
            .step(self.node.resume.key(), mark, frame, written_ms)
        {
            Step::One(e) => self.send_ready(e, ctx),
            Step::Send(events) => {
                for e in events {
                    self.send_ready(e, ctx);
                }
            }
            Step::Fail(e) => {
                let h = self.connection_headers();
                self.send_error(ctx, &e, None, h);
                self.close(ctx, 1013, "resume failed; resume again");
            }
        }
    }

    /// Writes an event with its token: the frame the inbox stamped for the session's class, or
    /// one stamped here (shared per thread with sessions at the same position).
    fn send_ready(&mut self, e: Ready, ctx: &mut Context<Self>) {
        let frame = match (e.stamped, &e.token) {
            (Some(stamped), _) => stamped,
            (None, Some(t)) => memo::stamped(&e.frame, t),
            (None, None) => e.frame,
        };
        self.send_journaled(ctx, frame, OutKind::Event, e.written_ms);
    }

    /// `START-SEND-EVENTS?resume=<token>`: checks the token (400) and that the journals still
    /// hold everything after it (410), both without an ACK; then subscribes as usual, and the ACK
    /// asks for the replays (`request_replays`).
    pub(super) fn start_resumed(
        &mut self,
        params: StartParams,
        token: String,
        ctx: &mut Context<Self>,
    ) {
        let h = self.params_headers(&params);
        if !self.node.config.resume.enabled {
            return self.send_error(ctx, &disabled(), None, h);
        }
        let Some(key) = self.node.resume.key() else {
            let e = Error::ServiceUnavailable("Resume tokens cannot be checked yet.".into());
            return self.send_error(ctx, &e, None, h);
        };
        let pos = match key.decode(&token) {
            Ok(p) => p,
            Err(e) => return self.send_error(ctx, &Error::ResumeInvalid(e.to_string()), None, h),
        };
        let shards = self.node.config.shards.count;
        let check = {
            let node = self.node.clone();
            let pos = pos.clone();
            async move {
                crate::node::resume::expired(node.redis.clone(), &node.keys, shards, &pos).await
            }
        };
        ctx.wait(check.into_actor(self).map(move |res, act, ctx| match res {
            Ok(false) => {
                act.resume.pending = Some(pos);
                act.start_streaming(StreamingKind::Events, params, ctx);
            }
            Ok(true) => {
                let e = Error::ResumeExpired(
                    "the journals no longer hold every event after this token".into(),
                );
                act.send_error(ctx, &e, None, h);
            }
            Err(e) => act.send_error(ctx, &e.to_protocol(), None, h),
        }));
    }

    /// A fresh `START-SEND-EVENTS` first reads where every journal is (one round trip), so the
    /// session's tokens start there; then subscribes as usual.
    pub(super) fn start_fresh(&mut self, params: StartParams, ctx: &mut Context<Self>) {
        let node = self.node.clone();
        let read = async move {
            let mut conn = node.redis.clone();
            crate::node::resume::journal_marks(&mut conn, &node.keys, node.config.shards.count)
                .await
        };
        ctx.wait(read.into_actor(self).map(move |res, act, ctx| match res {
            Ok(marks) => {
                act.resume.pending_start = Some(marks);
                act.start_streaming(StreamingKind::Events, params, ctx);
            }
            Err(e) => {
                let h = act.params_headers(&params);
                act.send_error(ctx, &e.to_protocol(), None, h);
            }
        }));
    }

    /// After an events START's ACK: a fresh one starts at the journal marks read before it; a
    /// resumed one holds live events from now on and asks every shard's owner for its replay. A
    /// failed request ends the session; its client resumes again.
    pub(super) fn request_replays(&mut self, ctx: &mut Context<Self>) {
        if let Some(marks) = self.resume.pending_start.take() {
            self.resume.start_at(&marks);
        }
        let Some(pos) = self.resume.pending.take() else {
            return;
        };
        let shards = self.node.config.shards.count;
        let write = replay_requests(&self.node.id, self.id, &pos, shards);
        self.resume.begin(pos, shards);
        if let Err(e) = self.node.publisher.write_unconfirmed(write) {
            let h = self.connection_headers();
            self.send_error(ctx, &e.to_protocol(), None, h);
            self.close(ctx, 1013, "resume failed; resume again");
        }
    }
}

#[cfg(test)]
#[path = "resume_cost.rs"]
mod cost;

#[cfg(test)]
mod tests {
    use super::*;

    fn p(shard: u32, ms: u64) -> JournalPos {
        JournalPos { shard, ms, seq: 0 }
    }

    fn frames(step: Step) -> Vec<String> {
        match step {
            Step::One(r) => vec![r.frame.to_string()],
            Step::Send(f) => f.into_iter().map(|r| r.frame.to_string()).collect(),
            Step::Fail(e) => panic!("{e:?}"),
        }
    }

    #[test]
    fn the_header_goes_first_into_the_headers() {
        assert_eq!(
            with_header(
                r#"{"topic":"a/b/things/twin/events/modified","headers":{"x":1},"path":"/"}"#,
                "T"
            )
            .to_string(),
            r#"{"topic":"a/b/things/twin/events/modified","headers":{"twinwire-resume":"T","x":1},"path":"/"}"#
        );
        assert_eq!(
            with_header(
                r#"{"topic":"a/b/things/twin/events/modified","headers":{},"path":"/"}"#,
                "T"
            )
            .to_string(),
            r#"{"topic":"a/b/things/twin/events/modified","headers":{"twinwire-resume":"T"},"path":"/"}"#
        );
        assert_eq!(
            with_header(
                r#"{"topic":"a/b/things/twin/events/modified","path":"/"}"#,
                "T"
            )
            .to_string(),
            r#"{"topic":"a/b/things/twin/events/modified","headers":{"twinwire-resume":"T"},"path":"/"}"#
        );
    }

    #[test]
    fn live_events_wait_for_their_shards_replay_and_nothing_comes_twice() {
        let key = TokenKey::new(b"k");
        let mut r = Resume::default();
        r.begin(
            ResumePosition {
                base: (10, 0),
                shards: vec![(1, (12, 0))],
            },
            2,
        );
        let live = |pos| ResumeMark::Live {
            pos,
            base: (20, 0),
            class: None,
        };
        // Shard 0 live events wait; a replayed one goes out.
        assert!(frames(r.step(Some(&key), live(p(0, 15)), "L15".into(), 0)).is_empty());
        assert!(frames(r.step(Some(&key), live(p(0, 16)), "L16".into(), 0)).is_empty());
        assert_eq!(
            frames(r.step(
                Some(&key),
                ResumeMark::Replayed { pos: p(0, 15) },
                "R15".into(),
                0
            )),
            vec!["R15"]
        );
        // At or below the resumed position of shard 1: already had.
        assert!(frames(r.step(
            Some(&key),
            ResumeMark::Replayed { pos: p(1, 12) },
            "x".into(),
            0
        ))
        .is_empty());
        // Shard 0 done: the held 15 is a duplicate of the replayed one, 16 goes out.
        assert_eq!(
            frames(r.step(
                Some(&key),
                ResumeMark::Done {
                    shard: 0,
                    expired: false
                },
                "".into(),
                0
            )),
            vec!["L16"]
        );
        // While shard 1 replays, tokens ignore the node's watermark: the base is the slowest
        // shard's own position.
        let pos = r.position((20, 0));
        assert_eq!(pos.base, (12, 0));
        assert_eq!(pos.shards, vec![(0, (16, 0))]);
        r.step(
            Some(&key),
            ResumeMark::Done {
                shard: 1,
                expired: false,
            },
            "".into(),
            0,
        );
        let pos = r.position((20, 0));
        assert_eq!(
            pos,
            ResumePosition {
                base: (20, 0),
                shards: vec![]
            }
        );
        assert!(matches!(
            r.step(
                Some(&key),
                ResumeMark::Done {
                    shard: 1,
                    expired: true
                },
                "".into(),
                0
            ),
            Step::Fail(Error::ResumeExpired(_))
        ));
    }

    fn token(step: Step) -> Option<Arc<str>> {
        match step {
            Step::One(r) => r.token,
            Step::Send(mut f) => f.pop().and_then(|r| r.token),
            Step::Fail(e) => panic!("{e:?}"),
        }
    }

    /// Sessions sharing their group's position class get exactly the tokens they would compute
    /// alone; one that misses an event leaves the class and joins it again once equal.
    #[test]
    fn class_positions_are_each_sessions_own_exact_position() {
        use crate::node::position_class::PositionClasses;
        let key = TokenKey::new(b"k");
        let mut classes = PositionClasses::default();
        let frame = ByteString::from(r#"{"topic":"a/b/things/twin/events/modified","path":"/"}"#);
        // (with classes, alone) per session; session 2 starts later, session 1 misses event 3.
        let mut sessions: Vec<(Resume, Resume)> = (0..3).map(|_| Default::default()).collect();
        for (with, alone) in sessions.iter_mut() {
            with.start_at(&[(1, 0), (2, 0), (1, 5)]);
            alone.start_at(&[(1, 0), (2, 0), (1, 5)]);
        }
        let mut shared = 0;
        for n in 0..40u64 {
            let pos = p((n % 3) as u32, 10 + n);
            let base = (8 + n, 0);
            let class = classes.step("g", pos, base, Some(&key), &frame);
            for (i, (with, alone)) in sessions.iter_mut().enumerate() {
                if (i == 1 && n == 3) || (i == 2 && n < 5) {
                    continue;
                }
                let mark = |class| ResumeMark::Live { pos, base, class };
                let a = token(alone.step(Some(&key), mark(None), frame.clone(), 0));
                let w = token(with.step(Some(&key), mark(class.clone()), frame.clone(), 0));
                assert_eq!(w, a, "session {i} after event {n}");
                if n == 39 {
                    let c = class.as_ref().unwrap();
                    shared += usize::from(
                        with.shared
                            .as_ref()
                            .is_some_and(|s| Arc::ptr_eq(s, &c.after)),
                    );
                }
            }
        }
        assert_eq!(shared, 3, "every session is back in its class");
    }

    /// The documented limits: a position that would pass 256 characters gives an event without a
    /// token (the previous token stays valid); more than 10,000 held events end the session.
    #[test]
    fn a_position_too_large_has_no_token_and_too_many_held_events_fail() {
        let key = TokenKey::new(b"k");
        let mut r = Resume::default();
        // 64 shards far apart from each other: far more than 256 characters.
        let spread = ResumePosition {
            base: (1, 0),
            shards: (1..64)
                .map(|k| (k, (1 + u64::from(k) * 1_000_000_007, 0)))
                .collect(),
        };
        assert!(key.encode(&spread).is_none());
        r.begin(spread, 64);
        match r.step(
            Some(&key),
            ResumeMark::Replayed {
                pos: p(5, 9_000_000_000),
            },
            "R".into(),
            0,
        ) {
            Step::One(ready) => {
                assert_eq!(&*ready.frame, "R");
                assert!(ready.token.is_none(), "no token rather than an inexact one");
            }
            _ => panic!("the event goes out"),
        }
        let live = |ms| ResumeMark::Live {
            pos: p(0, ms),
            base: (1, 0),
            class: None,
        };
        for ms in 0..MAX_HELD as u64 {
            assert!(frames(r.step(Some(&key), live(10 + ms), "L".into(), 0)).is_empty());
        }
        assert!(matches!(
            r.step(Some(&key), live(20_000), "L".into(), 0),
            Step::Fail(Error::ServiceUnavailable(_))
        ));
    }
}
