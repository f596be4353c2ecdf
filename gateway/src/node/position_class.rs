//! Resume (issue 16): positions shared by the sessions of a subscription group, so tokens cost
//! the fan-out close to nothing per session.
//!
//! A session's exact position after an event is its own state (the least watermark it may claim
//! plus the shards where it got something later) raised to the node's least watermark. Sessions
//! of one subscription group get the same live events, so once their states are equal they stay
//! equal: the inbox keeps one state per group (a *position class*), advances it once per event,
//! signs it once and stamps the frame once ([`ClassStep`]). A session whose own position is the
//! class's position before the event (the same `Arc`) moves to the class's position after it
//! with reference counts alone. A session that differs (fresh, resuming, or one that missed one
//! of the group's events) computes its own position, and joins the class again as soon as its
//! position equals the class's: every token stays an exact position of that session.

use crate::node::directory::Entries;
use bytestring::ByteString;
use std::collections::HashMap;
use std::sync::Arc;
use twinwire_common::bus::{JournalPos, ResumePosition, TokenKey};

/// The header carrying a session's position after an event.
pub const RESUME_HEADER: &str = "twinwire-resume";

/// A position as it changes with events: every shard at least `floor`, the listed ones beyond.
#[derive(Debug, Default, Clone)]
pub struct PositionState {
    /// Every shard is at least here.
    pub floor: (u64, u64),
    /// Shards beyond `floor`, sorted by shard.
    pub last: Vec<(u32, (u64, u64))>,
}

impl PositionState {
    pub fn last_of(&self, shard: u32) -> (u64, u64) {
        match self.last.binary_search_by_key(&shard, |l| l.0) {
            Ok(i) => self.last[i].1.max(self.floor),
            Err(_) => self.floor,
        }
    }

    /// Records `pos` as delivered; false when it already was.
    pub fn accept(&mut self, pos: JournalPos) -> bool {
        if pos.id() <= self.last_of(pos.shard) {
            return false;
        }
        match self.last.binary_search_by_key(&pos.shard, |l| l.0) {
            Ok(i) => self.last[i].1 = pos.id(),
            Err(i) => self.last.insert(i, (pos.shard, pos.id())),
        }
        true
    }

    /// Raises every shard to `base` and returns the position.
    pub fn raise(&mut self, base: (u64, u64)) -> ResumePosition {
        if base > self.floor {
            self.floor = base;
        }
        let floor = self.floor;
        self.last.retain(|(_, p)| *p > floor);
        ResumePosition {
            base: floor,
            shards: self.last.clone(),
        }
    }

    /// The state a position stands for (a position is a raised state).
    pub fn of(pos: &ResumePosition) -> PositionState {
        PositionState {
            floor: pos.base,
            last: pos.shards.clone(),
        }
    }
}

/// What one event does to a position class: sessions at `before` move to `after`.
#[derive(Debug)]
pub struct ClassStep {
    pub before: Arc<ResumePosition>,
    pub after: Arc<ResumePosition>,
    /// `after` signed (None before the key is loaded, or when it would pass 256 characters).
    pub token: Option<Arc<str>>,
    /// The event's frame with `token` in its headers.
    pub stamped: Option<ByteString>,
}

struct Class {
    state: PositionState,
    current: Arc<ResumePosition>,
}

/// Steps between sweeps of classes whose group has no session here any more.
const SWEEP_EVERY: u64 = 4096;

/// The inbox's position classes, one per subscription group with sessions on this node.
#[derive(Default)]
pub struct PositionClasses {
    classes: HashMap<String, Class>,
    steps: u64,
}

impl PositionClasses {
    /// Advances group `key`'s class by the event at `pos` (dispatched when the node's least
    /// watermark was `base`), signing and stamping once for every session of the group.
    pub fn step(
        &mut self,
        key: &str,
        pos: JournalPos,
        base: (u64, u64),
        token_key: Option<&TokenKey>,
        frame: &ByteString,
    ) -> Option<Arc<ClassStep>> {
        self.steps += 1;
        let class = match self.classes.get_mut(key) {
            Some(c) => c,
            None => self.classes.entry(key.to_owned()).or_insert_with(|| Class {
                state: PositionState::default(),
                current: Arc::default(),
            }),
        };
        if !class.state.accept(pos) {
            return None;
        }
        let after = Arc::new(class.state.raise(base));
        let before = std::mem::replace(&mut class.current, after.clone());
        let token: Option<Arc<str>> = token_key.and_then(|k| k.encode(&after)).map(Arc::from);
        let stamped = token.as_deref().map(|t| with_header(frame, t));
        Some(Arc::new(ClassStep {
            before,
            after,
            token,
            stamped,
        }))
    }

    /// Now and then, forgets the classes of groups that have no session on this node.
    pub fn sweep(&mut self, directory: &Entries) {
        if self.steps < SWEEP_EVERY {
            return;
        }
        self.steps = 0;
        self.classes
            .retain(|key, _| directory.group_members(key).next().is_some());
    }
}

/// `frame` with the header `twinwire-resume: token` added (the frame is an envelope as the hub
/// serialized it: `{"topic":"…","headers":{…},…}`, topics never contain quotes).
pub fn with_header(frame: &str, token: &str) -> ByteString {
    const TOPIC: &str = "{\"topic\":\"";
    const HEADERS: &str = ",\"headers\":{";
    let Some(rest) = frame.strip_prefix(TOPIC) else {
        return ByteString::from(frame);
    };
    let Some(end) = rest.find('"') else {
        return ByteString::from(frame);
    };
    let at = TOPIC.len() + end + 1;
    let mut out = String::with_capacity(frame.len() + token.len() + 32);
    out.push_str(&frame[..at]);
    if frame[at..].starts_with(HEADERS) {
        out.push_str(HEADERS);
        out.push('"');
        out.push_str(RESUME_HEADER);
        out.push_str("\":\"");
        out.push_str(token);
        out.push('"');
        let rest = &frame[at + HEADERS.len()..];
        if !rest.starts_with('}') {
            out.push(',');
        }
        out.push_str(rest);
    } else {
        out.push_str(HEADERS);
        out.push('"');
        out.push_str(RESUME_HEADER);
        out.push_str("\":\"");
        out.push_str(token);
        out.push_str("\"}");
        out.push_str(&frame[at..]);
    }
    ByteString::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(shard: u32, ms: u64) -> JournalPos {
        JournalPos { shard, ms, seq: 0 }
    }

    #[test]
    fn a_class_chains_its_positions_and_signs_each_once() {
        let key = TokenKey::new(b"k");
        let mut c = PositionClasses::default();
        let frame = ByteString::from(r#"{"topic":"a/b/things/twin/events/modified","path":"/"}"#);
        let s1 = c.step("g", p(1, 10), (5, 0), Some(&key), &frame).unwrap();
        let s2 = c.step("g", p(2, 11), (6, 0), Some(&key), &frame).unwrap();
        assert!(Arc::ptr_eq(&s1.after, &s2.before));
        assert_eq!(
            *s2.after,
            ResumePosition {
                base: (6, 0),
                shards: vec![(1, (10, 0)), (2, (11, 0))]
            }
        );
        assert_eq!(
            s2.token.as_deref(),
            key.encode(&s2.after).as_deref(),
            "the token is the class's position"
        );
        assert!(s2.stamped.as_deref().unwrap().contains(RESUME_HEADER));
        assert!(
            c.step("g", p(2, 11), (6, 0), Some(&key), &frame).is_none(),
            "an event the class had"
        );
        // Another group is another class.
        let o = c.step("h", p(2, 11), (6, 0), None, &frame).unwrap();
        assert!(o.token.is_none() && o.stamped.is_none());
        assert_eq!(
            *o.after,
            ResumePosition {
                base: (6, 0),
                shards: vec![(2, (11, 0))]
            }
        );
    }
}
