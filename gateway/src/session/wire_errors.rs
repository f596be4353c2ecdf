//! What a session does with an error from its WebSocket stream. actix-http and actix-ws report
//! several protocol violations as plain `io::Error`s, told apart only by kind and text; this is
//! the one place that decodes them into RFC 6455 close codes, and its tests pin the texts against
//! the real decoder, so a dependency upgrade that changes them fails here rather than turning an
//! attack into a silent hang-up.

use actix_ws::ProtocolError;
use std::io;

/// actix-ws's aggregated stream, when a fragmented message grows past `max_continuation_size`.
const CONTINUATION_TOO_LARGE: &str = "Exceeded maximum continuation size";
/// actix-http's frame parser, when RSV1–3 are set (no extension is ever negotiated here).
const RESERVED_BITS: &str = "non-zero reserved bits";

/// The session's answer to a stream error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WireError {
    /// Close with this code (RFC 6455 §7.4.1) and reason.
    Close(u16, &'static str),
    /// The connection broke: keep reading what was already received, then end (1006).
    HangUp,
}

/// Close code for a message over the size limit, whole or fragmented.
pub(super) const CLOSE_TOO_BIG: u16 = 1009;

pub(super) fn classify(e: &ProtocolError) -> WireError {
    match e {
        ProtocolError::Overflow => WireError::Close(CLOSE_TOO_BIG, ""),
        ProtocolError::Io(io) => classify_io(io),
        _ => WireError::Close(1002, "protocol error"),
    }
}

fn classify_io(e: &io::Error) -> WireError {
    let text = e.to_string();
    if text.contains(CONTINUATION_TOO_LARGE) {
        return WireError::Close(CLOSE_TOO_BIG, "");
    }
    if text.contains(RESERVED_BITS) {
        return WireError::Close(1002, "reserved bits set without a negotiated extension");
    }
    if e.kind() == io::ErrorKind::InvalidData {
        return WireError::Close(1007, "text frame is not UTF-8");
    }
    WireError::HangUp
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_http::ws::Codec;
    use actix_ws::AggregatedMessage;
    use bytes::BytesMut;
    use futures_util::StreamExt;
    use tokio_util::codec::Decoder;

    /// A masked client frame: `first` is FIN/RSV/opcode.
    fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
        assert!(payload.len() < 126);
        let mask = [1u8, 2, 3, 4];
        let mut f = vec![first, 0x80 | payload.len() as u8];
        f.extend_from_slice(&mask);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        f
    }

    fn decode(bytes: &[u8], max: usize) -> ProtocolError {
        let mut codec = Codec::new().max_size(max);
        let mut buf = BytesMut::from(bytes);
        loop {
            match codec.decode(&mut buf) {
                Err(e) => return e,
                Ok(Some(_)) => continue,
                Ok(None) => panic!("no error decoding {bytes:?}"),
            }
        }
    }

    #[test]
    fn reserved_bits_close_with_1002() {
        // FIN + RSV1 + text.
        let e = decode(&frame(0x80 | 0x40 | 0x1, b"{}"), 1024);
        assert_eq!(
            classify(&e),
            WireError::Close(1002, "reserved bits set without a negotiated extension")
        );
    }

    #[test]
    fn an_oversized_frame_closes_with_1009() {
        let e = decode(&frame(0x81, &[b'x'; 100]), 10);
        assert_eq!(classify(&e), WireError::Close(CLOSE_TOO_BIG, ""));
    }

    /// The aggregated stream the gateway reads, over `bytes` as the client's upgraded socket.
    async fn client_stream(bytes: Vec<u8>) -> actix_ws::AggregatedMessageStream {
        use actix_web::FromRequest;
        let (req, mut pl) = actix_web::test::TestRequest::get()
            .insert_header(("upgrade", "websocket"))
            .insert_header(("connection", "upgrade"))
            .insert_header(("sec-websocket-version", "13"))
            .insert_header(("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="))
            .set_payload(bytes)
            .to_http_parts();
        let body = actix_web::web::Payload::from_request(&req, &mut pl)
            .await
            .unwrap();
        let (_, _, stream) = actix_ws::handle(&req, body).expect("upgrade");
        stream
            .max_frame_size(1024)
            .aggregate_continuations()
            .max_continuation_size(100)
    }

    #[actix_web::test]
    async fn an_oversized_fragmented_message_closes_with_1009() {
        // A text fragment of 60 bytes, then a continuation of 60: 120 > 100.
        let mut bytes = frame(0x01, &[b'a'; 60]);
        bytes.extend(frame(0x00, &[b'a'; 60]));
        bytes.extend(frame(0x80, &[b'a'; 10]));
        let mut stream = client_stream(bytes).await;
        let e = stream
            .next()
            .await
            .expect("an item")
            .expect_err("too large");
        assert_eq!(classify(&e), WireError::Close(CLOSE_TOO_BIG, ""));
    }

    #[actix_web::test]
    async fn text_that_is_not_utf8_closes_with_1007() {
        let mut stream = client_stream(frame(0x81, &[0xff, 0xfe])).await;
        match stream.next().await.expect("an item") {
            Err(e) => assert_eq!(
                classify(&e),
                WireError::Close(1007, "text frame is not UTF-8")
            ),
            Ok(AggregatedMessage::Text(t)) => panic!("unexpected text {t}"),
            Ok(_) => panic!("unexpected message"),
        }
    }

    #[test]
    fn other_io_errors_are_a_hang_up() {
        let e = ProtocolError::Io(io::Error::other("connection reset"));
        assert_eq!(classify(&e), WireError::HangUp);
    }
}
