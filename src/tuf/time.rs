//! Expiry times in the exact format each flavour needs.

use super::metadata::Flavour;
use chrono::{DateTime, Datelike, FixedOffset, NaiveDateTime, SecondsFormat, Timelike, Utc};

/// The only `expires` format python-tuf accepts.
pub const TUF_FORMAT: &str = "YYYY-MM-DDTHH:MM:SSZ";
const TUF_STRFTIME: &str = "%Y-%m-%dT%H:%M:%SZ";
/// What Go's `time.Time` writes (RFC 3339 with nanoseconds): Notary's form.
pub const NOTARY_FORMAT: &str = "YYYY-MM-DDTHH:MM:SS[.fraction]Z or with an offset ±HH:MM, as Go writes it \
     (no trailing zeros in the fraction, Z for UTC)";

/// Parse an `expires` value in exactly the form every client of the flavour
/// reads the same way: the text must be what the client would write for the
/// time it reads (a client that re-serialises the date must get the signed bytes
/// back), a real time (no second 60), years 1 to 9999.
///
/// TUF: exactly `YYYY-MM-DDTHH:MM:SSZ` (python-tuf's only format; it re-writes
/// the date before checking a signature). Notary: RFC 3339 as Go's `time.Time`
/// writes it.
pub fn parse_expires(value: &str, flavour: Flavour) -> Result<DateTime<Utc>, &'static str> {
    match flavour {
        Flavour::Tuf => {
            let t = NaiveDateTime::parse_from_str(value, TUF_STRFTIME).map_err(|_| TUF_FORMAT)?;
            if t.nanosecond() != 0
                || !(1..=9999).contains(&t.year())
                || t.format(TUF_STRFTIME).to_string() != value
            {
                return Err(TUF_FORMAT);
            }
            Ok(t.and_utc())
        }
        Flavour::Notary => {
            let t = DateTime::parse_from_rfc3339(value).map_err(|_| NOTARY_FORMAT)?;
            if t.nanosecond() >= 1_000_000_000
                || !(1..=9999).contains(&t.year())
                || go_rfc3339_nano(&t) != value
            {
                return Err(NOTARY_FORMAT);
            }
            Ok(t.with_timezone(&Utc))
        }
    }
}

/// A time as Go's `time.Time.MarshalJSON` writes it (layout RFC3339Nano).
fn go_rfc3339_nano(t: &DateTime<FixedOffset>) -> String {
    let mut out = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = t.nanosecond();
    if nanos != 0 {
        let digits = format!("{nanos:09}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    let offset = t.offset().local_minus_utc();
    if offset == 0 {
        out.push('Z');
    } else {
        let sign = if offset < 0 { '-' } else { '+' };
        let minutes = offset.abs() / 60;
        out.push_str(&format!("{sign}{:02}:{:02}", minutes / 60, minutes % 60));
    }
    out
}

/// Format an expiry for writing: whole seconds, UTC, `Z` (valid in both flavours).
pub fn format_expires(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Parse a time given on the command line: RFC 3339, or a date `YYYY-MM-DD`
/// (midnight UTC).
pub fn parse_user_time(value: &str) -> Result<DateTime<Utc>, String> {
    let not_a_time = || {
        format!(
            "{value:?} is not a time: use RFC 3339 (2030-01-31T00:00:00Z) or a date (2030-01-31)"
        )
    };
    // The shape first, strictly: four-digit year, two-digit fields, `T` and `Z` in
    // capitals (the parsers below accept more: one-digit months, spaces, `t`).
    let shape = |s: &str, pattern: &str| {
        s.len() == pattern.len()
            && s.bytes().zip(pattern.bytes()).all(|(c, p)| match p {
                b'9' => c.is_ascii_digit(),
                _ => c == p,
            })
    };
    let at = if shape(value, "9999-99-99") {
        chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d")
            .map_err(|_| not_a_time())?
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc()
    } else {
        let (main, zone) = match value.strip_suffix('Z') {
            Some(main) => (main, "Z"),
            None if value.len() > 6 => value.split_at(value.len() - 6),
            None => return Err(not_a_time()),
        };
        let main = main.split_once('.').map_or(main, |(whole, fraction)| {
            if !fraction.is_empty() && fraction.bytes().all(|c| c.is_ascii_digit()) {
                whole
            } else {
                value
            }
        });
        if !shape(main, "9999-99-99T99:99:99")
            || !(zone == "Z" || shape(zone, "+99:99") || shape(zone, "-99:99"))
        {
            return Err(not_a_time());
        }
        DateTime::parse_from_rfc3339(value)
            .map_err(|_| not_a_time())?
            .with_timezone(&Utc)
    };
    use chrono::Datelike;
    if !(1..=9999).contains(&at.year()) {
        return Err(format!(
            "{value:?} is {} in UTC, outside the years 0001 to 9999 that metadata can hold",
            at.format("%+")
        ));
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_from_the_command_line_has_one_strict_form() {
        for good in [
            "2030-01-31",
            "2030-01-31T00:00:00Z",
            "2030-01-31T12:30:00.25Z",
            "2030-01-31T12:30:00+02:00",
            "9999-12-31T23:59:59Z",
        ] {
            assert!(parse_user_time(good).is_ok(), "{good}");
        }
        for bad in [
            "2030-1-31",
            " 2030-01-31",
            "2030-01-31 ",
            "2030-01-31t00:00:00z",
            "2030-01-31T00:00:00",
            "2030-02-30",
            "2030-01-31T24:00:00Z",
            "+10000-01-01",
            "-0001-01-01",
            "9999-12-31T23:59:59-14:00",
            "0000-01-01T00:00:00+01:00",
            "2030-01-31T00:00:00.Z",
            "2030-01-31T00:00:00+25:00",
            "",
        ] {
            assert!(parse_user_time(bad).is_err(), "{bad}");
        }
        let err = parse_user_time("9999-12-31T23:59:59-14:00").unwrap_err();
        assert!(err.contains("\"9999-12-31T23:59:59-14:00\""), "{err}");
    }

    #[test]
    fn tuf_format_is_strict() {
        assert!(parse_expires("2030-01-01T00:00:00Z", Flavour::Tuf).is_ok());
        assert!(parse_expires("2030-01-01T00:00:00.5Z", Flavour::Tuf).is_err());
        assert!(parse_expires("2030-01-01T00:00:00+00:00", Flavour::Tuf).is_err());
        assert!(parse_expires("2030-01-01T00:00:00.123456789-08:00", Flavour::Notary).is_ok());
    }

    #[test]
    fn only_the_form_clients_write_back_is_accepted() {
        for bad in [
            "+2031-01-01T00:00:00Z",
            "+10000-01-01T00:00:00Z",
            "2031-01-01T00:00:60Z",
            "2031-1-01T00:00:00Z",
            "2031-01-01t00:00:00z",
            " 2031-01-01T00:00:00Z",
            "0000-01-01T00:00:00Z",
        ] {
            assert!(parse_expires(bad, Flavour::Tuf).is_err(), "{bad}");
            assert!(parse_expires(bad, Flavour::Notary).is_err(), "{bad}");
        }
        for bad in [
            "2031-01-01T00:00:00.500Z",
            "2031-01-01T00:00:00+00:00",
            "2031-01-01T00:00:00.1234567891Z",
        ] {
            assert!(parse_expires(bad, Flavour::Notary).is_err(), "{bad}");
        }
        for good in ["2031-01-01T00:00:00.5Z", "2031-01-01T00:00:00-08:00"] {
            assert!(parse_expires(good, Flavour::Notary).is_ok(), "{good}");
        }
    }

    #[test]
    fn formats_whole_seconds() {
        let t = parse_user_time("2030-01-31").unwrap();
        assert_eq!(format_expires(t), "2030-01-31T00:00:00Z");
    }
}
