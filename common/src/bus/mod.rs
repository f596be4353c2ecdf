//! The Redis bus between gateways and hubs: the whole wire contract in one place. Gateways and
//! hubs of different versions share one Redis, so nothing here may change its key names, field
//! names or encodings without a plan for a running cluster; the tests of each format pin today's
//! exact fields and bytes.
//!
//! | module | owns |
//! |---|---|
//! | [`keys`] | every key name, under the configurable prefix |
//! | [`limits`] | stream bounds (`MAXLEN ~`, `MINID ~`) and the hubs' consumer group |
//! | [`shard`] | which shard an entity belongs to |
//! | [`entry`] | the field/value shape every stream entry shares; decoding Redis's stream replies |
//! | [`command`] | signals to shard owners (`tw:{k}:cmd`) |
//! | [`delivery`] | deliveries to gateway nodes (`tw:node:<n>`) |
//! | [`subscription`] | subscription records (`tw:subs:<n>`) and changes (`tw:subs`) |
//! | [`share`] | shared subscriptions (`group=`): the share in a record, signals given back (`tw:{k}:cmd` field `r`) |
//! | [`journal`] | journal entries (`tw:{k}:events`) |
//! | [`history`] | twin history entries (`tw:{k}:history:<id>`) |
//! | [`policy_update`] | policy revisions (`tw:policy-updates`) |
//! | [`position`] | stream ids and journal positions |
//! | [`replay`] | replay requests to shard owners (resume, `tw:{k}:cmd` field `rp`) |
//! | [`resume_token`] | resume tokens: a session's signed position in every journal |
//! | [`writes`] | the writes more than one writer makes (pipeline steps) |
//! | [`scripts`] | the Lua scripts (`scripts/*.lua`) |
//! | [`search`] | things-search queries and answers between gateways and shard owners |
//!
//! # Keys and streams (prefix configurable, default `tw:`)
//!
//! | key | type | written by | read by | what |
//! |---|---|---|---|---|
//! | `tw:{k}:cmd` | stream | gateways | owner of shard k | every signal addressed to a thing in shard k (k = hash(thingId) mod S, S = 64 by default); field `m`: [`BusCommand`], or field `r`: a [`ReturnedSignal`] a shared-subscription member gave back, or field `rp`: a [`ReplayRequest`] |
//! | `tw:{k}:lease` | string, PX | hubs | hubs | which hub owns shard k, with a fencing epoch (`<hub>:<epoch>`) |
//! | `tw:{k}:epoch` | counter | hubs | hubs | hands out the fencing tokens of shard k |
//! | `tw:{k}:thing:<id>`, `tw:{k}:policy:<id>` | string | shard owner | shard owner | twin and policy documents with revision (a policy lives in the shard of its own id) |
//! | `tw:{k}:applied` | string | shard owner | shard owner | last cmd-stream entry applied (exactly-once effect after failover) |
//! | `tw:{k}:events` | stream, MAXLEN~ and MINID~ | shard owner | shard owner, replay, resume | the shard's event journal, written in the same atomic write as the twin; field `d`: [`JournalEntry`] |
//! | `tw:{k}:history:<id>` | stream, MAXLEN and MINID, PEXPIRE | shard owner | shard owner | thing id's kept events, written in the same atomic write as the twin, trimmed by the hub's `history` retention (count and age) and dropped when the thing is created anew; field `d`: [`HistoryEntry`] |
//! | `tw:{k}:expiring` | sorted set | shard owner | shard owner | policies of shard k with expiring or announced subjects, scored by when the next is due (ms); written in the same atomic write as the policy |
//! | `tw:{k}:sx:…` | sorted sets, sets, strings | shard owner (in the commit) | shard owner | the things-search index of shard k ([`search`]) |
//! | `tw:{k}:fanned` | string | shard owner | shard owner | last journal entry whose response and fan-out were sent |
//! | `tw:node:<n>` | stream, MAXLEN~ | hubs, gateways | gateway n | deliveries for node n: responses, fan-out batches, forwarded live answers ([`Delivery`]) |
//! | `tw:node:<n>:alive` | string, PX | gateway n | hubs | node liveness |
//! | `tw:subs:<n>` | hash | gateway n | hubs | node n's subscriptions: field `<session>:<kind>` → [`SubRecord`] |
//! | `tw:subs` | stream, MAXLEN~ and MINID~ | gateways, hubs | every hub (not a group) | subscription changes ([`SubChange`]), tailed after loading the hashes; trimmed by count and age, a hub overtaken by trimming reloads the hashes |
//! | `tw:policy-updates` | stream, MAXLEN~ | shard owner | every hub | policy revisions ([`PolicyUpdate`]), so other hubs drop their cached enforcers |
//! | `tw:hubs` | sorted set | hubs | hubs | live hubs scored by when their liveness lapses; sizes each hub's share of shards |
//! | `tw:resume-secret` | string | first gateway (`SET NX`) | gateways | the key resume tokens are signed with, unless `resume.secret` is configured |
//! | `tw:ack-labels` | hash | gateways | gateways, hubs | declared acknowledgement label → the one session (`<node>:<session>`) holding it, cluster-wide |
//!
//! Every per-shard key carries the shard as a hash tag `{k}`, so one shard's keys share a Redis
//! Cluster slot and the commit script may touch them atomically.

pub mod command;
pub mod delivery;
pub mod entry;
pub mod history;
pub mod journal;
pub mod keys;
pub mod limits;
pub mod policy_update;
pub mod position;
pub mod replay;
pub mod resume_token;
pub mod scripts;
pub mod search;
pub mod shard;
pub mod share;
pub mod subscription;
pub mod writes;

pub use command::{BusCommand, Origin, CMD_FIELD};
pub use delivery::{Delivery, Reply};
pub use entry::{entries, DecodeError, Fields, StreamEntry};
pub use history::{HistoryEntry, HISTORY_FIELD};
pub use journal::{EventRecord, JournalEntry, JOURNAL_FIELD};
pub use keys::Keys;
pub use limits::{
    HUB_GROUP, NODE_STREAM_MAXLEN, POLICY_UPDATES_MAXLEN, SUBS_STREAM_MAXLEN,
    SUBS_STREAM_RETENTION_MS,
};
pub use policy_update::PolicyUpdate;
pub use position::{parse_stream_id, JournalPos};
pub use replay::{ReplayRequest, REPLAY_FIELD};
pub use resume_token::{journal_watermark, ResumePosition, TokenError, TokenKey};
pub use shard::{shard_of, DEFAULT_SHARDS};
pub use share::{
    thing_of_frame, ReturnedSignal, ShareDispatch, ShareSpec, MAX_SHARE_NAME_BYTES, RETURNED_FIELD,
};
pub use subscription::{parse_sub_field, sub_field, SubChange, SubRecord};
