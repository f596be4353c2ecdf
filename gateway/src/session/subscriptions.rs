//! START-SEND-* / STOP-SEND-* for a session (reference §1.2–§1.5). A START is validated here (the
//! RQL filter compiled once, the extraFields selector parsed), written to the node's subscription
//! hash and the change stream, and only acknowledged once Redis confirmed the write: a client that
//! saw the ACK is in the fan-out of every change it causes afterwards (DESIGN.md causality rule).

use super::WsSession;
use crate::metrics::OutKind;
use crate::node::publisher::BusWrite;
use actix::prelude::*;
use twinwire_common::bus::SubRecord;
use twinwire_common::protocol::headers::names;
use twinwire_common::protocol::{Headers, StartParams, StreamingKind};
use twinwire_common::things::FieldSelector;
use twinwire_common::{rql, Error};

impl WsSession {
    fn params_headers(&self, params: &StartParams) -> Headers {
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
        // An invalid filter or selector gets an error and no ACK; the previous subscription of this
        // kind, if any, stays as it was (Ditto `StreamingSessionActor`).
        if let Some(f) = &params.filter {
            if let Err(e) = rql::parse(f) {
                let h = self.params_headers(&params);
                return self.send_error(ctx, &Error::RqlInvalid(e.message), None, h);
            }
        }
        if let Some(x) = &params.extra_fields {
            if let Err(e) = FieldSelector::parse(x) {
                let h = self.params_headers(&params);
                return self.send_error(ctx, &e, None, h);
            }
        }
        let record = SubRecord {
            subjects: self.init.auth.subjects.clone(),
            namespaces: params.namespaces.clone(),
            filter: params.filter.clone(),
            extra_fields: params.extra_fields.clone(),
            api_version: self.init.api_version,
            declared_acks: self.init.declared_acks.clone(),
        };
        let previous = self.subs[kind.index()].clone();
        self.node.registry.set_sub(self.id, kind, record.clone());
        let done = match self.node.publisher.write(BusWrite::Subscribe {
            session: self.id,
            kind,
            record: record.clone(),
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
                if act.subs[kind.index()].is_none() {
                    act.node
                        .metrics
                        .sessions
                        .with_label_values(&[kind.as_str()])
                        .inc();
                }
                act.subs[kind.index()] = Some(record);
                act.send_text(
                    ctx,
                    format!("{}:ACK", kind.start_str()).into(),
                    OutKind::Ack,
                );
            }
            Ok(Err(e)) => act.subscription_failed(kind, previous, &params, e.to_protocol(), ctx),
            Err(_) => act.subscription_failed(
                kind,
                previous,
                &params,
                crate::error::GatewayError::BusClosed.to_protocol(),
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
        match previous {
            Some(p) => self.node.registry.set_sub(self.id, kind, p),
            None => self.node.registry.remove_sub(self.id, kind),
        }
        let h = self.params_headers(params);
        self.send_error(ctx, &e, None, h);
    }

    pub(super) fn stop_streaming(&mut self, kind: StreamingKind, ctx: &mut Context<Self>) {
        if self.subs[kind.index()].take().is_some() {
            self.node
                .metrics
                .sessions
                .with_label_values(&[kind.as_str()])
                .dec();
        }
        self.node.registry.remove_sub(self.id, kind);
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

    /// `JWT-TOKEN?jwtToken=…` (reference §1.6): a valid token for the same subjects moves the
    /// expiry; other subjects or an invalid token end the session with an error frame and 1000.
    pub(super) fn refresh_token(&mut self, token: String, ctx: &mut Context<Self>) {
        let node = self.node.clone();
        ctx.wait(
            async move { node.auth.jwt.authenticate(&token).await }
                .into_actor(self)
                .map(|res, act, ctx| match res {
                    Ok(fresh) if fresh.subjects == act.init.auth.subjects => {
                        act.init.auth.expires_at = fresh.expires_at;
                        act.arm_expiry(ctx);
                    }
                    Ok(_) => act.end_session(
                        ctx,
                        Error::SessionClosed("the authorization context changed".into()),
                    ),
                    Err(f) => {
                        act.node
                            .metrics
                            .auth_failures
                            .with_label_values(&[f.reason])
                            .inc();
                        act.end_session(ctx, Error::SessionClosed("the JWT is invalid".into()))
                    }
                }),
        );
    }

    /// Sends `error` and closes with 1000 (Ditto ends such sessions normally; we also say why).
    pub(super) fn end_session(&mut self, ctx: &mut Context<Self>, error: Error) {
        let reason = match &error {
            Error::SessionExpired => "JWT expired".to_owned(),
            other => other.to_ditto().error.into_owned(),
        };
        let h = self.connection_headers();
        self.send_error(ctx, &error, None, h);
        self.close(ctx, 1000, &reason);
    }

    /// Arms (or re-arms) the timer that ends the session when its credential expires. Ditto sets
    /// no timer for expiries more than 100 days away; unlike Ditto, a token given as
    /// `access_token` counts too (§1.7).
    pub(super) fn arm_expiry(&mut self, ctx: &mut Context<Self>) {
        const MAX_SESSION_TIMEOUT: std::time::Duration =
            std::time::Duration::from_secs(100 * 24 * 3600);
        if let Some(h) = self.expiry.take() {
            ctx.cancel_future(h);
        }
        let Some(at) = self.init.auth.expires_at else {
            return;
        };
        let left = crate::auth::jwt::until(at);
        if left > MAX_SESSION_TIMEOUT {
            return;
        }
        self.expiry = Some(ctx.run_later(left, |act, ctx| {
            act.node
                .metrics
                .auth_failures
                .with_label_values(&["session_expired"])
                .inc();
            act.end_session(ctx, Error::SessionExpired);
        }));
    }
}
