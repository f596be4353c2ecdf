//! The `time:` placeholder on the value side of a filter (`lt(_modified,time:now-1h)`), resolved the way
//! Ditto's `ImmutableTimePlaceholder` and `DittoDuration` do (reference §4.4, `DOC/basic-placeholders.md`).
//!
//! Names: `now` / `now_epoch_millis`, optionally followed by `+`/`-` and a duration (`s`, `ms`, `m`, `h`,
//! `d`, `w`, `mo`, `y`, or a bare number of seconds) and/or a `[unit]` truncation. `now` renders like
//! Java's `Instant.toString()`, `now_epoch_millis` as decimal milliseconds: the filter then compares
//! those *strings* with the field (as Ditto does, see eval.rs).
//!
//! Ditto's quirks are kept on purpose, since they decide whether a subscription matches: the suffix is
//! found with `String.replace` (every occurrence of `now` is removed), text after the last `]` is ignored,
//! and malformed brackets throw inside Ditto, which here becomes [`TimeLiteral::Broken`].

use chrono::{DateTime, Utc};

/// What a `time:<name>` literal does when the filter is evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TimeLiteral {
    /// Ditto's resolver does not support the name, or resolves it to nothing: the literal is `null`.
    Unresolved,
    /// Ditto's resolver throws for this name: the whole filter evaluation fails.
    Broken,
    Spec(TimeSpec),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TimeSpec {
    epoch_millis: bool,
    offset: Option<Offset>,
    truncate: Option<Unit>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Offset {
    negative: bool,
    unit: Unit,
    amount: i64,
}

/// DittoDuration.DittoTimeUnit, in declaration order (which decides parsing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Seconds,
    SecondsImplicit,
    Millis,
    Minutes,
    Hours,
    Days,
    Weeks,
    Months,
    Years,
}

impl Unit {
    const ALL: [Unit; 9] = [
        Unit::Seconds,
        Unit::SecondsImplicit,
        Unit::Millis,
        Unit::Minutes,
        Unit::Hours,
        Unit::Days,
        Unit::Weeks,
        Unit::Months,
        Unit::Years,
    ];

    fn suffix(self) -> &'static str {
        match self {
            Unit::Seconds => "s",
            Unit::SecondsImplicit => "",
            Unit::Millis => "ms",
            Unit::Minutes => "m",
            Unit::Hours => "h",
            Unit::Days => "d",
            Unit::Weeks => "w",
            Unit::Months => "mo",
            Unit::Years => "y",
        }
    }

    fn for_suffix(s: &str) -> Option<Unit> {
        Unit::ALL.into_iter().find(|u| u.suffix() == s)
    }

    /// `getJavaDuration(amount)` in nanoseconds; `None` where Java's exact arithmetic overflows.
    fn duration_nanos(self, amount: i64) -> Option<i128> {
        const NANOS: i128 = 1_000_000_000;
        // ChronoUnit durations: a year is 365.2425 days, a month a twelfth of that.
        const YEAR_SECS: i64 = 31_556_952;
        const MONTH_SECS: i64 = YEAR_SECS / 12;
        let secs = |factor: i64| amount.checked_mul(factor).map(|s| i128::from(s) * NANOS);
        match self {
            Unit::Seconds | Unit::SecondsImplicit => secs(1),
            Unit::Millis => Some(i128::from(amount) * 1_000_000),
            Unit::Minutes => secs(60),
            Unit::Hours => secs(3_600),
            Unit::Days => secs(86_400),
            // Period.ofWeeks((int) weeks): the long is truncated to int, then multiplied exactly by 7.
            Unit::Weeks => (amount as i32)
                .checked_mul(7)
                .map(|days| i128::from(days) * 86_400 * NANOS),
            Unit::Months => Some(i128::from(amount as i32) * i128::from(MONTH_SECS) * NANOS),
            Unit::Years => Some(i128::from(amount as i32) * i128::from(YEAR_SECS) * NANOS),
        }
    }
}

/// DittoDuration.parseDuration: `[+-]?digits` followed by exactly one unit suffix; `None` where Ditto
/// throws (no match, overflow, negative amount).
fn parse_duration(s: &str) -> Option<(Unit, i64)> {
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let digits_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i == digits_start {
        // The regexes need a digit; the bare-seconds fallback is Long.parseLong of the whole string,
        // which cannot succeed either (Unicode digits aside).
        return None;
    }
    let unit = Unit::for_suffix(&s[i..])?;
    let amount: i64 = s[..i].parse().ok()?;
    (amount >= 0).then_some((unit, amount))
}

/// `isValidTruncation`: the text between the first `[` and the last `]` must be a unit suffix.
/// `Err` where Java's `substring` throws (every `]` before the first `[`).
fn valid_truncation(s: &str) -> Result<bool, ()> {
    let open = s.find('[').ok_or(())?;
    let after = &s[open + 1..];
    let close = after.rfind(']').ok_or(())?;
    Ok(Unit::for_suffix(&after[..close]).is_some())
}

/// `isValidTimeRange` for a non-empty suffix.
fn valid_time_range(suffix: &str) -> Result<bool, ()> {
    if let Some(rest) = suffix.strip_prefix(['+', '-']) {
        let duration = if rest.contains('[') && rest.contains(']') {
            let head = rest.find('[').map_or(rest, |i| &rest[..i]);
            if !valid_truncation(rest)? {
                return Ok(false);
            }
            head
        } else {
            rest
        };
        Ok(parse_duration(duration).is_some())
    } else if suffix.contains('[') && suffix.contains(']') {
        valid_truncation(suffix)
    } else {
        Ok(false)
    }
}

/// Compiles the name after `time:` (raw, as the parser captured it).
pub(crate) fn compile(name: &str) -> TimeLiteral {
    const MILLIS: &str = "now_epoch_millis";
    const NOW: &str = "now";
    let word = if name.starts_with(MILLIS) {
        MILLIS
    } else if name.starts_with(NOW) {
        NOW
    } else {
        return TimeLiteral::Unresolved;
    };
    let epoch_millis = word == MILLIS;
    // Ditto: placeholder.replace(word, "") removes every occurrence, not just the prefix.
    let suffix = name.replace(word, "");
    // supports(name)
    if !suffix.is_empty() {
        match valid_time_range(&suffix) {
            Err(()) => return TimeLiteral::Broken,
            Ok(false) => return TimeLiteral::Unresolved,
            Ok(true) => {}
        }
    }
    // resolveValues(name)
    if name == NOW || name == MILLIS {
        return TimeLiteral::Spec(TimeSpec {
            epoch_millis,
            offset: None,
            truncate: None,
        });
    }
    if suffix.is_empty() {
        return TimeLiteral::Unresolved;
    }
    let truncate = if suffix.contains('[') && suffix.contains(']') {
        let (Some(open), Some(close)) = (suffix.find('['), suffix.rfind(']')) else {
            return TimeLiteral::Broken;
        };
        if close <= open {
            return TimeLiteral::Broken;
        }
        match Unit::for_suffix(&suffix[open + 1..close]) {
            Some(u) => Some(u),
            None => return TimeLiteral::Broken,
        }
    } else {
        None
    };
    let offset = match suffix.strip_prefix(['+', '-']) {
        Some(_) => {
            let range = match suffix.find('[') {
                Some(i) if i > 0 => &suffix[..i],
                _ => &suffix[..],
            };
            match parse_duration(&range[1..]) {
                Some((unit, amount)) => Some(Offset {
                    negative: suffix.starts_with('-'),
                    unit,
                    amount,
                }),
                None => return TimeLiteral::Broken,
            }
        }
        None if truncate.is_some() => None,
        None => return TimeLiteral::Unresolved,
    };
    TimeLiteral::Spec(TimeSpec {
        epoch_millis,
        offset,
        truncate,
    })
}

const NANOS_PER_SEC: i128 = 1_000_000_000;
const SECS_PER_DAY: i128 = 86_400;
/// java.time.Instant's supported range in epoch seconds.
const INSTANT_MIN_SECS: i128 = -31_557_014_167_219_200;
const INSTANT_MAX_SECS: i128 = 31_556_889_864_403_199;

impl TimeSpec {
    /// The string Ditto resolves this placeholder to at `now`; `None` where Java throws (arithmetic
    /// overflow, instant out of range).
    pub(crate) fn resolve(&self, now: DateTime<Utc>) -> Option<String> {
        let mut t =
            i128::from(now.timestamp()) * NANOS_PER_SEC + i128::from(now.timestamp_subsec_nanos());
        if let Some(off) = self.offset {
            let d = off.unit.duration_nanos(off.amount)?;
            t = if off.negative { t - d } else { t + d };
            if !(INSTANT_MIN_SECS..=INSTANT_MAX_SECS).contains(&t.div_euclid(NANOS_PER_SEC)) {
                return None;
            }
        }
        if let Some(unit) = self.truncate {
            t = truncate(t, unit);
        }
        if self.epoch_millis {
            // Instant.toEpochMilli throws when the millis do not fit a long.
            i64::try_from(t.div_euclid(1_000_000))
                .ok()
                .map(|ms| ms.to_string())
        } else {
            Some(format_instant_nanos(t))
        }
    }
}

fn truncate(t: i128, unit: Unit) -> i128 {
    let floor_to = |step: i128| t.div_euclid(step) * step;
    let day_start = |days: i128| days * SECS_PER_DAY * NANOS_PER_SEC;
    let days = t.div_euclid(SECS_PER_DAY * NANOS_PER_SEC);
    match unit {
        Unit::Seconds | Unit::SecondsImplicit => floor_to(NANOS_PER_SEC),
        Unit::Millis => floor_to(1_000_000),
        Unit::Minutes => floor_to(60 * NANOS_PER_SEC),
        Unit::Hours => floor_to(3_600 * NANOS_PER_SEC),
        Unit::Days => floor_to(SECS_PER_DAY * NANOS_PER_SEC),
        // Ditto truncates weeks, months and years in the JVM's default zone; a Ditto container runs in
        // UTC, so UTC is used here. 1970-01-01 was a Thursday: +3 makes Monday 0.
        Unit::Weeks => day_start(days - (days + 3).rem_euclid(7)),
        Unit::Months => {
            let (y, m, _) = civil_from_days(days);
            day_start(days_from_civil(y, m, 1))
        }
        Unit::Years => {
            let (y, _, _) = civil_from_days(days);
            day_start(days_from_civil(y, 1, 1))
        }
    }
}

/// Java's `Instant.toString()` (ISO_INSTANT) of a chrono time; only tests need it today, but it is the
/// form `_modified`/`_created` must have for `time:now` comparisons to behave like Ditto's.
#[cfg(test)]
pub(crate) fn format_instant(t: DateTime<Utc>) -> String {
    format_instant_nanos(
        i128::from(t.timestamp()) * NANOS_PER_SEC + i128::from(t.timestamp_subsec_nanos()),
    )
}

/// Java's `Instant.toString()` (ISO_INSTANT): fraction in groups of 3 digits as needed, `+` before
/// years above 9999.
fn format_instant_nanos(t: i128) -> String {
    let secs = t.div_euclid(NANOS_PER_SEC);
    let nanos = t.rem_euclid(NANOS_PER_SEC);
    let days = secs.div_euclid(SECS_PER_DAY);
    let sod = secs.rem_euclid(SECS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    let year = if y > 9999 {
        format!("+{y}")
    } else if y >= 0 {
        format!("{y:04}")
    } else {
        format!("-{:04}", -y)
    };
    let fraction = if nanos == 0 {
        String::new()
    } else if nanos % 1_000_000 == 0 {
        format!(".{:03}", nanos / 1_000_000)
    } else if nanos % 1_000 == 0 {
        format!(".{:06}", nanos / 1_000)
    } else {
        format!(".{nanos:09}")
    };
    format!(
        "{year}-{m:02}-{d:02}T{:02}:{:02}:{:02}{fraction}Z",
        sod / 3_600,
        sod % 3_600 / 60,
        sod % 60
    )
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: i128) -> (i128, i128, i128) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i128::from(m <= 2);
    (y, m, d)
}

fn days_from_civil(y: i128, m: i128, d: i128) -> i128 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(s: &str) -> DateTime<Utc> {
        match DateTime::parse_from_rfc3339(s) {
            Ok(t) => t.with_timezone(&Utc),
            Err(e) => panic!("bad test time {s}: {e}"),
        }
    }

    fn resolve(name: &str, now: &str) -> Result<Option<String>, ()> {
        match compile(name) {
            TimeLiteral::Unresolved => Ok(None),
            TimeLiteral::Broken => Err(()),
            TimeLiteral::Spec(s) => s.resolve(at(now)).map(Some).ok_or(()),
        }
    }

    #[test]
    fn time_placeholder_table() {
        // 2024-01-17 is a Wednesday.
        let now = "2024-01-17T10:30:15.123456Z";
        let cases: &[(&str, Result<Option<&str>, ()>)] = &[
            ("now", Ok(Some("2024-01-17T10:30:15.123456Z"))),
            ("now_epoch_millis", Ok(Some("1705487415123"))),
            ("now-1h", Ok(Some("2024-01-17T09:30:15.123456Z"))),
            ("now+1d", Ok(Some("2024-01-18T10:30:15.123456Z"))),
            ("now-30m", Ok(Some("2024-01-17T10:00:15.123456Z"))),
            ("now-15s", Ok(Some("2024-01-17T10:30:00.123456Z"))),
            ("now-15", Ok(Some("2024-01-17T10:30:00.123456Z"))),
            ("now-123ms", Ok(Some("2024-01-17T10:30:15.000456Z"))),
            ("now+1w", Ok(Some("2024-01-24T10:30:15.123456Z"))),
            ("now[h]", Ok(Some("2024-01-17T10:00:00Z"))),
            ("now[d]", Ok(Some("2024-01-17T00:00:00Z"))),
            ("now[ms]", Ok(Some("2024-01-17T10:30:15.123Z"))),
            ("now[]", Ok(Some("2024-01-17T10:30:15Z"))),
            ("now[w]", Ok(Some("2024-01-15T00:00:00Z"))),
            ("now[mo]", Ok(Some("2024-01-01T00:00:00Z"))),
            ("now[y]", Ok(Some("2024-01-01T00:00:00Z"))),
            ("now-1d[d]", Ok(Some("2024-01-16T00:00:00Z"))),
            ("now_epoch_millis-1s", Ok(Some("1705487414123"))),
            ("now_epoch_millis[s]", Ok(Some("1705487415000"))),
            // A month is a twelfth of 365.2425 days in java.time.
            ("now-1mo", Ok(Some("2023-12-18T00:01:09.123456Z"))),
            ("now+1y", Ok(Some("2025-01-16T16:19:27.123456Z"))),
            // Ditto's quirks: every "now" is removed, text after the last ']' is ignored, "+" amounts.
            ("now-1now", Ok(Some("2024-01-17T10:30:14.123456Z"))),
            ("nowXYZ[h]", Ok(Some("2024-01-17T10:00:00Z"))),
            ("now-1h[h]garbage", Ok(Some("2024-01-17T09:00:00Z"))),
            ("now-+5s", Ok(Some("2024-01-17T10:30:10.123456Z"))),
            // Unsupported or empty: the literal is null.
            ("nownow", Ok(None)),
            ("now-", Ok(None)),
            ("now--5m", Ok(None)),
            ("now-1x", Ok(None)),
            ("now-1h[x]", Ok(None)),
            ("now ", Ok(None)),
            ("later", Ok(None)),
            ("now_foo", Ok(None)),
            ("now-99999999999999999999s", Ok(None)),
            // Java throws: malformed brackets, overflow.
            ("now-1h]x[", Err(())),
            ("now]x[", Err(())),
            ("now-9223372036854775807m", Err(())),
            ("now+9223372036854775807s", Err(())),
        ];
        for (name, want) in cases {
            let want = want.map(|o| o.map(str::to_owned));
            assert_eq!(resolve(name, now), want, "time:{name}");
        }
    }

    #[test]
    fn instants_render_like_java() {
        // Expectations from Instant.toString() on OpenJDK 17.
        let cases = [
            (253_402_300_800, 0, "+10000-01-01T00:00:00Z"),
            (-62_167_219_201, 0, "-0001-12-31T23:59:59Z"),
            (-62_167_219_200, 0, "0000-01-01T00:00:00Z"),
            (0, 1_000, "1970-01-01T00:00:00.000001Z"),
            (0, 100_000_000, "1970-01-01T00:00:00.100Z"),
            (0, 123_456_789, "1970-01-01T00:00:00.123456789Z"),
        ];
        for (secs, nanos, want) in cases {
            let t = match Utc.timestamp_opt(secs, nanos).single() {
                Some(t) => t,
                None => panic!("test instant {secs} must exist"),
            };
            assert_eq!(format_instant(t), want);
        }
        assert_eq!(
            format_instant_nanos(-500_000_000),
            "1969-12-31T23:59:59.500Z"
        );
    }

    #[test]
    fn negative_epoch_millis_floor_like_java() {
        let spec = TimeSpec {
            epoch_millis: true,
            offset: None,
            truncate: None,
        };
        // Instant.ofEpochSecond(-1, 500_000_000).toEpochMilli() == -500
        assert_eq!(
            spec.resolve(at("1969-12-31T23:59:59.5Z")).as_deref(),
            Some("-500")
        );
    }

    #[test]
    fn civil_conversion_round_trips() {
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
