//! The smart live channel from the sender's side (ditto-features §3): a twin retrieve with
//! `live-channel-condition` whose condition held on the twin (the hub says so in the twin
//! response's `live-channel-condition-matched`) is answered by the device's live response; when
//! none comes in time, `live-channel-timeout-strategy` decides: `fail` (default) answers Ditto's
//! 408 `command.timeout`, `use-twin` the twin response. The live answer is matched like any live
//! request's (`live`), so this only keeps which of the two answers the client gets.

use super::WsSession;
use crate::metrics::OutKind;
use actix::prelude::*;
use bytestring::ByteString;
use std::collections::HashMap;
use std::time::Duration;
use twinwire_common::protocol::{Envelope, Headers, Topic};
use twinwire_common::Error;

/// The request headers.
pub const LIVE_CHANNEL_CONDITION: &str = "live-channel-condition";
pub const TIMEOUT_STRATEGY: &str = "live-channel-timeout-strategy";
/// The response headers (`CHANNEL` is a request header too).
pub const MATCHED: &str = "live-channel-condition-matched";
pub const CHANNEL: &str = "channel";

/// Smart requests a session may have waiting at once (as many as live requests).
const MAX_WAITING: usize = 4096;

/// What a timeout answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    Fail,
    UseTwin,
}

/// The `live-channel-timeout-strategy` header: `fail` when absent, 400 `header.invalid` when
/// neither value.
pub fn strategy_of(headers: &Headers) -> Result<Strategy, Error> {
    match headers.get_str(TIMEOUT_STRATEGY).as_deref() {
        None | Some("fail") => Ok(Strategy::Fail),
        Some("use-twin") => Ok(Strategy::UseTwin),
        Some(other) => Err(Error::HeaderEnumInvalid {
            name: TIMEOUT_STRATEGY.into(),
            value: other.into(),
            allowed: &["fail", "use-twin"],
        }),
    }
}

/// One smart retrieve: its strategy, and how far its two answers got.
struct SmartRequest {
    strategy: Strategy,
    /// The twin response, once it came with the condition matched.
    twin: Option<ByteString>,
    /// The client has its answer (the device's, or the 408); the twin response is dropped.
    settled: bool,
    /// `use-twin` timed out before the twin response came: it goes out when it comes.
    twin_wanted: bool,
}

/// This session's smart retrieves, by correlation-id.
#[derive(Default)]
pub(super) struct SmartRequests {
    waiting: HashMap<String, SmartRequest>,
}

/// The response frame with the headers saying which channel answered (HTTP's smart channel
/// marks its answers the same way).
pub(crate) fn marked(frame: &ByteString, channel: &str) -> ByteString {
    match Envelope::parse(frame) {
        Ok(mut env) => {
            env.headers.insert(MATCHED, "true");
            env.headers.insert(CHANNEL, channel);
            env.to_json_string().into()
        }
        Err(_) => frame.clone(),
    }
}

impl WsSession {
    /// A twin retrieve with a live-channel condition: waits for a live answer besides the twin's.
    pub(super) fn expect_smart(
        &mut self,
        ctx: &mut Context<Self>,
        topic: &Topic,
        env: &Envelope,
    ) -> Result<(), Error> {
        let strategy = strategy_of(&env.headers)?;
        if self.smart.waiting.len() >= MAX_WAITING {
            return Err(Error::TooManyRequests);
        }
        let max = Duration::from_millis(self.node.config.ws.command_timeout_ms);
        let Some((cid, timeout)) = self.live.admit(env, max)? else {
            return Ok(());
        };
        // The device answers the live retrieve, so its answer must fit that.
        let Ok(live_topic) = Topic::parse(&topic.to_string().replacen(
            "/things/twin/",
            "/things/live/",
            1,
        )) else {
            return Ok(());
        };
        let key = cid.clone();
        let timer = ctx.run_later(timeout, move |act, ctx| act.smart_timed_out(&key, ctx));
        if let Some(old) = self
            .live
            .wait(cid.clone(), &live_topic, env, timeout, timer)
        {
            ctx.cancel_future(old);
        }
        self.smart.waiting.insert(
            cid,
            SmartRequest {
                strategy,
                twin: None,
                settled: false,
                twin_wanted: false,
            },
        );
        Ok(())
    }

    /// The twin response to one of this session's smart retrieves; false when it is none.
    pub(super) fn take_smart_twin_response(
        &mut self,
        frame: &ByteString,
        ctx: &mut Context<Self>,
    ) -> bool {
        if self.smart.waiting.is_empty() {
            return false;
        }
        let Ok(env) = Envelope::parse(frame) else {
            return false;
        };
        let Some(cid) = env.headers.correlation_id().map(|c| c.into_owned()) else {
            return false;
        };
        let Some(req) = self.smart.waiting.get_mut(&cid) else {
            return false;
        };
        if req.settled {
            self.smart.waiting.remove(&cid);
            return true;
        }
        let matched = env.headers.get_str(MATCHED).as_deref() == Some("true")
            && env.status.is_some_and(|s| s < 300);
        if matched && !req.twin_wanted {
            req.twin = Some(frame.clone());
            return true;
        }
        // Not matched, an error, or `use-twin` already timed out: this is the answer.
        self.smart.waiting.remove(&cid);
        if let Some(timer) = self.live.forget(&cid) {
            ctx.cancel_future(timer);
        }
        self.send_text(ctx, frame.clone(), OutKind::Response);
        true
    }

    /// The device's answer to a smart retrieve, marked as the live channel's; `None` when the
    /// answer is for another request.
    pub(super) fn smart_live_answer(&mut self, frame: &ByteString) -> Option<ByteString> {
        let cid = Envelope::parse(frame)
            .ok()?
            .headers
            .correlation_id()?
            .into_owned();
        let req = self.smart.waiting.get_mut(&cid)?;
        if req.twin.is_some() {
            self.smart.waiting.remove(&cid);
        } else {
            req.settled = true;
        }
        Some(marked(frame, "live"))
    }

    /// No live answer in time: the strategy answers.
    fn smart_timed_out(&mut self, cid: &str, ctx: &mut Context<Self>) {
        let Some(mut timeout) = self.live.timed_out(cid) else {
            return;
        };
        let Some(req) = self.smart.waiting.get_mut(cid) else {
            return;
        };
        match (req.strategy, req.twin.take()) {
            (Strategy::UseTwin, Some(twin)) => {
                self.smart.waiting.remove(cid);
                self.send_text(ctx, marked(&twin, "twin"), OutKind::Response);
            }
            (Strategy::UseTwin, None) => req.twin_wanted = true,
            (Strategy::Fail, twin) => {
                if twin.is_some() {
                    self.smart.waiting.remove(cid);
                } else {
                    req.settled = true;
                }
                timeout.headers.insert(MATCHED, "true");
                timeout.headers.insert(CHANNEL, "live");
                self.send_text(ctx, timeout.to_json_string().into(), OutKind::Error);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_strategy_is_fail_by_default_and_anything_else_is_header_invalid() {
        let mut h = Headers::new();
        assert_eq!(strategy_of(&h).unwrap(), Strategy::Fail);
        h.insert(TIMEOUT_STRATEGY, "use-twin");
        assert_eq!(strategy_of(&h).unwrap(), Strategy::UseTwin);
        h.insert(TIMEOUT_STRATEGY, "fail");
        assert_eq!(strategy_of(&h).unwrap(), Strategy::Fail);
        h.insert(TIMEOUT_STRATEGY, "twin");
        let d = strategy_of(&h).unwrap_err().to_ditto();
        assert_eq!((d.status, d.error.as_ref()), (400, "header.invalid"));
    }
}
