//! Wall-clock time, in the forms the server stores and shows: Unix seconds, Unix milliseconds, RFC 3339. The
//! one place that reads the system clock for them (rooms, the SFU and the limits take `Instant`s instead).

/// Now, Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Now, Unix seconds.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// RFC 3339 in UTC, to the second, for Unix seconds.
pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_forms_agree() {
        let (ms, s) = (super::now_ms(), super::now_secs());
        assert!((ms / 1000 - s).abs() <= 1);
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
