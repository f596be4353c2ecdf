//! The names of every Redis key of the bus (the table in this module's parent). Every per-shard key
//! carries the shard as a hash tag `{k}`, so one shard's keys share a Redis Cluster slot and the
//! commit script may touch them atomically.

/// Builds key names under a configurable prefix (default `tw:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: impl Into<String>) -> Keys {
        Keys {
            prefix: prefix.into(),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The key resume tokens are signed with, when `resume.secret` is not configured: created
    /// once by the first gateway (`SET NX`), read by every other.
    pub fn resume_secret(&self) -> String {
        format!("{}resume-secret", self.prefix)
    }

    /// Signals addressed to things (or policies) of shard `k`.
    pub fn cmd(&self, k: u32) -> String {
        format!("{}{{{k}}}:cmd", self.prefix)
    }
    /// Which hub owns shard `k`, with its fencing epoch.
    pub fn lease(&self, k: u32) -> String {
        format!("{}{{{k}}}:lease", self.prefix)
    }
    /// The epoch counter handing out fencing tokens for shard `k`.
    pub fn epoch(&self, k: u32) -> String {
        format!("{}{{{k}}}:epoch", self.prefix)
    }
    pub fn thing(&self, k: u32, id: &str) -> String {
        format!("{}{{{k}}}:thing:{id}", self.prefix)
    }
    pub fn policy(&self, k: u32, id: &str) -> String {
        format!("{}{{{k}}}:policy:{id}", self.prefix)
    }
    /// The prefix of shard `k`'s search index keys (`sx:ids`, `sx:n:<path>`, … in `bus::search`);
    /// the commit script builds the names under it, all in the shard's slot.
    pub fn search_index(&self, k: u32) -> String {
        format!("{}{{{k}}}:sx:", self.prefix)
    }
    /// Last command-stream entry applied in shard `k`.
    pub fn applied(&self, k: u32) -> String {
        format!("{}{{{k}}}:applied", self.prefix)
    }
    /// The event journal of shard `k`.
    pub fn events(&self, k: u32) -> String {
        format!("{}{{{k}}}:events", self.prefix)
    }
    /// The history of thing `id` (of shard `k`): one stream entry per event it kept, trimmed by
    /// the hub's history retention.
    pub fn history(&self, k: u32, id: &str) -> String {
        format!("{}{{{k}}}:history:{id}", self.prefix)
    }
    /// Policies of shard `k` with subjects that expire or are announced: a sorted set of policy
    /// ids scored by when (ms since the epoch) the next of those is due.
    pub fn expiring(&self, k: u32) -> String {
        format!("{}{{{k}}}:expiring", self.prefix)
    }
    /// Last journal entry of shard `k` whose response and fan-out were sent.
    pub fn fanned(&self, k: u32) -> String {
        format!("{}{{{k}}}:fanned", self.prefix)
    }
    /// Deliveries for gateway node `n`.
    pub fn node(&self, n: &str) -> String {
        format!("{}node:{n}", self.prefix)
    }
    /// Liveness of gateway node `n`.
    pub fn node_alive(&self, n: &str) -> String {
        format!("{}node:{n}:alive", self.prefix)
    }
    /// Node `n`'s subscriptions: field `<session>:<kind>` → subscription record.
    pub fn subs_hash(&self, n: &str) -> String {
        format!("{}subs:{n}", self.prefix)
    }
    /// Pattern matching every node's subscription hash.
    pub fn subs_hash_pattern(&self) -> String {
        format!("{}subs:*", self.prefix)
    }
    /// Subscription changes of all nodes, tailed by every hub.
    pub fn subs_stream(&self) -> String {
        format!("{}subs", self.prefix)
    }
    /// Policy revisions written by any hub, tailed by every hub to drop cached enforcers.
    pub fn policy_updates(&self) -> String {
        format!("{}policy-updates", self.prefix)
    }
    /// Live hubs: a sorted set of hub ids scored by when their liveness lapses (ms since the
    /// epoch), used to spread shards evenly over live hubs.
    pub fn hubs(&self) -> String {
        format!("{}hubs", self.prefix)
    }
    /// Acknowledgement labels declared by sessions, cluster-wide (label → node:session).
    pub fn ack_labels(&self) -> String {
        format!("{}ack-labels", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_keys_carry_the_shard_as_a_hash_tag() {
        let k = Keys::new("tw:");
        assert_eq!(k.cmd(17), "tw:{17}:cmd");
        assert_eq!(k.thing(3, "org.x:y"), "tw:{3}:thing:org.x:y");
        assert_eq!(k.events(0), "tw:{0}:events");
        assert_eq!(k.history(3, "org.x:y"), "tw:{3}:history:org.x:y");
        assert_eq!(k.node("n1"), "tw:node:n1");
        assert_eq!(k.subs_hash("n1"), "tw:subs:n1");
        assert_eq!(Keys::new("x-").lease(63), "x-{63}:lease");
    }
}
