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

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_is_utc_with_milliseconds_and_clamps_before_the_epoch() {
        assert_eq!(super::rfc3339(1_500), "1970-01-01T00:00:01.500Z");
        assert_eq!(super::rfc3339(-5), "1970-01-01T00:00:00.000Z");
        assert!(super::now_ms() > 1_700_000_000_000);
    }
}
