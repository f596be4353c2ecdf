//! The bus writes more than one writer makes, as pipeline steps (each reply ignored): deliveries
//! to a node (hubs, and gateways forwarding live answers), subscription changes and a departed
//! node's cleanup (gateways when they drain, hubs when they reap a dead one), plus the other
//! appends whose stream bound or field layout the contract fixes. Writing them in one place
//! keeps every writer on the same key, fields and `MAXLEN`.

use super::entry::StreamEntry;
use super::keys::Keys;
use super::limits::{
    NODE_STREAM_MAXLEN, POLICY_UPDATES_MAXLEN, SUBS_STREAM_MAXLEN, SUBS_STREAM_RETENTION_MS,
};
use super::policy_update::PolicyUpdate;
use super::scripts;
use super::subscription::SubChange;
use super::{Delivery, CMD_FIELD};

/// `XADD key [MAXLEN ~ max] * fields…`.
fn xadd(pipe: &mut redis::Pipeline, key: String, maxlen: Option<usize>, entry: &impl StreamEntry) {
    let c = pipe.cmd("XADD").arg(key);
    if let Some(max) = maxlen {
        c.arg("MAXLEN").arg("~").arg(max);
    }
    c.arg("*");
    for (k, v) in entry.to_fields() {
        c.arg(k).arg(v);
    }
    c.ignore();
}

/// A signal for the owner of `shard`; `payload` is [`BusCommand::encode`](super::BusCommand::encode)'s
/// output (the gateway encodes before it queues, so a too-large command fails early).
pub fn add_command(pipe: &mut redis::Pipeline, keys: &Keys, shard: u32, payload: &str) {
    pipe.cmd("XADD")
        .arg(keys.cmd(shard))
        .arg("*")
        .arg(CMD_FIELD)
        .arg(payload)
        .ignore();
}

/// A replay request for the owner of `shard` (resume), on its command stream like a signal.
pub fn add_replay_request(
    pipe: &mut redis::Pipeline,
    keys: &Keys,
    shard: u32,
    request: &super::ReplayRequest,
) {
    xadd(pipe, keys.cmd(shard), None, request);
}

/// A signal a share member gave back, for the owner of its thing's shard to dispatch again
/// (`payload`: a JSON-encoded [`ReturnedSignal`](super::ReturnedSignal)).
pub fn add_returned_signal(pipe: &mut redis::Pipeline, keys: &Keys, shard: u32, payload: &str) {
    pipe.cmd("XADD")
        .arg(keys.cmd(shard))
        .arg("*")
        .arg(super::RETURNED_FIELD)
        .arg(payload)
        .ignore();
}

/// One delivery for gateway node `node`.
pub fn add_delivery(pipe: &mut redis::Pipeline, keys: &Keys, node: &str, delivery: &Delivery) {
    xadd(pipe, keys.node(node), Some(NODE_STREAM_MAXLEN), delivery);
}

/// Announces a subscription change to every hub, and trims the stream by count (in the `XADD`)
/// and by age (`XTRIM MINID ~`), see [`SUBS_STREAM_MAXLEN`].
pub fn add_sub_change(pipe: &mut redis::Pipeline, keys: &Keys, change: &SubChange) {
    add_sub_change_at(pipe, keys, change, crate::clock::now_ms());
}

fn add_sub_change_at(pipe: &mut redis::Pipeline, keys: &Keys, change: &SubChange, now_ms: u64) {
    xadd(pipe, keys.subs_stream(), Some(SUBS_STREAM_MAXLEN), change);
    pipe.cmd("XTRIM")
        .arg(keys.subs_stream())
        .arg("MINID")
        .arg("~")
        .arg(now_ms.saturating_sub(SUBS_STREAM_RETENTION_MS))
        .ignore();
}

/// Announces a policy's new revision to every hub.
pub fn add_policy_update(pipe: &mut redis::Pipeline, keys: &Keys, update: &PolicyUpdate) {
    xadd(
        pipe,
        keys.policy_updates(),
        Some(POLICY_UPDATES_MAXLEN),
        update,
    );
}

/// Node `node` is gone (drained, or found dead by a hub): announce it first, so every hub drops
/// its subscriptions, then remove its subscription hash and the acknowledgement labels its
/// sessions held. Its other keys are the caller's (a draining node drops its liveness key, a hub
/// the node's delivery stream).
pub fn forget_node(pipe: &mut redis::Pipeline, keys: &Keys, node: &str) {
    add_sub_change(
        pipe,
        keys,
        &SubChange::NodeGone {
            node: node.to_owned(),
        },
    );
    pipe.cmd("DEL").arg(keys.subs_hash(node)).ignore();
    pipe.cmd("EVAL")
        .arg(scripts::RELEASE_NODE_LABELS)
        .arg(1)
        .arg(keys.ack_labels())
        .arg(node)
        .ignore();
}

/// Gives back the acknowledgement `labels` that `owner` (`<node>:<session>`) still holds.
pub fn release_labels(pipe: &mut redis::Pipeline, keys: &Keys, owner: &str, labels: &[String]) {
    let c = pipe
        .cmd("EVAL")
        .arg(scripts::RELEASE_LABELS)
        .arg(1)
        .arg(keys.ack_labels())
        .arg(owner);
    for l in labels {
        c.arg(l);
    }
    c.ignore();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_header(word: &str, sigil: char) -> bool {
        word.strip_prefix(sigil)
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    }

    /// The pipeline's commands as words, without RESP's length prefixes.
    fn packed(pipe: &redis::Pipeline) -> String {
        let raw = String::from_utf8_lossy(&pipe.get_packed_pipeline()).into_owned();
        raw.split("\r\n")
            .filter(|w| !w.is_empty() && !is_header(w, '$'))
            .map(|w| if is_header(w, '*') { "|" } else { w })
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn writes_go_to_the_contract_keys_with_their_bounds() {
        let keys = Keys::new("tw:");
        let mut pipe = redis::pipe();
        add_delivery(
            &mut pipe,
            &keys,
            "n1",
            &Delivery::Close {
                session: 1,
                code: 1000,
                reason: "r".into(),
                frame: None,
            },
        );
        let p = packed(&pipe);
        assert!(
            p.contains("| XADD tw:node:n1 MAXLEN ~ 200000 * k c s 1 c 1000 r r"),
            "{p}"
        );
        let mut pipe = redis::pipe();
        add_policy_update(
            &mut pipe,
            &keys,
            &PolicyUpdate {
                id: "p".into(),
                revision: 2,
            },
        );
        let p = packed(&pipe);
        assert!(
            p.contains("tw:policy-updates MAXLEN ~ 100000 * id p rev 2"),
            "{p}"
        );
        let mut pipe = redis::pipe();
        add_command(&mut pipe, &keys, 3, "{}");
        assert!(packed(&pipe).contains("XADD tw:{3}:cmd * m {}"));
        let mut pipe = redis::pipe();
        forget_node(&mut pipe, &keys, "n1");
        let p = packed(&pipe);
        assert!(p.contains("tw:subs MAXLEN ~ 10000 * op gone n n1"), "{p}");
        assert!(p.contains("| XTRIM tw:subs MINID ~ "), "{p}");
        assert!(p.contains("DEL tw:subs:n1"), "{p}");
        assert!(p.contains("tw:ack-labels n1"), "{p}");
        let mut pipe = redis::pipe();
        add_sub_change_at(
            &mut pipe,
            &keys,
            &SubChange::NodeReset { node: "n1".into() },
            3_600_000,
        );
        let p = packed(&pipe);
        assert!(
            p.ends_with(
                "| XADD tw:subs MAXLEN ~ 10000 * op reset n n1 | XTRIM tw:subs MINID ~ 3000000"
            ),
            "{p}"
        );
    }
}
