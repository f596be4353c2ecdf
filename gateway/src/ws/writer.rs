//! The writing half of a session's socket. Frames are encoded into one buffer and the buffer is
//! written with as few system calls as the socket allows (one, unless it is full), so a burst of
//! frames costs one write rather than one per frame; once everything is out the buffer is freed,
//! so an idle session holds none. The bytes not yet written stay here, whole frames or not,
//! whatever happens to the future that was writing them: a close frame queued later still lands
//! on a frame boundary. The writer also holds the session's slot in its worker's count, since it
//! is what keeps the connection open.

use super::slots::SessionSlot;
use actix_http::ws::{Codec, Message};
use bytes::{Buf, BytesMut};
use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll};
use tokio::io::AsyncWrite;
use tokio::net::tcp::OwnedWriteHalf;
use tokio_util::codec::Encoder;

/// RFC 6455 §5.5: a control frame's payload is at most 125 bytes, of which a close frame's code
/// takes 2.
const MAX_CONTROL_PAYLOAD: usize = 125;
const MAX_CLOSE_REASON: usize = MAX_CONTROL_PAYLOAD - 2;

struct Inner {
    io: OwnedWriteHalf,
    /// Encoded frames not yet written (empty and unallocated when everything is out).
    pending: BytesMut,
    codec: Codec,
    _slot: SessionSlot,
}

/// A session's writer; clones share the socket and the pending bytes.
#[derive(Clone)]
pub struct Writer(Rc<RefCell<Inner>>);

impl Writer {
    pub fn new(io: OwnedWriteHalf, slot: SessionSlot) -> Self {
        Writer(Rc::new(RefCell::new(Inner {
            io,
            pending: BytesMut::new(),
            codec: Codec::new(),
            _slot: slot,
        })))
    }

    /// Encodes `message` behind the bytes already pending; [`Writer::flush`] sends them.
    pub fn queue(&self, message: Message) {
        let message = match message {
            Message::Close(Some(mut reason)) => {
                if let Some(d) = reason.description.as_mut() {
                    let mut end = d.len().min(MAX_CLOSE_REASON);
                    while !d.is_char_boundary(end) {
                        end -= 1;
                    }
                    d.truncate(end);
                }
                Message::Close(Some(reason))
            }
            Message::Ping(b) if b.len() > MAX_CONTROL_PAYLOAD => {
                Message::Ping(b.slice(..MAX_CONTROL_PAYLOAD))
            }
            Message::Pong(b) if b.len() > MAX_CONTROL_PAYLOAD => {
                Message::Pong(b.slice(..MAX_CONTROL_PAYLOAD))
            }
            other => other,
        };
        let mut guard = self.0.borrow_mut();
        let inner = &mut *guard;
        // The server's codec encodes every message kind; it fails only for a continuation, which
        // the gateway never sends.
        if let Err(e) = inner.codec.encode(message, &mut inner.pending) {
            tracing::warn!(error = %e, "a frame could not be encoded; dropped");
        }
    }

    /// Writes everything pending; an error when the connection failed.
    pub async fn flush(&self) -> io::Result<()> {
        poll_fn(|cx| self.poll_flush(cx)).await
    }

    fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut guard = self.0.borrow_mut();
        let inner = &mut *guard;
        while !inner.pending.is_empty() {
            let n = ready!(Pin::new(&mut inner.io).poll_write(cx, &inner.pending))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            inner.pending.advance(n);
        }
        inner.pending = BytesMut::new();
        Poll::Ready(Ok(()))
    }
}
