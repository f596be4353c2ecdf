//! What a session does with an error from its WebSocket stream: the one place that turns the
//! reader's errors into RFC 6455 close codes. actix-http's frame codec reports set reserved bits as
//! a plain `io::Error`, told apart only by its text; the tests pin that text against the real
//! codec, so a dependency upgrade that changes it fails here rather than turning an attack into a
//! silent hang-up.

use crate::ws::ReadError;
use actix_http::ws::ProtocolError;

/// actix-http's frame parser, when RSV1–3 are set (no extension is ever negotiated here).
const RESERVED_BITS: &str = "non-zero reserved bits";

/// The session's answer to a stream error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WireError {
    /// Close with this code (RFC 6455 §7.4.1) and reason.
    Close(u16, &'static str),
    /// The connection broke: what was received before is handled, then the session ends (1006).
    HangUp,
}

/// Close code for a message over the size limit, whole or fragmented.
pub(super) const CLOSE_TOO_BIG: u16 = 1009;

pub(super) fn classify(e: &ReadError) -> WireError {
    match e {
        ReadError::Protocol(ProtocolError::Overflow) | ReadError::TooBig => {
            WireError::Close(CLOSE_TOO_BIG, "")
        }
        ReadError::Protocol(ProtocolError::Io(io)) if io.to_string().contains(RESERVED_BITS) => {
            WireError::Close(1002, "reserved bits set without a negotiated extension")
        }
        ReadError::Protocol(_) => WireError::Close(1002, "protocol error"),
        ReadError::NotUtf8 => WireError::Close(1007, "text frame is not UTF-8"),
        ReadError::Io(_) => WireError::HangUp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws::{Incoming, Reader};
    use futures_util::StreamExt;
    use std::io;
    use tokio::io::AsyncWriteExt;
    use tokio::net::{TcpListener, TcpStream};

    /// A masked client frame: `first` is FIN/RSV/opcode.
    fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
        assert!(payload.len() < 126);
        let mask = [1u8, 2, 3, 4];
        let mut f = vec![first, 0x80 | payload.len() as u8];
        f.extend_from_slice(&mask);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        f
    }

    /// The session's reader over a real socket whose client sent `bytes` and then went quiet
    /// (the client is returned so it stays open).
    async fn reader(bytes: &[u8], max_frame: usize, max_message: usize) -> (Reader, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        client.write_all(bytes).await.unwrap();
        let (r, _w) = server.into_split();
        (Reader::new(r, &[], max_frame, max_message), client)
    }

    async fn first_error(bytes: &[u8], max_frame: usize, max_message: usize) -> ReadError {
        let (mut r, _client) = reader(bytes, max_frame, max_message).await;
        loop {
            match r.next().await.expect("an item") {
                Err(e) => return e,
                Ok(m) => assert!(!matches!(m, Incoming::Text(_)), "unexpected {m:?}"),
            }
        }
    }

    #[tokio::test]
    async fn reserved_bits_close_with_1002() {
        // FIN + RSV1 + text.
        let e = first_error(&frame(0x80 | 0x40 | 0x1, b"{}"), 1024, 1024).await;
        assert_eq!(
            classify(&e),
            WireError::Close(1002, "reserved bits set without a negotiated extension")
        );
    }

    #[tokio::test]
    async fn an_oversized_frame_closes_with_1009() {
        let e = first_error(&frame(0x81, &[b'x'; 100]), 10, 10).await;
        assert_eq!(classify(&e), WireError::Close(CLOSE_TOO_BIG, ""));
    }

    #[tokio::test]
    async fn an_oversized_fragmented_message_closes_with_1009() {
        // A text fragment of 60 bytes, then a continuation of 60: 120 > 100.
        let mut bytes = frame(0x01, &[b'a'; 60]);
        bytes.extend(frame(0x00, &[b'a'; 60]));
        bytes.extend(frame(0x80, &[b'a'; 10]));
        let e = first_error(&bytes, 1024, 100).await;
        assert_eq!(classify(&e), WireError::Close(CLOSE_TOO_BIG, ""));
    }

    #[tokio::test]
    async fn text_that_is_not_utf8_closes_with_1007() {
        let e = first_error(&frame(0x81, &[0xff, 0xfe]), 1024, 1024).await;
        assert_eq!(
            classify(&e),
            WireError::Close(1007, "text frame is not UTF-8")
        );
    }

    #[tokio::test]
    async fn a_fragmented_text_that_is_not_utf8_closes_with_1007() {
        let mut bytes = frame(0x01, &[b'a', 0xff]);
        bytes.extend(frame(0x80, &[0xfe]));
        let e = first_error(&bytes, 1024, 1024).await;
        assert_eq!(
            classify(&e),
            WireError::Close(1007, "text frame is not UTF-8")
        );
    }

    #[tokio::test]
    async fn fragments_are_put_together_around_control_frames() {
        let mut bytes = frame(0x01, b"{\"a\":");
        bytes.extend(frame(0x89, b"hi"));
        bytes.extend(frame(0x00, b""));
        bytes.extend(frame(0x80, b"1}"));
        let (mut r, _client) = reader(&bytes, 1024, 1024).await;
        assert_eq!(
            r.next().await.unwrap().unwrap(),
            Incoming::Ping(bytes::Bytes::from_static(b"hi"))
        );
        assert_eq!(
            r.next().await.unwrap().unwrap(),
            Incoming::Text("{\"a\":1}".into())
        );
    }

    #[tokio::test]
    async fn an_unmasked_frame_closes_with_1002() {
        let e = first_error(&[0x81, 0x02, b'{', b'}'], 1024, 1024).await;
        assert_eq!(classify(&e), WireError::Close(1002, "protocol error"));
    }

    #[test]
    fn other_io_errors_are_a_hang_up() {
        let e = ReadError::Io(io::Error::other("connection reset"));
        assert_eq!(classify(&e), WireError::HangUp);
    }
}
