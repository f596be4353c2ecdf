//! One actix actor per WebSocket session: it reads the client's frames, answers control frames,
//! forwards signals to the bus, and writes what the node's inbox delivers. Its queue on the worker
//! thread (`node::worker_queue`) is the session's bounded outbound queue: the inbox delivers in
//! batches, counting the frames it queued in the session's handle, and a queue over its bound
//! marks a slow consumer, which is closed rather than allowed to slow anyone else.
//!
//! This file is the actor: its state, its lifecycle and the messages it handles (defined by the
//! node's session directory, which the session imports and which never imports the session). Each
//! concern keeps its state in a plain struct of its own module and the actor delegates to it:
//! `outbound` (the write queue), `inbound` (client frames to the bus), `streaming` (START/STOP),
//! `expiry` (the JWT), `live` (requests waiting for answers), `replies` (where answers to received
//! signals go), `acks` (acknowledgement labels and aggregation), `keepalive` (pings and the client
//! timeout), `throttle` (the inbound rate limit), `wire_errors` (stream errors to close codes), `search` (search subscriptions).

mod acks;
mod expiry;
mod history;
mod inbound;
mod keepalive;
pub mod live;
mod outbound;
mod replies;
pub mod resume;
mod search;
mod share;
pub mod smart;
pub mod streaming;
mod throttle;
mod wire_errors;

use crate::auth::AuthContext;
use crate::error::GatewayError;
use crate::metrics::OutKind;
use crate::node::directory::{Deliver, DeliverBatch, Inlet, SessionControl, SessionHandle};
use crate::node::publisher::BusWrite;
use crate::node::worker_queue::{Posted, QueueProbe, SessionQueue, WorkerQueue};
use crate::node::Node;
use crate::worker_metrics;
use crate::ws::{Incoming, ReadError, Writer};
use actix::prelude::*;
use actix_http::ws::{CloseCode, CloseReason, Message};
use bytestring::ByteString;
use outbound::{Out, Outbound};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use twinwire_common::protocol::headers::names;
use twinwire_common::protocol::{error_envelope, Headers, StreamingKind, Topic};
use twinwire_common::Error;

/// How often a session looks at its idle timers, at most: pings go out between `ping_idle` and
/// `ping_idle + check` after the client's last frame (or the last outgoing one), where `check` is
/// this or half of `ping_idle`, whichever is shorter (so the check interval is at most half the
/// timeout).
const HEARTBEAT_CHECK: Duration = Duration::from_secs(10);

/// Close code for a client that stopped reading (RFC 6455 1008, policy violation).
pub const CLOSE_SLOW_CONSUMER: u16 = 1008;
/// How long a slow consumer's connection is kept after its queue overflowed, for the close frame
/// to get out behind the frames already in the socket.
const SLOW_CLOSE_GRACE: Duration = Duration::from_secs(10);

/// What a session is: who it is and what it asked for at connect time.
pub struct SessionInit {
    pub auth: AuthContext,
    pub api_version: u8,
    /// Query parameters of the upgrade that act as headers of every signal (reference §2.3).
    pub session_headers: Headers,
    /// The connection correlation-id (Ditto's `x-correlation-id` of the upgrade, or random).
    pub connection_id: String,
    /// Acknowledgement labels this session declared at connect time (`declared-acks`).
    pub declared_acks: Vec<String>,
}

pub struct WsSession {
    id: u64,
    node: Arc<Node>,
    init: SessionInit,
    ws: Writer,
    kill: CancellationToken,
    /// When the client was last heard from and last pinged.
    keepalive: keepalive::KeepAlive,
    /// The inbound rate limit.
    throttle: throttle::Throttle,
    close_code: u16,
    /// Frames waiting for the socket, and the writer's state.
    outbound: Outbound,
    /// Frames the inbox queued for this session that it has not taken yet (shared with the
    /// session's handle, where the inbox checks it against `ws.outbound_queue`).
    queued: Arc<AtomicUsize>,
    /// The kinds whose START was acknowledged (the records live in the node's session directory).
    streaming: streaming::Streaming,
    /// The timer ending the session when its JWT expires.
    expiry: expiry::JwtExpiry,
    /// Live requests waiting for answers.
    live: live::LiveRequests,
    smart: smart::SmartRequests,
    /// Twin history streaming subscriptions (`history`).
    history: history::HistorySubscriptions,
    /// Where answers to received live signals go.
    replies: replies::ReplyForwarders,
    /// Commands waiting for their requested acknowledgements.
    acks: acks::AckAggregations,
    /// Signals waiting for their responses, for the command-duration histogram.
    commands: crate::command_timer::CommandTimer,
    /// Search subscriptions (issue 14).
    searches: search::Searches,
    /// Resume tokens and replays (issue 16).
    resume: resume::Resume,
    /// The `inbox` and `socket_write` hops of delivered batches (crate::hops).
    batch_clock: crate::hops::BatchClock,
    /// What the inbox posted that the session has not taken yet (`worker_queue`).
    posted: QueueProbe,
}

impl WsSession {
    /// Starts the actor on the current arbiter, reading `stream`.
    pub fn start<S>(node: Arc<Node>, init: SessionInit, ws: Writer, stream: S) -> Addr<WsSession>
    where
        S: futures_util::Stream<Item = Result<Incoming, ReadError>> + Unpin + 'static,
    {
        let id = node.next_id();
        let t = &node.config.ws.throttling;
        let throttle = throttle::Throttle::new(t.limit, Duration::from_millis(t.interval_ms));
        WsSession::create(move |ctx| {
            // The socket is polled when it is readable, not whenever the actor runs.
            ctx.add_stream(crate::ws::wake_gate::WakeGate::new(stream));
            // Deliveries come through this worker thread's queue, not the mailbox.
            let posted = SessionQueue::register(id);
            let probe = posted.probe();
            ctx.add_stream(posted);
            WsSession {
                id,
                node,
                init,
                ws,
                kill: CancellationToken::new(),
                keepalive: Default::default(),
                throttle,
                close_code: 1006,
                outbound: Outbound::default(),
                queued: Arc::default(),
                streaming: Default::default(),
                expiry: Default::default(),
                live: Default::default(),
                smart: Default::default(),
                history: Default::default(),
                replies: Default::default(),
                acks: Default::default(),
                commands: Default::default(),
                searches: Default::default(),
                resume: Default::default(),
                batch_clock: Default::default(),
                posted: probe,
            }
        })
    }

    /// Counts one received frame and its payload bytes under `kind`.
    fn count_in(&self, kind: &'static str, len: usize) {
        let m = &self.node.metrics;
        m.frames_in.with_label_values(&[kind]).inc();
        m.bytes_in.with_label_values(&[kind]).inc_by(len as u64);
    }

    /// Headers naming only the connection's correlation-id.
    fn connection_headers(&self) -> Headers {
        let mut h = Headers::new();
        h.insert(names::CORRELATION_ID, self.init.connection_id.clone());
        h
    }

    /// Queues a text frame.
    fn send_text(&mut self, ctx: &mut Context<Self>, text: ByteString, label: OutKind) {
        self.send_journaled(ctx, text, label, 0)
    }

    /// Queues a text frame of a signal the hub journaled at `written_ms`: fan-out latency is
    /// measured when the frame is written.
    fn send_journaled(
        &mut self,
        ctx: &mut Context<Self>,
        text: ByteString,
        label: OutKind,
        written_ms: u64,
    ) {
        worker_metrics::with(&self.node.metrics, |w| w.frame_out(label, text.len()));
        self.push(ctx, Out::Text(text, written_ms));
    }

    fn push(&mut self, ctx: &mut Context<Self>, out: Out) {
        if self.outbound.push(out) {
            self.pump(ctx);
        }
    }

    /// Writes what is queued, a burst at a time; while the socket's buffer is full the actor waits
    /// here (and so stops taking mail), which is what turns a slow client into a full queue.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        let Some(burst) = self.outbound.next_burst() else {
            if self.batch_clock.is_open() {
                let clock = &mut self.batch_clock;
                worker_metrics::with(&self.node.metrics, |w| clock.drained(&w.socket_write));
            }
            return;
        };
        let closes = matches!(burst.last(), Some(Out::Close(_)));
        let write = outbound::write_burst(
            self.ws.clone(),
            burst,
            self.kill.clone(),
            self.node.metrics.clone(),
        );
        ctx.wait(write.into_actor(self).map(move |ok, act, ctx| {
            // The socket is gone, the client does not read, or the close frame went out: the
            // session ends, and pending writes are dropped with the actor's context.
            if !ok || closes {
                ctx.stop();
            } else {
                act.pump(ctx);
            }
        }));
    }

    /// Sends an error response frame.
    fn send_error(
        &mut self,
        ctx: &mut Context<Self>,
        error: &Error,
        about: Option<&Topic>,
        headers: Headers,
    ) {
        let env = error_envelope(error, about, headers);
        self.send_text(ctx, env.to_json_string().into(), OutKind::Error);
    }

    /// Closes with `code` and `reason` after everything queued so far, then stops.
    fn close(&mut self, ctx: &mut Context<Self>, code: u16, reason: &str) {
        if self.outbound.is_closing() {
            return;
        }
        self.close_code = code;
        let reason = CloseReason {
            code: CloseCode::from(code),
            description: (!reason.is_empty()).then(|| reason.to_owned()),
        };
        self.push(ctx, Out::Close(reason));
    }

    /// Sends `error` and closes with 1000 (Ditto ends such sessions normally; we also say why).
    fn end_session(&mut self, ctx: &mut Context<Self>, error: Error) {
        let reason = match &error {
            Error::SessionExpired => "JWT expired".to_owned(),
            other => other.to_ditto().error.into_owned(),
        };
        let h = self.connection_headers();
        self.send_error(ctx, &error, None, h);
        self.close(ctx, 1000, &reason);
    }

    fn heartbeat(&mut self, ctx: &mut Context<Self>) {
        let cfg = &self.node.config.ws;
        let beat = self.keepalive.beat(
            Instant::now(),
            self.outbound.idle_for(),
            Duration::from_secs(cfg.ping_idle_secs),
            Duration::from_secs(cfg.client_timeout_secs),
        );
        match beat {
            keepalive::Beat::Nothing => {}
            keepalive::Beat::Ping => self.push(ctx, Out::Ping),
            keepalive::Beat::TimedOut if self.outbound.is_closing() => {
                // The close frame did not get out within a heartbeat: give up on the peer.
                ctx.stop();
            }
            keepalive::Beat::TimedOut => {
                tracing::debug!(session = self.id, "client stopped answering pings; closing");
                self.close(ctx, 1001, "no answer to pings");
            }
        }
    }

    /// Counts a frame against the inbound rate limit; false when it is over the limit and must
    /// not be handled. A refused text frame is answered with `too.many.requests` and the seconds
    /// to wait, under the connection's correlation-id (the frame is not parsed: that is the work
    /// the limit saves).
    fn admit(&mut self, ctx: &mut Context<Self>, text: bool, len: usize) -> bool {
        let Err(wait) = self.throttle.admit(Instant::now()) else {
            return true;
        };
        self.count_in("throttled", len);
        if text {
            let mut h = self.connection_headers();
            h.insert(
                throttle::RETRY_AFTER,
                throttle::retry_after_secs(wait).to_string(),
            );
            self.send_error(ctx, &Error::TooManyRequests, None, h);
        }
        false
    }

    /// One frame of a delivered batch.
    fn deliver(&mut self, msg: Deliver, ctx: &mut Context<Self>) {
        // A STOP may have overtaken deliveries already on their way: drop them here.
        if let Some(kind) = msg.kind {
            if !self.streaming.is_confirmed(kind) {
                return;
            }
        }
        if msg.kind.is_none() {
            self.commands
                .finish(&msg.frame, msg.live, &self.node.metrics);
        }
        if msg.live {
            return self.on_live_answer(msg.frame, ctx);
        }
        if msg.kind.is_none() && self.take_history_page(&msg.frame, ctx) {
            return;
        }
        if msg.kind.is_none() && self.take_smart_twin_response(&msg.frame, ctx) {
            return;
        }
        if msg.kind.is_none() && self.take_twin_response(&msg.frame, ctx) {
            return;
        }
        if let Some(reply) = msg.reply {
            self.replies.remember(reply);
        }
        // Resume (issue 16): journaled events get their token, or wait for a replay.
        if let Some(mark) = msg.resume {
            return self.deliver_journaled(mark, msg.frame, msg.written_ms, ctx);
        }
        let label = match msg.kind {
            None => OutKind::Response,
            Some(StreamingKind::Events) => OutKind::Event,
            Some(StreamingKind::Messages) => OutKind::Message,
            Some(StreamingKind::LiveCommands) => OutKind::LiveCommand,
            Some(StreamingKind::LiveEvents) => OutKind::LiveEvent,
            Some(StreamingKind::PolicyAnnouncements) => OutKind::Announcement,
        };
        match msg.give_back {
            // Shared subscriptions: the guard rides with the frame until it is written.
            Some(give_back) => {
                let len = msg.frame.len();
                worker_metrics::with(&self.node.metrics, |w| w.frame_out(label, len));
                self.push(ctx, Out::Shared(msg.frame, msg.written_ms, give_back));
            }
            None => self.send_journaled(ctx, msg.frame, label, msg.written_ms),
        }
    }
}

impl Actor for WsSession {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.node.config.ws.outbound_queue);
        self.node.sessions.insert_session(
            self.id,
            SessionHandle {
                deliver: Inlet::Worker(WorkerQueue::current()),
                control: ctx.address().recipient(),
                kill: self.kill.clone(),
                queued: self.queued.clone(),
            },
        );
        self.node
            .metrics
            .sessions
            .with_label_values(&["connected"])
            .inc();
        self.node.metrics.connections_accepted.inc();
        let check =
            HEARTBEAT_CHECK.min(Duration::from_secs(self.node.config.ws.ping_idle_secs) / 2);
        ctx.run_interval(check, |act, ctx| act.heartbeat(ctx));
        self.arm_expiry(ctx);
        self.claim_declared_acks(ctx);
        tracing::debug!(session = self.id, subjects = ?self.init.auth.subjects, "session started");
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        self.release_declared_acks();
        if self.kill.is_cancelled() {
            self.close_code = CLOSE_SLOW_CONSUMER;
            tracing::info!(
                session = self.id,
                "slow consumer: outbound queue overflowed; closed"
            );
            // The close frame queues behind what the socket already holds, so it reaches a client
            // that reads again within the grace period; one that never does is cut off then.
            // Nothing else is queued for this session meanwhile (the actor is gone).
            let ws = self.ws.clone();
            let reason = CloseReason {
                code: CloseCode::Policy,
                description: Some("slow consumer: outbound queue overflow".into()),
            };
            ws.queue(Message::Close(Some(reason)));
            actix::spawn(async move {
                let _ = tokio::time::timeout(SLOW_CLOSE_GRACE, ws.flush()).await;
            });
        }
        let kinds = self.node.sessions.remove_session(self.id);
        for kind in self.streaming.confirmed_kinds() {
            self.node
                .metrics
                .sessions
                .with_label_values(&[kind.as_str()])
                .dec();
        }
        self.node
            .metrics
            .sessions
            .with_label_values(&["connected"])
            .dec();
        self.node
            .metrics
            .connections_closed
            .with_label_values(&[&self.close_code.to_string()])
            .inc();
        if !kinds.is_empty() {
            // The records must leave Redis (and every hub) with the session: when the write queue
            // is full, wait for room rather than drop the removal. A failed write is repaired by
            // liveness, which then rewrites the node's hash.
            let end = BusWrite::SessionEnd {
                session: self.id,
                kinds,
            };
            if let Err(GatewayError::BusBusy) = self.node.publisher.write_unconfirmed(end.clone()) {
                let publisher = self.node.publisher.clone();
                actix::spawn(async move {
                    let _ = publisher.write_confirmed(end).await;
                });
            }
        }
        tracing::debug!(session = self.id, code = self.close_code, "session ended");
    }
}

impl StreamHandler<Result<Incoming, ReadError>> for WsSession {
    fn handle(&mut self, item: Result<Incoming, ReadError>, ctx: &mut Self::Context) {
        self.keepalive.heard(Instant::now());
        match item {
            Ok(Incoming::Text(text)) => {
                if self.admit(ctx, true, text.len()) {
                    self.on_text(text, ctx)
                }
            }
            Ok(Incoming::Binary(b)) => {
                // Ditto drops binary frames without a reply (reference §1.1).
                if self.admit(ctx, false, b.len()) {
                    self.count_in("binary", b.len());
                }
            }
            Ok(Incoming::Ping(p)) => {
                if self.admit(ctx, false, p.len()) {
                    self.push(ctx, Out::Pong(p))
                }
            }
            Ok(Incoming::Pong(_)) => {}
            Ok(Incoming::Close(reason)) => {
                // Echo the peer's code, as Ditto's WebSocket engine does (reference §2.7).
                let code = reason.as_ref().map(|r| u16::from(r.code)).unwrap_or(1000);
                self.close(ctx, code, "");
            }
            Err(e) => match wire_errors::classify(&e) {
                wire_errors::WireError::Close(wire_errors::CLOSE_TOO_BIG, _) => {
                    let max = self.node.config.ws.max_message_bytes;
                    let reason = format!("message larger than {max} bytes");
                    self.close(ctx, wire_errors::CLOSE_TOO_BIG, &reason);
                }
                wire_errors::WireError::Close(code, reason) => {
                    tracing::debug!(session = self.id, error = %e, code, "WebSocket protocol error");
                    self.close(ctx, code, reason);
                }
                wire_errors::WireError::HangUp => {
                    // The connection broke. The frames read before (a device's last answer, sent
                    // just before it hung up) were handled already; the stream ends next and
                    // `finished` stops the session.
                    tracing::debug!(session = self.id, error = %e, "connection lost");
                    self.close_code = 1006;
                }
            },
        }
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

impl StreamHandler<Posted> for WsSession {
    fn handle(&mut self, item: Posted, ctx: &mut Self::Context) {
        match item {
            Posted::Batch(batch) => self.take_batch(batch, ctx),
            Posted::Control(order) => self.obey(order, ctx),
        }
    }

    /// The queue never ends while the session reads it.
    fn finished(&mut self, _ctx: &mut Self::Context) {}
}

impl WsSession {
    /// A batch the inbox delivered.
    fn take_batch(&mut self, batch: DeliverBatch, ctx: &mut Context<Self>) {
        self.queued.fetch_sub(batch.0.len(), Ordering::Relaxed);
        if self.kill.is_cancelled() {
            return;
        }
        let clock = &mut self.batch_clock;
        worker_metrics::with(&self.node.metrics, |w| clock.taken(&w.inbox, batch.1));
        self.outbound.begin_batch();
        for msg in batch.0 {
            self.deliver(msg, ctx);
        }
        // Batches already posted behind this one join its write, up to a burst: a session that
        // fell behind catches up with fewer system calls, and nothing waits that was not waiting.
        let more = self.posted.has_more() && self.outbound.room_in_burst();
        if self.outbound.end_batch() && !more {
            self.pump(ctx);
        }
    }
}

impl Handler<SessionControl> for WsSession {
    type Result = ();

    fn handle(&mut self, msg: SessionControl, ctx: &mut Self::Context) {
        self.obey(msg, ctx)
    }
}

impl WsSession {
    /// An order from the node.
    fn obey(&mut self, msg: SessionControl, ctx: &mut Context<Self>) {
        match msg {
            SessionControl::Close {
                code,
                reason,
                frame,
            } => {
                if let Some(f) = frame {
                    self.send_text(ctx, f, OutKind::Error);
                }
                self.close(ctx, code, &reason);
            }
            SessionControl::Drain => self.close(ctx, 1001, "gateway shutting down"),
            SessionControl::SlowConsumer => {
                // The inbox already cancelled `kill`; normally the pending write noticed first and
                // the actor is stopping. If not (it was idle), stop now.
                ctx.stop();
            }
        }
    }
}
