//! Wall-clock milliseconds, the unit of every timestamp that crosses a process boundary (journal
//! write times, request deadlines): gateways and hubs compare them, so they share one definition.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
