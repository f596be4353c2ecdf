//! The reading half of a session's socket, as a stream of whole messages: frames are decoded with
//! actix-http's WebSocket codec (at most `ws.max_message_bytes` a frame) and fragmented messages
//! put together (at most the same in all). Bytes are read into a buffer on the stack and only what
//! is left of an incomplete frame is kept on the heap, so an idle session holds no read buffer.

use actix_http::ws::{CloseReason, Codec, Frame, Item, ProtocolError};
use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use futures_util::Stream;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::tcp::OwnedReadHalf;
use tokio_util::codec::Decoder;

/// Bytes read from the socket per system call, at most (on the stack).
const READ_CHUNK: usize = 8 * 1024;

/// One message from the client.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    Text(ByteString),
    Binary(Bytes),
    Ping(Bytes),
    Pong(Bytes),
    Close(Option<CloseReason>),
}

/// Why the stream of messages broke.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The frame codec refused the bytes: an RFC 6455 violation or a frame over the size limit.
    #[error("{0}")]
    Protocol(ProtocolError),
    /// A fragmented message grew past the size limit.
    #[error("fragmented message larger than the limit")]
    TooBig,
    /// A text message that is not UTF-8.
    #[error("text message is not UTF-8")]
    NotUtf8,
    /// The connection broke.
    #[error("connection lost: {0}")]
    Io(io::Error),
}

/// The kind of the fragmented message being put together.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Binary,
}

/// A fragmented message being put together.
struct Fragments {
    kind: Kind,
    parts: Vec<Bytes>,
    size: usize,
}

#[derive(PartialEq, Eq)]
enum State {
    Open,
    /// The peer closed its side: what is buffered is decoded, then the stream ends.
    Eof,
    /// An error was reported: the session is closing the connection, nothing more is read.
    Failed,
}

/// The socket's reading half as a stream of [`Incoming`] messages.
pub struct Reader {
    io: OwnedReadHalf,
    /// Bytes read and not yet decoded (empty and unallocated between frames).
    buf: BytesMut,
    codec: Codec,
    fragments: Option<Fragments>,
    max_message: usize,
    state: State,
}

impl Reader {
    /// Reads `io`, starting with `read` (bytes that came in behind the handshake), frames up to
    /// `max_frame` bytes, messages up to `max_message`.
    pub fn new(io: OwnedReadHalf, read: &[u8], max_frame: usize, max_message: usize) -> Self {
        Reader {
            io,
            buf: BytesMut::from(read),
            codec: Codec::new().max_size(max_frame),
            fragments: None,
            max_message,
            state: State::Open,
        }
    }

    /// The next whole message in what was read, if there is one.
    fn decode(&mut self) -> Result<Option<Incoming>, ReadError> {
        loop {
            let frame = match self.codec.decode(&mut self.buf) {
                Ok(Some(frame)) => frame,
                Ok(None) => {
                    if self.buf.is_empty() {
                        // Frames taken out share the allocation; dropping ours frees it with them.
                        self.buf = BytesMut::new();
                    }
                    return Ok(None);
                }
                Err(e) => return Err(ReadError::Protocol(e)),
            };
            let message = match frame {
                Frame::Text(b) => Incoming::Text(text(b)?),
                Frame::Binary(b) => Incoming::Binary(b),
                Frame::Ping(b) => Incoming::Ping(b),
                Frame::Pong(b) => Incoming::Pong(b),
                Frame::Close(reason) => Incoming::Close(reason),
                Frame::Continuation(item) => match self.continue_message(item)? {
                    Some(message) => message,
                    None => continue,
                },
            };
            return Ok(Some(message));
        }
    }

    /// Adds a fragment; the message when it is complete. The codec has already refused
    /// fragments out of order.
    fn continue_message(&mut self, item: Item) -> Result<Option<Incoming>, ReadError> {
        let (bytes, last) = match item {
            Item::FirstText(b) => {
                self.fragments = Some(Fragments::new(Kind::Text));
                (b, false)
            }
            Item::FirstBinary(b) => {
                self.fragments = Some(Fragments::new(Kind::Binary));
                (b, false)
            }
            Item::Continue(b) => (b, false),
            Item::Last(b) => (b, true),
        };
        let Some(f) = self.fragments.as_mut() else {
            return Err(ReadError::Protocol(ProtocolError::ContinuationNotStarted));
        };
        f.size += bytes.len();
        if f.size > self.max_message {
            self.fragments = None;
            return Err(ReadError::TooBig);
        }
        // Empty fragments add nothing, not even an entry (a flood of them must not grow memory).
        if !bytes.is_empty() {
            f.parts.push(bytes);
        }
        if !last {
            return Ok(None);
        }
        let f = self.fragments.take().expect("checked above");
        let mut whole = BytesMut::with_capacity(f.size);
        for part in f.parts {
            whole.extend_from_slice(&part);
        }
        let whole = whole.freeze();
        Ok(Some(match f.kind {
            Kind::Text => Incoming::Text(text(whole)?),
            Kind::Binary => Incoming::Binary(whole),
        }))
    }
}

impl Fragments {
    fn new(kind: Kind) -> Self {
        Fragments {
            kind,
            parts: Vec::new(),
            size: 0,
        }
    }
}

fn text(b: Bytes) -> Result<ByteString, ReadError> {
    ByteString::try_from(b).map_err(|_| ReadError::NotUtf8)
}

impl Stream for Reader {
    type Item = Result<Incoming, ReadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            match this.state {
                // Never woken again: the session closes and drops the reader.
                State::Failed => return Poll::Pending,
                State::Open | State::Eof => {}
            }
            match this.decode() {
                Ok(Some(message)) => return Poll::Ready(Some(Ok(message))),
                Ok(None) => {}
                Err(e) => {
                    this.state = State::Failed;
                    return Poll::Ready(Some(Err(e)));
                }
            }
            if this.state == State::Eof {
                return Poll::Ready(None);
            }
            let mut chunk = [0u8; READ_CHUNK];
            let mut read = ReadBuf::new(&mut chunk);
            match Pin::new(&mut this.io).poll_read(cx, &mut read) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(())) if read.filled().is_empty() => this.state = State::Eof,
                Poll::Ready(Ok(())) => this.buf.extend_from_slice(read.filled()),
                Poll::Ready(Err(e)) => {
                    // What was read before is decoded already; the session ends with 1006.
                    this.state = State::Eof;
                    this.buf = BytesMut::new();
                    return Poll::Ready(Some(Err(ReadError::Io(e))));
                }
            }
        }
    }
}
