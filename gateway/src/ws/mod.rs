//! The WebSocket transport under the sessions. actix-http's HTTP/1 dispatcher keeps an 8 KiB read
//! and an 8 KiB write buffer per connection for as long as the connection lives; an idle session
//! needs neither. So the public server hands every upgrade request to `http::upgrade`, which
//! answers the handshake through the dispatcher's codec and then takes the raw socket out of it:
//! the dispatcher, its buffers and its task end there, and the session actor reads frames with
//! [`reader`] and writes them with [`writer`], whose buffers exist only while bytes are in them.
//! Since actix-server stops counting a connection once the dispatcher has handed it over,
//! [`slots`] bounds the sessions per worker instead (`http.max_connections`). The session reads
//! through a [`wake_gate`], so delivering to it does not poll its socket.

pub mod reader;
pub mod slots;
pub mod wake_gate;
pub mod writer;

pub use reader::{Incoming, ReadError, Reader};
pub use writer::Writer;
