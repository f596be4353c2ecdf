//! Server-Sent Events (issue 16; Ditto's `ThingsSseRouteBuilder`): `GET /api/2/things` with
//! `Accept: text/event-stream` streams every twin event the caller may see as Ditto does, one
//! `data:` line per change holding the thing built from the event (its id and the changed part,
//! merged with `extraFields`, projected by `fields`; `_revision`/`_modified` only when selected).
//! Parameters: `ids`, `fields`, `namespaces`, `filter`, `extraFields`.
//!
//! twinwire adds what Ditto's route lacks: each event's `id:` is its resume token, and a reconnect
//! with `Last-Event-ID` (what a browser's `EventSource` sends by itself) resumes exactly as
//! `START-SEND-EVENTS?resume=` does, or is refused with 410 (or 400) before the stream starts.
//! Idle streams get a comment line every few seconds, which also notices a client that left; a
//! stream authenticated by a JWT ends when the JWT expires.
//!
//! A stream is a session of the node like a WebSocket: it registers in the session directory,
//! holds an events subscription (its `ids` become an RQL `in(thingId,…)` the hubs evaluate), and
//! gets deliveries, replays and tokens through the same inbox and `session::resume::Resume`.

use super::error_response;
use crate::auth::AuthContext;
use crate::node::directory::{DeliverBatch, Inlet, SessionControl, SessionHandle};
use crate::node::publisher::BusWrite;
use crate::node::Node;
use crate::session::resume::{replay_requests, Resume, Step};
use crate::session::streaming::subscription_record;
use actix::prelude::*;
use actix_web::{HttpRequest, HttpResponse};
use bytes::Bytes;
use serde_json::{Map, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use twinwire_common::protocol::{Action, Envelope, StartParams, StreamingKind, Topic};
use twinwire_common::things::{FieldSelector, Pointer};
use twinwire_common::Error;

/// A comment goes out after this long without an event.
const KEEPALIVE: Duration = Duration::from_secs(5);

/// Whether the request asks for an event stream.
pub fn wants(req: &HttpRequest) -> bool {
    req.headers()
        .get_all(actix_web::http::header::ACCEPT)
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/event-stream"))
}

/// The stream's parameters.
#[derive(Default)]
struct Query {
    ids: Vec<String>,
    fields: Option<String>,
    namespaces: Vec<String>,
    filter: Option<String>,
    extra_fields: Option<String>,
}

fn query_of(q: &str) -> Query {
    let mut out = Query::default();
    let list = |v: &str| -> Vec<String> {
        v.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    for (k, v) in form_urlencoded::parse(q.as_bytes()) {
        match k.as_ref() {
            "ids" => out.ids.extend(list(&v)),
            "namespaces" => out.namespaces.extend(list(&v)),
            "fields" => out.fields = Some(v.into_owned()),
            "filter" => out.filter = Some(v.into_owned()),
            "extraFields" => out.extra_fields = Some(v.into_owned()),
            _ => {}
        }
    }
    out
}

/// The filter the hubs evaluate: `ids` as `in(thingId,…)`, and the caller's filter.
fn combined_filter(ids: &[String], filter: Option<String>) -> Option<String> {
    if ids.is_empty() {
        return filter;
    }
    let quoted: Vec<String> = ids
        .iter()
        .map(|id| format!("\"{}\"", id.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    let ids = format!("in(thingId,{})", quoted.join(","));
    Some(match filter {
        Some(f) => format!("and({ids},{f})"),
        None => ids,
    })
}

/// Starts the stream for an authenticated request.
pub async fn stream(req: &HttpRequest, node: &Arc<Node>, auth: AuthContext) -> HttpResponse {
    // A draining node takes no new streams, like WebSocket upgrades: the client's reconnect
    // (an `EventSource` retries on its own) goes to another node instead of being cut again.
    if node.draining.load(std::sync::atomic::Ordering::Relaxed) {
        return error_response(&Error::ServiceUnavailable(
            "This gateway is shutting down; connect again.".into(),
        ));
    }
    let q = query_of(req.query_string());
    let fields = match q.fields.as_deref().map(FieldSelector::parse).transpose() {
        Ok(f) => f,
        Err(e) => return error_response(&e),
    };
    let params = StartParams {
        namespaces: q.namespaces,
        filter: combined_filter(&q.ids, q.filter),
        extra_fields: q.extra_fields,
        ..Default::default()
    };
    let record = match subscription_record(
        StreamingKind::Events,
        &params,
        &node.config.ws.subscription_limits,
        &auth.subjects,
        2,
        &[],
    ) {
        Ok(r) => r,
        Err(e) => return error_response(&e),
    };
    let shards = node.config.shards.count;
    let last_event_id = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(str::to_owned);
    let resumed = match last_event_id {
        None => None,
        Some(_) if !node.config.resume.enabled => {
            return error_response(&crate::session::resume::disabled())
        }
        Some(token) => {
            let Some(key) = node.resume.key() else {
                return error_response(&Error::ServiceUnavailable(
                    "Resume tokens cannot be checked yet.".into(),
                ));
            };
            let pos = match key.decode(&token) {
                Ok(p) => p,
                Err(e) => return error_response(&Error::ResumeInvalid(e.to_string())),
            };
            match crate::node::resume::expired(node.redis.clone(), &node.keys, shards, &pos).await {
                Ok(false) => Some(pos),
                Ok(true) => {
                    return error_response(&Error::ResumeExpired(
                        "the journals no longer hold every event after this token".into(),
                    ))
                }
                Err(e) => return error_response(&e.to_protocol()),
            }
        }
    };
    let (tx, rx) = mpsc::channel::<Bytes>(node.config.ws.outbound_queue);
    let id = node.next_id();
    let mut resume = Resume::default();
    match &resumed {
        // Live events wait for the replays from the start.
        Some(pos) => resume.begin(pos.clone(), shards),
        // `resume.enabled = false`: events go out without ids, no token work.
        None if !node.config.resume.enabled => {}
        // A fresh stream starts where the journals are before it subscribes.
        None => {
            let mut conn = node.redis.clone();
            match crate::node::resume::journal_marks(&mut conn, &node.keys, shards).await {
                Ok(marks) => resume.start_at(&marks),
                Err(e) => return error_response(&e.to_protocol()),
            }
        }
    }
    let kill = CancellationToken::new();
    let queued = Arc::new(AtomicUsize::new(0));
    // A stream ends when its JWT does, as a WebSocket session does; EventSource then reconnects
    // with a fresh credential (or stops, refused).
    let expires_in = auth
        .expires_at
        .map(|t| t.duration_since(SystemTime::now()).unwrap_or_default());
    let addr = SseSession {
        id,
        expires_in,
        node: node.clone(),
        tx,
        resume,
        fields,
        last_sent: Instant::now(),
        queued: queued.clone(),
        kill: kill.clone(),
    }
    .start();
    node.sessions.insert_session(
        id,
        SessionHandle {
            deliver: Inlet::Mailbox(addr.clone().recipient()),
            control: addr.clone().recipient(),
            kill,
            queued,
        },
    );
    node.sessions
        .subscribe(id, StreamingKind::Events, record.clone());
    let subscribed = match node.publisher.write(BusWrite::Subscribe {
        session: id,
        kind: StreamingKind::Events,
        record,
    }) {
        Ok(done) => done
            .await
            .unwrap_or(Err(crate::error::GatewayError::BusClosed)),
        Err(e) => Err(e),
    };
    if let Err(e) = subscribed {
        addr.do_send(SessionControl::Drain);
        return error_response(&e.to_protocol());
    }
    if let Some(pos) = &resumed {
        if let Err(e) = node
            .publisher
            .write_unconfirmed(replay_requests(&node.id, id, pos, shards))
        {
            addr.do_send(SessionControl::Drain);
            return error_response(&e.to_protocol());
        }
    }
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<Bytes, actix_web::Error>(b), rx))
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        // Proxies such as nginx would otherwise hold events back in their buffers.
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body)
}

/// The thing Ditto's SSE sends for an event frame (`ThingEventToThingConverter`, then the
/// projection); `None` when nothing is left to send.
fn thing_of(frame: &str, fields: Option<&FieldSelector>) -> Option<String> {
    let env = Envelope::parse(frame).ok()?;
    let topic = Topic::parse(&env.topic).ok()?;
    let mut thing = Map::new();
    thing.insert(
        "thingId".into(),
        Value::String(format!("{}:{}", topic.namespace, topic.name)),
    );
    let mut thing = Value::Object(thing);
    let deleted = topic.action == Some(Action::Deleted);
    let path = Pointer::parse(&env.path);
    if let (Some(v), false) = (env.value, deleted) {
        if path.is_root() {
            if let (Value::Object(t), Value::Object(src)) = (&mut thing, v) {
                for (k, val) in src {
                    t.entry(k).or_insert(val);
                }
            }
        } else {
            path.set(&mut thing, v);
        }
    }
    if let (Some(Value::Object(extra)), Value::Object(t)) = (env.extra, &mut thing) {
        for (k, v) in extra {
            t.entry(k).or_insert(v);
        }
    }
    let out = match fields {
        Some(sel) => {
            if let Value::Object(t) = &mut thing {
                if let Some(r) = env.revision {
                    t.insert("_revision".into(), Value::from(r));
                }
                if let Some(ts) = env.timestamp {
                    t.insert("_modified".into(), Value::String(ts));
                }
            }
            sel.apply(&thing)
        }
        None => thing,
    };
    match &out {
        Value::Object(m) if m.is_empty() => None,
        _ => Some(out.to_string()),
    }
}

/// One event stream, as a session of the node.
struct SseSession {
    id: u64,
    /// When the credential stops being valid.
    expires_in: Option<Duration>,
    node: Arc<Node>,
    tx: mpsc::Sender<Bytes>,
    resume: Resume,
    fields: Option<FieldSelector>,
    last_sent: Instant,
    queued: Arc<AtomicUsize>,
    kill: CancellationToken,
}

impl SseSession {
    /// Queues bytes for the client; a client gone or too slow ends the stream.
    fn send(&mut self, bytes: Bytes, ctx: &mut Context<Self>) {
        self.last_sent = Instant::now();
        if self.tx.try_send(bytes).is_err() {
            if !self.tx.is_closed() {
                self.node.metrics.slow_consumer_closes.inc();
            }
            ctx.stop();
        }
    }
}

impl Actor for SseSession {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.node.config.ws.outbound_queue);
        if let Some(d) = self.expires_in {
            ctx.run_later(d, |_, ctx| ctx.stop());
        }
        ctx.run_interval(KEEPALIVE, |act, ctx| {
            if act.last_sent.elapsed() >= KEEPALIVE {
                act.send(Bytes::from_static(b":\n\n"), ctx);
            }
        });
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.kill.cancel();
        let kinds = self.node.sessions.remove_session(self.id);
        let _ = self.node.publisher.write_unconfirmed(BusWrite::SessionEnd {
            session: self.id,
            kinds,
        });
    }
}

impl SseSession {
    /// One event as Server-Sent Events: its token as `id:` (when it has one), Ditto's thing as
    /// `data:`.
    fn send_event(&mut self, frame: &str, token: Option<&str>, ctx: &mut Context<Self>) {
        let Some(data) = thing_of(frame, self.fields.as_ref()) else {
            return;
        };
        let mut out = String::with_capacity(data.len() + 300);
        if let Some(t) = token {
            out.push_str("id:");
            out.push_str(t);
            out.push('\n');
        }
        out.push_str("data:");
        out.push_str(&data);
        out.push_str("\n\n");
        self.send(Bytes::from(out), ctx);
    }
}

impl Handler<DeliverBatch> for SseSession {
    type Result = ();

    fn handle(&mut self, batch: DeliverBatch, ctx: &mut Self::Context) {
        self.queued.fetch_sub(batch.0.len(), Ordering::Relaxed);
        for msg in batch.0 {
            let Some(mark) = msg.resume else {
                // Without resume tokens (`resume.enabled = false`) events come unmarked.
                if msg.kind == Some(StreamingKind::Events) && !self.node.config.resume.enabled {
                    self.send_event(&msg.frame, None, ctx);
                }
                continue;
            };
            match self
                .resume
                .step(self.node.resume.key(), mark, msg.frame, msg.written_ms)
            {
                Step::One(e) => self.send_event(&e.frame, e.token.as_deref(), ctx),
                Step::Send(events) => {
                    for e in events {
                        self.send_event(&e.frame, e.token.as_deref(), ctx);
                    }
                }
                // The client reconnects with its last id and learns why (410).
                Step::Fail(_) => ctx.stop(),
            }
        }
    }
}

impl Handler<SessionControl> for SseSession {
    type Result = ();

    fn handle(&mut self, _: SessionControl, ctx: &mut Self::Context) {
        // Closed, drained or too slow: the stream ends and the client reconnects elsewhere.
        ctx.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_become_an_rql_filter_beside_the_callers() {
        assert_eq!(
            combined_filter(&[], Some("eq(a,1)".into())),
            Some("eq(a,1)".into())
        );
        assert_eq!(
            combined_filter(&["a:b".into(), "c:\"d".into()], Some("eq(a,1)".into())),
            Some(r#"and(in(thingId,"a:b","c:\"d"),eq(a,1))"#.into())
        );
        let f = combined_filter(&["a:b".into()], None).unwrap();
        assert!(twinwire_common::rql::parse(&f).is_ok(), "{f}");
    }

    #[test]
    fn data_is_the_thing_built_from_the_event_projected_by_fields() {
        let frame = r#"{"topic":"org.x/t1/things/twin/events/modified","headers":{},"path":"/attributes/a","value":1,"revision":3,"timestamp":"2024-01-01T00:00:00Z"}"#;
        assert_eq!(
            thing_of(frame, None).as_deref(),
            Some(r#"{"thingId":"org.x:t1","attributes":{"a":1}}"#)
        );
        let sel = FieldSelector::parse("thingId,_revision").unwrap();
        assert_eq!(
            thing_of(frame, Some(&sel)).as_deref(),
            Some(r#"{"thingId":"org.x:t1","_revision":3}"#)
        );
        let sel = FieldSelector::parse("features").unwrap();
        assert_eq!(thing_of(frame, Some(&sel)), None);
        let deleted = r#"{"topic":"org.x/t1/things/twin/events/deleted","headers":{},"path":"/","revision":4}"#;
        assert_eq!(
            thing_of(deleted, None).as_deref(),
            Some(r#"{"thingId":"org.x:t1"}"#)
        );
    }
}
