//! One actix actor per WebSocket session: it reads the client's frames, answers control frames,
//! forwards signals to the bus, and writes what the node's inbox delivers. Its mailbox is the
//! session's bounded outbound queue: the inbox delivers in batches with `try_send`, counting the
//! frames it queued in the session's handle, and a queue over its bound marks a slow consumer,
//! which is closed rather than allowed to slow anyone else.

mod acks;
pub use acks::RELEASE_LABELS;
mod inbound;
pub mod live;
mod subscriptions;

use crate::auth::AuthContext;
use crate::metrics::OutKind;
use crate::node::registry::SessionHandle;
use crate::node::Node;
use actix::prelude::*;
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, ProtocolError};
use bytestring::ByteString;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use twinwire_common::bus::SubRecord;
use twinwire_common::clock::now_ms;
use twinwire_common::protocol::{error_envelope, Headers, StreamingKind, Topic};
use twinwire_common::Error;

/// How often a session looks at its idle timers, at most: pings go out between `ping_idle` and
/// `ping_idle + check` after the last outgoing frame, where `check` is this or half of
/// `ping_idle`, whichever is shorter (so the check interval is at most half the timeout).
const HEARTBEAT_CHECK: Duration = Duration::from_secs(10);

/// Close code for a client that stopped reading (RFC 6455 1008, policy violation).
pub const CLOSE_SLOW_CONSUMER: u16 = 1008;
/// How long a slow consumer's connection is kept after its queue overflowed, for the close frame
/// to get out behind the frames already in the socket.
const SLOW_CLOSE_GRACE: Duration = Duration::from_secs(10);
/// Frames written per actor wait, at most.
const PUMP_BURST: usize = 64;

/// Frames from the bus for this session, in stream order: the inbox sends one batch per session
/// per read, so a session's mailbox, wake-up and write burst are paid once per batch, not per frame.
#[derive(Message)]
#[rtype(result = "()")]
pub struct DeliverBatch(pub Vec<Deliver>);

/// A frame from the bus for this session.
pub struct Deliver {
    /// The serialized frame, shared with every other session receiving it.
    pub frame: ByteString,
    /// The subscription kind it was delivered for; `None` for responses.
    pub kind: Option<StreamingKind>,
    /// When the hub wrote it, ms since the epoch (0 if unknown).
    pub written_ms: u64,
    /// For a live signal that wants an answer: where this session's response goes.
    pub reply: Option<twinwire_common::bus::Reply>,
    /// An answer from another session (live response, acknowledgement), to be matched against
    /// what this session asked before it is written.
    pub live: bool,
}

/// Orders from the node to a session.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub enum SessionControl {
    /// Send `frame` if given, then close with `code` and `reason`.
    Close {
        code: u16,
        reason: String,
        frame: Option<ByteString>,
    },
    /// The gateway is shutting down: close with 1001 (going away).
    Drain,
    /// The outbound queue overflowed.
    SlowConsumer,
}

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

/// One frame waiting to be written.
enum Out {
    /// A text frame, and when the hub journaled the signal it carries (ms, 0 if it is none).
    Text(ByteString, u64),
    Ping,
    Pong(bytes::Bytes),
    Close(CloseReason),
}

pub struct WsSession {
    id: u64,
    node: Arc<Node>,
    init: SessionInit,
    ws: actix_ws::Session,
    kill: CancellationToken,
    subs: [Option<SubRecord>; 5],
    last_in: Instant,
    last_out: Instant,
    close_code: u16,
    /// The timer ending the session when its JWT expires.
    expiry: Option<SpawnHandle>,
    /// Frames produced while a write is in flight, in order. Writes go out one at a time through
    /// `ctx.wait`, which both keeps their order (actix runs concurrent waits newest-first) and
    /// stops the actor taking mail while the socket is full.
    outq: VecDeque<Out>,
    writing: bool,
    /// Set while a batch is taken in, so its frames go out in one burst rather than the first alone.
    holding: bool,
    closing: bool,
    /// Frames the inbox queued in the mailbox and this session has not taken yet (shared with the
    /// session's handle, where the inbox checks it against `ws.outbound_queue`).
    queued: Arc<AtomicUsize>,
    /// Live requests waiting for answers, and where answers to received live signals go.
    live: live::LiveState,
    /// Commands waiting for their requested acknowledgements.
    acks: acks::AckState,
    /// Signals waiting for their responses, for the command-duration histogram.
    commands: crate::command_timer::CommandTimer,
}

impl WsSession {
    /// Starts the actor on the current arbiter, reading `stream`.
    pub fn start<S>(
        node: Arc<Node>,
        init: SessionInit,
        ws: actix_ws::Session,
        stream: S,
    ) -> Addr<WsSession>
    where
        S: futures_util::Stream<Item = Result<AggregatedMessage, ProtocolError>> + 'static,
    {
        let id = node.next_id();
        WsSession::create(move |ctx| {
            ctx.add_stream(stream);
            WsSession {
                id,
                node,
                init,
                ws,
                kill: CancellationToken::new(),
                subs: Default::default(),
                last_in: Instant::now(),
                last_out: Instant::now(),
                close_code: 1006,
                expiry: None,
                outq: VecDeque::new(),
                writing: false,
                holding: false,
                closing: false,
                queued: Arc::default(),
                live: live::LiveState::default(),
                commands: Default::default(),
                acks: acks::AckState::default(),
            }
        })
    }

    fn subscribed(&self, kind: StreamingKind) -> bool {
        self.subs[kind.index()].is_some()
    }

    /// Counts one received frame and its payload bytes under `kind`.
    fn count_in(&self, kind: &'static str, len: usize) {
        let m = &self.node.metrics;
        m.frames_in.with_label_values(&[kind]).inc();
        m.bytes_in.with_label_values(&[kind]).inc_by(len as u64);
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
        let c = self.node.metrics.out(label);
        c.frames.inc();
        c.bytes.inc_by(text.len() as u64);
        self.push(ctx, Out::Text(text, written_ms));
    }

    fn push(&mut self, ctx: &mut Context<Self>, out: Out) {
        if self.closing {
            return;
        }
        if matches!(out, Out::Close(_)) {
            self.closing = true;
        }
        self.last_out = Instant::now();
        self.outq.push_back(out);
        if !self.writing && !self.holding {
            self.pump(ctx);
        }
    }

    /// Writes what is queued, a burst at a time; while the socket's buffer is full the actor waits
    /// here (and so stops taking mail), which is what turns a slow client into a full mailbox.
    /// One actor wait per burst rather than per frame: under load a session has several frames
    /// queued, and each wait costs a boxed future and a pass through the actor's context.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        if self.outq.is_empty() {
            self.writing = false;
            return;
        }
        self.writing = true;
        let mut burst = Vec::with_capacity(self.outq.len().min(PUMP_BURST));
        while burst.len() < PUMP_BURST {
            let Some(out) = self.outq.pop_front() else {
                break;
            };
            let close = matches!(out, Out::Close(_));
            burst.push(out);
            if close {
                break;
            }
        }
        let closes = matches!(burst.last(), Some(Out::Close(_)));
        let mut ws = self.ws.clone();
        let kill = self.kill.clone();
        let node = self.node.clone();
        let fut = async move {
            let send = async {
                for out in burst {
                    let written_ms = match &out {
                        Out::Text(_, ms) => *ms,
                        _ => 0,
                    };
                    let sent = match out {
                        Out::Text(t, _) => ws.text(t).await,
                        Out::Ping => ws.ping(b"").await,
                        Out::Pong(p) => ws.pong(&p).await,
                        Out::Close(r) => ws.clone().close(Some(r)).await,
                    };
                    if sent.is_err() {
                        return false;
                    }
                    if written_ms > 0 {
                        node.metrics
                            .fanout_latency
                            .observe(now_ms().saturating_sub(written_ms) as f64 / 1000.0);
                    }
                }
                true
            };
            tokio::select! {
                ok = send => ok,
                _ = kill.cancelled() => false,
            }
        };
        ctx.wait(fut.into_actor(self).map(move |ok, act, ctx| {
            if !ok || closes {
                act.abort(ctx);
            } else {
                act.pump(ctx);
            }
        }));
    }

    fn send_ping(&mut self, ctx: &mut Context<Self>) {
        self.push(ctx, Out::Ping);
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
        if self.closing {
            return;
        }
        self.close_code = code;
        let reason = CloseReason {
            code: CloseCode::from(code),
            description: (!reason.is_empty()).then(|| reason.to_owned()),
        };
        self.push(ctx, Out::Close(reason));
    }

    /// Ends the session at once: the socket is gone, the client does not read, or the close frame
    /// went out. Pending writes are dropped with the actor's context.
    fn abort(&mut self, ctx: &mut Context<Self>) {
        ctx.stop();
    }

    fn heartbeat(&mut self, ctx: &mut Context<Self>) {
        let cfg = &self.node.config.ws;
        if self.last_in.elapsed() > Duration::from_secs(cfg.client_timeout_secs) {
            tracing::debug!(session = self.id, "client stopped answering pings; closing");
            self.close_code = 1001;
            self.abort(ctx);
            return;
        }
        if self.last_out.elapsed() >= Duration::from_secs(cfg.ping_idle_secs) {
            self.send_ping(ctx);
        }
    }
}

impl Actor for WsSession {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.node.config.ws.outbound_queue);
        self.node.registry.insert_session(
            self.id,
            SessionHandle {
                deliver: ctx.address().recipient(),
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
            actix::spawn(async move {
                let _ = tokio::time::timeout(SLOW_CLOSE_GRACE, ws.close(Some(reason))).await;
            });
        }
        let kinds = self.node.registry.remove_session(self.id);
        for (i, s) in self.subs.iter().enumerate() {
            if s.is_some() {
                self.node
                    .metrics
                    .sessions
                    .with_label_values(&[StreamingKind::ALL[i].as_str()])
                    .dec();
            }
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
            let _ = self.node.publisher.write_unconfirmed(
                crate::node::publisher::BusWrite::SessionEnd {
                    session: self.id,
                    kinds,
                },
            );
        }
        tracing::debug!(session = self.id, code = self.close_code, "session ended");
    }
}

impl StreamHandler<Result<AggregatedMessage, ProtocolError>> for WsSession {
    fn handle(&mut self, item: Result<AggregatedMessage, ProtocolError>, ctx: &mut Self::Context) {
        self.last_in = Instant::now();
        match item {
            Ok(AggregatedMessage::Text(text)) => self.on_text(text, ctx),
            Ok(AggregatedMessage::Binary(b)) => {
                // Ditto drops binary frames without a reply (reference §1.1).
                self.count_in("binary", b.len());
            }
            Ok(AggregatedMessage::Ping(p)) => self.push(ctx, Out::Pong(p)),
            Ok(AggregatedMessage::Pong(_)) => {}
            Ok(AggregatedMessage::Close(reason)) => {
                // Echo the peer's code, as Ditto's WebSocket engine does (reference §2.7).
                let code = reason.as_ref().map(|r| u16::from(r.code)).unwrap_or(1000);
                self.close(ctx, code, "");
            }
            Err(ProtocolError::Overflow) => {
                let max = self.node.config.ws.max_message_bytes;
                self.close(ctx, 1009, &format!("message larger than {max} bytes"));
            }
            Err(ProtocolError::Io(e)) if e.kind() == std::io::ErrorKind::InvalidData => {
                self.close(ctx, 1007, "text frame is not UTF-8");
            }
            Err(ProtocolError::Io(e)) => {
                // The connection broke. actix-ws reports that before the frames it had already
                // read from the socket (a device's last answer, sent just before it hung up), so
                // keep reading: they follow, then the stream ends and `finished` stops the session.
                tracing::debug!(session = self.id, error = %e, "connection lost");
                self.close_code = 1006;
            }
            Err(e) => {
                tracing::debug!(session = self.id, error = %e, "WebSocket protocol error");
                self.close(ctx, 1002, "protocol error");
            }
        }
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

impl Handler<DeliverBatch> for WsSession {
    type Result = ();

    fn handle(&mut self, batch: DeliverBatch, ctx: &mut Self::Context) {
        self.queued.fetch_sub(batch.0.len(), Ordering::Relaxed);
        if self.kill.is_cancelled() {
            return;
        }
        self.holding = true;
        for msg in batch.0 {
            self.deliver(msg, ctx);
        }
        self.holding = false;
        if !self.writing {
            self.pump(ctx);
        }
    }
}

impl WsSession {
    fn deliver(&mut self, msg: Deliver, ctx: &mut Context<Self>) {
        // A STOP may have overtaken deliveries already on their way: drop them here.
        if let Some(kind) = msg.kind {
            if !self.subscribed(kind) {
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
        if msg.kind.is_none() && self.take_twin_response(&msg.frame, ctx) {
            return;
        }
        if let Some(reply) = msg.reply {
            self.remember_reply(reply);
        }
        let label = match msg.kind {
            None => OutKind::Response,
            Some(StreamingKind::Events) => OutKind::Event,
            Some(StreamingKind::Messages) => OutKind::Message,
            Some(StreamingKind::LiveCommands) => OutKind::LiveCommand,
            Some(StreamingKind::LiveEvents) => OutKind::LiveEvent,
            Some(StreamingKind::PolicyAnnouncements) => OutKind::Announcement,
        };
        self.send_journaled(ctx, msg.frame, label, msg.written_ms);
    }
}

impl Handler<SessionControl> for WsSession {
    type Result = ();

    fn handle(&mut self, msg: SessionControl, ctx: &mut Self::Context) {
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
