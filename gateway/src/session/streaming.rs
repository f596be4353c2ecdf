//! START-SEND-* / STOP-SEND-* for a session (reference §1.2–§1.5). A START is validated here (the
//! RQL filter compiled once, the extraFields selector parsed), written to the node's subscription
//! hash and the change stream, and only acknowledged once Redis confirmed the write: a client that
//! saw the ACK is in the fan-out of every change it causes afterwards (DESIGN.md causality rule).
//!
//! Every parameter is bounded (`ws.subscription_limits`) before it is parsed or stored: a record
//! lives in the node's hash, on the change stream and in every hub's memory. A session holds at
//! most one subscription per streaming kind (a second START of a kind replaces the first), so
//! these bounds also bound what one session can make the cluster hold.
//!
//! The subscription record itself lives in one place, the node's session directory (it forms the
//! subscription groups and is what re-registration writes back); the session keeps only which
//! kinds it acknowledged, to drop deliveries a STOP overtook and to count its subscriptions.

use super::WsSession;
use crate::config::SubscriptionLimitsConfig;
use crate::error::GatewayError;
use crate::metrics::OutKind;
use crate::node::publisher::BusWrite;
use actix::prelude::*;
use twinwire_common::bus::SubRecord;
use twinwire_common::protocol::headers::names;
use twinwire_common::protocol::{Headers, StartParams, StreamingKind};
use twinwire_common::things::FieldSelector;
use twinwire_common::{rql, Error};

/// The kinds whose START this session acknowledged, indexed by [`StreamingKind::index`].
#[derive(Default)]
pub(super) struct Streaming {
    confirmed: [bool; StreamingKind::ALL.len()],
}

impl Streaming {
    pub fn is_confirmed(&self, kind: StreamingKind) -> bool {
        self.confirmed[kind.index()]
    }

    /// Marks `kind` acknowledged; true when it was not before.
    pub fn confirm(&mut self, kind: StreamingKind) -> bool {
        !std::mem::replace(&mut self.confirmed[kind.index()], true)
    }

    /// Marks `kind` stopped; true when it was acknowledged.
    pub fn end(&mut self, kind: StreamingKind) -> bool {
        std::mem::replace(&mut self.confirmed[kind.index()], false)
    }

    pub fn confirmed_kinds(&self) -> impl Iterator<Item = StreamingKind> + '_ {
        StreamingKind::ALL
            .into_iter()
            .filter(|k| self.is_confirmed(*k))
    }
}

/// Refuses parameters over `limits`, each with the error Ditto gives that parameter when it is
/// invalid; checked before anything is parsed, so the parsers never see an oversized input.
fn check_limits(
    kind: StreamingKind,
    params: &StartParams,
    limits: &SubscriptionLimitsConfig,
) -> Result<(), Error> {
    if let Some(f) = &params.filter {
        if f.len() > limits.max_filter_bytes {
            return Err(Error::RqlInvalid(format!(
                "The filter is {} bytes long, over the limit of {} bytes (ws.subscription_limits.max_filter_bytes).",
                f.len(),
                limits.max_filter_bytes
            )));
        }
    }
    if let Some(x) = &params.extra_fields {
        if x.len() > limits.max_extra_fields_bytes {
            return Err(Error::FieldSelectionTooLarge {
                size: x.len(),
                max: limits.max_extra_fields_bytes,
            });
        }
    }
    if params.namespaces.len() > limits.max_namespaces {
        return Err(Error::ProtocolParameterInvalid {
            message: kind.start_str().to_owned(),
            reason: format!(
                "{} namespaces, over the limit of {} (ws.subscription_limits.max_namespaces)",
                params.namespaces.len(),
                limits.max_namespaces
            ),
        });
    }
    if let Some(long) = params
        .namespaces
        .iter()
        .find(|n| n.len() > MAX_NAMESPACE_BYTES)
    {
        return Err(Error::ProtocolParameterInvalid {
            message: kind.start_str().to_owned(),
            reason: format!(
                "a namespace of {} bytes, over the limit of {MAX_NAMESPACE_BYTES}",
                long.len()
            ),
        });
    }
    Ok(())
}

/// Longest namespace accepted in `namespaces`: a namespace is part of an entity id, which Ditto
/// bounds at 256 characters in all, so no longer one can match anything.
const MAX_NAMESPACE_BYTES: usize = 256;

/// The record a START asks for, or why it is refused: parameters over their limits, an invalid
/// filter or selector get an error and no ACK (Ditto `StreamingSessionActor`).
pub fn subscription_record(
    kind: StreamingKind,
    params: &StartParams,
    limits: &SubscriptionLimitsConfig,
    subjects: &[String],
    api_version: u8,
    declared_acks: &[String],
) -> Result<SubRecord, Error> {
    check_limits(kind, params, limits)?;
    let share = super::share::share_spec(kind, params)?;
    if let Some(f) = &params.filter {
        rql::parse(f).map_err(|e| Error::RqlInvalid(e.message))?;
    }
    if let Some(x) = &params.extra_fields {
        FieldSelector::parse(x)?;
    }
    Ok(SubRecord {
        subjects: subjects.to_vec(),
        namespaces: params.namespaces.clone(),
        filter: params.filter.clone(),
        extra_fields: params.extra_fields.clone(),
        api_version,
        declared_acks: declared_acks.to_vec(),
        share,
    })
}

impl WsSession {
    pub(super) fn params_headers(&self, params: &StartParams) -> Headers {
        match &params.correlation_id {
            Some(c) => {
                let mut h = Headers::new();
                h.insert(names::CORRELATION_ID, c.clone());
                h
            }
            None => self.connection_headers(),
        }
    }

    pub(super) fn start_streaming(
        &mut self,
        kind: StreamingKind,
        params: StartParams,
        ctx: &mut Context<Self>,
    ) {
        // Resume (issue 16): a token is checked, or the journals' marks read, before anything is
        // subscribed. Not for a share (`group=`), which is not resumable (`share_spec`).
        if kind == StreamingKind::Events && params.group.is_none() && self.resume_pending_absent() {
            if let Some(token) = params.resume.clone() {
                return self.start_resumed(params, token, ctx);
            }
            // `resume.enabled = false`: no token work at all, not even the journals' marks.
            if self.node.config.resume.enabled {
                return self.start_fresh(params, ctx);
            }
        }
        // On refusal the previous subscription of this kind, if any, stays as it was.
        let record = match subscription_record(
            kind,
            &params,
            &self.node.config.ws.subscription_limits,
            &self.init.auth.subjects,
            self.init.api_version,
            &self.init.declared_acks,
        ) {
            Ok(r) => r,
            Err(e) => {
                self.abandon_resume();
                let h = self.params_headers(&params);
                return self.send_error(ctx, &e, None, h);
            }
        };
        let previous = self.node.sessions.subscribe(self.id, kind, record.clone());
        let done = match self.node.publisher.write(BusWrite::Subscribe {
            session: self.id,
            kind,
            record,
        }) {
            Ok(done) => done,
            Err(e) => {
                return self.subscription_failed(kind, previous, &params, e.to_protocol(), ctx)
            }
        };
        // Waiting blocks this session's other frames until the write is confirmed, so what the client
        // sends after START is handled after the subscription exists.
        ctx.wait(done.into_actor(self).map(move |res, act, ctx| match res {
            Ok(Ok(())) => {
                if act.streaming.confirm(kind) {
                    act.node
                        .metrics
                        .sessions
                        .with_label_values(&[kind.as_str()])
                        .inc();
                }
                act.send_text(
                    ctx,
                    format!("{}:ACK", kind.start_str()).into(),
                    OutKind::Ack,
                );
                if kind == StreamingKind::Events {
                    act.request_replays(ctx);
                }
            }
            Ok(Err(e)) => act.subscription_failed(kind, previous, &params, e.to_protocol(), ctx),
            Err(_) => act.subscription_failed(
                kind,
                previous,
                &params,
                GatewayError::BusClosed.to_protocol(),
                ctx,
            ),
        }));
    }

    fn subscription_failed(
        &mut self,
        kind: StreamingKind,
        previous: Option<SubRecord>,
        params: &StartParams,
        e: Error,
        ctx: &mut Context<Self>,
    ) {
        self.node.sessions.restore(self.id, kind, previous);
        self.abandon_resume();
        let h = self.params_headers(params);
        self.send_error(ctx, &e, None, h);
    }

    pub(super) fn stop_streaming(&mut self, kind: StreamingKind, ctx: &mut Context<Self>) {
        if self.streaming.end(kind) {
            self.node
                .metrics
                .sessions
                .with_label_values(&[kind.as_str()])
                .dec();
        }
        self.node.sessions.unsubscribe(self.id, kind);
        let ack = format!("{}:ACK", kind.stop_str());
        match self.node.publisher.write(BusWrite::Unsubscribe {
            session: self.id,
            kind,
        }) {
            // Deliveries of this kind are already dropped locally; if Redis keeps the stale entry
            // for now, the next re-registration removes it. Ditto always ACKs a STOP.
            Ok(done) => ctx.wait(
                done.into_actor(self)
                    .map(move |_, act, ctx| act.send_text(ctx, ack.into(), OutKind::Ack)),
            ),
            Err(_) => self.send_text(ctx, ack.into(), OutKind::Ack),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kind_is_counted_once_from_its_first_ack_to_its_stop() {
        let mut s = Streaming::default();
        assert!(s.confirm(StreamingKind::Events));
        assert!(!s.confirm(StreamingKind::Events), "a changed filter");
        assert!(s.is_confirmed(StreamingKind::Events));
        assert!(!s.is_confirmed(StreamingKind::Messages));
        assert_eq!(
            s.confirmed_kinds().collect::<Vec<_>>(),
            vec![StreamingKind::Events]
        );
        assert!(s.end(StreamingKind::Events));
        assert!(!s.end(StreamingKind::Events));
    }

    fn limits() -> SubscriptionLimitsConfig {
        SubscriptionLimitsConfig {
            max_filter_bytes: 100,
            max_extra_fields_bytes: 50,
            max_namespaces: 3,
        }
    }

    #[test]
    fn parameters_over_their_limits_refuse_the_start_with_dittos_errors() {
        let record = |p: &StartParams| {
            subscription_record(StreamingKind::Events, p, &limits(), &["s".into()], 2, &[])
        };
        let at_limit = StartParams {
            filter: Some(format!("eq(attributes/a,\"{}\")", "x".repeat(100 - 19))),
            extra_fields: Some(format!("attributes/{}", "y".repeat(50 - 11))),
            namespaces: vec!["a".into(), "b".into(), "n".repeat(256)],
            ..Default::default()
        };
        assert_eq!(at_limit.filter.as_ref().map(String::len), Some(100));
        assert_eq!(at_limit.extra_fields.as_ref().map(String::len), Some(50));
        assert!(record(&at_limit).is_ok());
        // Ten times the limits (and an unparseable filter: the size is refused first).
        let over = |f: fn(&mut StartParams)| {
            let mut p = at_limit.clone();
            f(&mut p);
            record(&p).unwrap_err().to_ditto()
        };
        let e = over(|p| p.filter = Some("not(".repeat(250)));
        assert_eq!(e.error, "rql.expression.invalid");
        assert!(
            e.message.contains("over the limit of 100 bytes"),
            "{}",
            e.message
        );
        let e = over(|p| p.extra_fields = Some("a/".repeat(250)));
        assert_eq!(e.error, "things:field.selection.invalid");
        assert!(
            e.message.contains("over the limit of 50 bytes"),
            "{}",
            e.message
        );
        let e = over(|p| p.namespaces = (0..30).map(|i| i.to_string()).collect());
        assert_eq!(e.error, "gateway:websocket.parameter.invalid");
        assert!(e.message.contains("over the limit of 3"), "{}", e.message);
        let e = over(|p| p.namespaces = vec!["n".repeat(2560)]);
        assert!(e.message.contains("over the limit of 256"), "{}", e.message);
    }

    #[test]
    fn an_invalid_filter_or_selector_refuses_the_start() {
        let params = |filter: Option<&str>, extra: Option<&str>| StartParams {
            filter: filter.map(str::to_owned),
            extra_fields: extra.map(str::to_owned),
            ..Default::default()
        };
        let record = |p: &StartParams| {
            subscription_record(StreamingKind::Events, p, &limits(), &["s".into()], 2, &[])
        };
        assert!(matches!(
            record(&params(Some("eq(attributes/a"), None)),
            Err(Error::RqlInvalid(_))
        ));
        assert!(record(&params(None, Some("attributes/a("))).is_err());
        let ok = record(&params(Some("exists(attributes/a)"), Some("attributes"))).unwrap();
        assert_eq!(ok.subjects, vec!["s".to_string()]);
    }
}
