//! The wall clock as the host stores and shows it: milliseconds since the Unix epoch, and RFC 3339.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Now, in milliseconds since the Unix epoch (0 for a clock before 1970).
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `ms` since the epoch as RFC 3339 in UTC, with milliseconds.
pub(crate) fn rfc3339(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(t).to_string()
}

/// An RFC 3339 time (`Z` or an offset such as `+02:00`) in ms since the
/// epoch; times before the epoch are 0.
pub(crate) fn parse_rfc3339(text: &str) -> Option<i64> {
    let text = text.trim();
    let t = humantime::parse_rfc3339_weak(text)
        .ok()
        // Offsets other than Z: humantime takes only UTC.
        .or_else(|| with_offset(text))?;
    Some(
        t.duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64),
    )
}

/// `2024-01-02T03:04:05.123+02:00` as a UTC time.
fn with_offset(text: &str) -> Option<SystemTime> {
    let (body, sign, off) = match text.rfind(['+', '-']) {
        Some(i) if i > 10 => (&text[..i], &text[i..i + 1], &text[i + 1..]),
        _ => return None,
    };
    let (h, m) = off.split_once(':')?;
    let secs = h.parse::<u64>().ok()? * 3600 + m.parse::<u64>().ok()? * 60;
    let utc = humantime::parse_rfc3339_weak(body).ok()?;
    let shift = Duration::from_secs(secs);
    // Local time = UTC + offset, so UTC = local - offset.
    if sign == "+" {
        utc.checked_sub(shift)
    } else {
        utc.checked_add(shift)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_is_utc_with_milliseconds_and_clamps_before_the_epoch() {
        assert_eq!(super::rfc3339(1_500), "1970-01-01T00:00:01.500Z");
        assert_eq!(super::rfc3339(-5), "1970-01-01T00:00:00.000Z");
        assert!(super::now_ms() > 1_700_000_000_000);
    }

    #[test]
    fn rfc3339_offsets_are_taken() {
        let utc = super::parse_rfc3339("2026-11-23T15:00:00Z").unwrap();
        assert_eq!(super::parse_rfc3339("2026-11-23T16:00:00+01:00"), Some(utc));
        assert_eq!(super::parse_rfc3339("2026-11-23T10:00:00-05:00"), Some(utc));
        assert_eq!(super::parse_rfc3339("yesterday"), None);
    }
}
