//! Expiry times in the exact format each flavour needs.

use super::metadata::Flavour;
use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};

/// The only `expires` format python-tuf accepts.
pub const TUF_FORMAT: &str = "YYYY-MM-DDTHH:MM:SSZ";
const TUF_STRFTIME: &str = "%Y-%m-%dT%H:%M:%SZ";

/// Parse an `expires` value. TUF requires exactly `YYYY-MM-DDTHH:MM:SSZ`; Notary
/// writes Go's RFC 3339 (fractional seconds and offsets allowed).
pub fn parse_expires(value: &str, flavour: Flavour) -> Result<DateTime<Utc>, &'static str> {
    match flavour {
        Flavour::Tuf => NaiveDateTime::parse_from_str(value, TUF_STRFTIME)
            .map(|n| n.and_utc())
            .map_err(|_| TUF_FORMAT),
        Flavour::Notary => DateTime::parse_from_rfc3339(value)
            .map(|d| d.with_timezone(&Utc))
            .map_err(|_| "RFC 3339"),
    }
}

/// Format an expiry for writing: whole seconds, UTC, `Z` (valid in both flavours).
pub fn format_expires(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Parse a time given on the command line: RFC 3339, or a date `YYYY-MM-DD`
/// (midnight UTC).
pub fn parse_user_time(value: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(d) = DateTime::parse_from_rfc3339(value) {
        return Ok(d.with_timezone(&Utc));
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
    }
    Err(format!(
        "{value:?} is not a time: use RFC 3339 (2030-01-31T00:00:00Z) or a date (2030-01-31)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuf_format_is_strict() {
        assert!(parse_expires("2030-01-01T00:00:00Z", Flavour::Tuf).is_ok());
        assert!(parse_expires("2030-01-01T00:00:00.5Z", Flavour::Tuf).is_err());
        assert!(parse_expires("2030-01-01T00:00:00+00:00", Flavour::Tuf).is_err());
        assert!(parse_expires("2030-01-01T00:00:00.123456789-08:00", Flavour::Notary).is_ok());
    }

    #[test]
    fn formats_whole_seconds() {
        let t = parse_user_time("2030-01-31").unwrap();
        assert_eq!(format_expires(t), "2030-01-31T00:00:00Z");
    }
}
