//! Ditto's timestamps are Java `Instant.toString()`: UTC, with 0, 3, 6 or 9 fraction digits (as
//! few as the value needs). RQL's `time:now` compares with them as strings, so the form matters.

/// Now, as Ditto prints it: the `_created`/`_modified` stamp of a batch's commands.
pub fn now_iso() -> String {
    format_instant(chrono::Utc::now())
}

pub fn format_instant(t: chrono::DateTime<chrono::Utc>) -> String {
    use chrono::SecondsFormat;
    let nanos = t.timestamp_subsec_nanos();
    let format = if nanos == 0 {
        SecondsFormat::Secs
    } else if nanos.is_multiple_of(1_000_000) {
        SecondsFormat::Millis
    } else if nanos.is_multiple_of(1_000) {
        SecondsFormat::Micros
    } else {
        SecondsFormat::Nanos
    };
    t.to_rfc3339_opts(format, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn timestamps_print_like_java_instants() {
        let base = chrono::Utc
            .with_ymd_and_hms(2024, 1, 17, 10, 30, 15)
            .unwrap();
        let table = [
            (0, "2024-01-17T10:30:15Z"),
            (123_000_000, "2024-01-17T10:30:15.123Z"),
            (123_456_000, "2024-01-17T10:30:15.123456Z"),
            (123_456_789, "2024-01-17T10:30:15.123456789Z"),
            (100_000_000, "2024-01-17T10:30:15.100Z"),
        ];
        for (nanos, expected) in table {
            assert_eq!(
                format_instant(base + chrono::Duration::nanoseconds(nanos)),
                expected
            );
        }
    }
}
