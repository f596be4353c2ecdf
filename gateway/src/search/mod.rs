//! Things search at the gateway (DESIGN.md "Search index"): a search request ([`options`]) is
//! sent as a query on every shard's command stream, so each shard owner answers it in order
//! after every command written before it; the answers (each shard's page, already filtered,
//! permission-checked, shaped and sorted) are merged, sorted and cut here. Shared by the HTTP
//! routes (`http::search`) and the WebSocket's search subscriptions (`session::search`).

pub mod options;

use crate::node::publisher::BusWrite;
use crate::node::Node;
use options::SearchRequest;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use twinwire_common::bus::search::{compare_keys, SearchAnswer, SearchItem, QUERY_TOPIC};
use twinwire_common::bus::{BusCommand, Origin};
use twinwire_common::clock::now_ms;
use twinwire_common::protocol::{Envelope, Headers};
use twinwire_common::{DittoError, Error};

/// One page of a search.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub items: Vec<Value>,
    /// The sort key of the last item, when more results follow it.
    pub next: Option<Vec<Value>>,
}

/// Sends `query` to shard `shard` as `subjects` and waits for its answer.
async fn ask(
    node: &Arc<Node>,
    shard: u32,
    value: Value,
    subjects: Vec<String>,
    timeout: Duration,
) -> Result<SearchAnswer, Error> {
    let request_id = node.next_id();
    let waiter = node.waiters.add(request_id);
    let cmd = BusCommand {
        origin: Origin {
            node: node.id.clone(),
            session: request_id,
        },
        subjects,
        api_version: 2,
        envelope: Envelope {
            topic: QUERY_TOPIC.into(),
            headers: Headers::default(),
            path: "/".into(),
            value: Some(value),
            ..Default::default()
        },
        accepted_ms: now_ms(),
    };
    let payload = cmd.encode();
    let written = match node.publisher.write(BusWrite::Command { shard, payload }) {
        Ok(done) => matches!(done.await, Ok(Ok(()))),
        Err(_) => false,
    };
    if !written {
        node.waiters.remove(request_id);
        return Err(crate::error::GatewayError::BusClosed.to_protocol());
    }
    let frame = match tokio::time::timeout(timeout, waiter).await {
        Ok(Ok(frame)) => frame,
        _ => {
            node.waiters.remove(request_id);
            return Err(Error::CommandTimeout(timeout.as_millis() as u64));
        }
    };
    let env = Envelope::parse(&frame).map_err(|_| Error::Internal("unreadable answer".into()))?;
    let value = env.value.unwrap_or(Value::Null);
    match env.status {
        Some(200) => serde_json::from_value(value)
            .map_err(|_| Error::Internal("unreadable search answer".into())),
        status => Err(DittoError::from_wire(status.unwrap_or(500), &value)
            .map(Error::Ditto)
            .unwrap_or_else(|| Error::Internal("unreadable search error".into()))),
    }
}

/// Asks every shard owner and waits for all of them (the first error wins).
async fn ask_all(
    node: &Arc<Node>,
    request: &SearchRequest,
    count: bool,
    subjects: &[String],
    timeout: Duration,
) -> Result<Vec<SearchAnswer>, Error> {
    // Plain data always serializes.
    let value = serde_json::to_value(request.query(count)).expect("query serializes");
    let asks = (0..node.config.shards.count)
        .map(|shard| ask(node, shard, value.clone(), subjects.to_vec(), timeout));
    futures_util::future::join_all(asks)
        .await
        .into_iter()
        .collect()
}

/// One page of `request`'s results for `subjects`.
pub async fn page(
    node: &Arc<Node>,
    request: &SearchRequest,
    subjects: &[String],
    timeout: Duration,
) -> Result<Page, Error> {
    let answers = ask_all(node, request, false, subjects, timeout).await?;
    let mut more = answers.iter().any(|a| a.more);
    let mut items: Vec<SearchItem> = answers.into_iter().flat_map(|a| a.items).collect();
    items.sort_by(|a, b| compare_keys(&a.key, &b.key, &request.sort));
    let wanted = request.offset.unwrap_or(0) + request.size;
    if items.len() > wanted {
        more = true;
        items.truncate(wanted);
    }
    let items: Vec<SearchItem> = items
        .into_iter()
        .skip(request.offset.unwrap_or(0))
        .collect();
    let next = if more {
        items.last().map(|i| i.key.clone())
    } else {
        None
    };
    Ok(Page {
        items: items.into_iter().map(|i| i.thing).collect(),
        next,
    })
}

/// How many things match `request` for `subjects`.
pub async fn count(
    node: &Arc<Node>,
    request: &SearchRequest,
    subjects: &[String],
    timeout: Duration,
) -> Result<u64, Error> {
    let answers = ask_all(node, request, true, subjects, timeout).await?;
    Ok(answers.iter().map(|a| a.count).sum())
}
