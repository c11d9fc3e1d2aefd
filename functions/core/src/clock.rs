//! Time as people read it in pages, reports and timelines. Every function takes milliseconds
//! since the epoch from the caller: the clock is injected, never read here.

/// Formats `ms` with a chrono format string; an out-of-range time prints as the raw number.
pub fn format(ms: i64, pattern: &str) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format(pattern).to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// `2026-12-04 03:15:00 UTC`
pub fn utc(ms: i64) -> String {
    format(ms, "%Y-%m-%d %H:%M:%S UTC")
}

/// `2026-12-04T03:15:00Z`
pub fn rfc3339(ms: i64) -> String {
    format(ms, "%Y-%m-%dT%H:%M:%SZ")
}

/// `03:15:00`
pub fn time_of_day(ms: i64) -> String {
    format(ms, "%H:%M:%S")
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats() {
        let t = 1_796_354_100_000;
        assert_eq!(super::utc(t), "2026-12-04 03:15:00 UTC");
        assert_eq!(super::rfc3339(t), "2026-12-04T03:15:00Z");
        assert_eq!(super::time_of_day(t), "03:15:00");
        assert_eq!(super::utc(i64::MAX), i64::MAX.to_string());
    }
}
