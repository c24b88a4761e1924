//! Canonical JSON, byte-compatible with securesystemslib's `encode_canonical`
//! (the bytes python-tuf signs and verifies).
//!
//! The rules, measured against securesystemslib 1.6:
//! - object keys are sorted by their raw UTF-8 bytes (the same order as code points);
//! - strings are written as they are, with only `"` and `\` escaped: no `\n`, no
//!   `\uXXXX`, no Unicode normalisation;
//! - numbers must be integers; anything else is refused;
//! - no whitespace anywhere.
//!
//! `olpc-cjson` (used by tough) differs on non-NFC strings and on keys containing
//! characters below `"`, which is why this encoder exists.

use serde_json::Value;

/// Why a value has no canonical form.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CanonicalError {
    #[error("canonical JSON allows integers only, found the number {0} at {1}")]
    NotAnInteger(String, String),
}

/// Encode `value` as canonical JSON bytes.
pub fn encode(value: &Value) -> Result<Vec<u8>, CanonicalError> {
    let mut out = Vec::with_capacity(256);
    write_value(value, &mut out, &mut String::from("$"))?;
    Ok(out)
}

fn write_value(value: &Value, out: &mut Vec<u8>, path: &mut String) -> Result<(), CanonicalError> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            if n.is_i64() || n.is_u64() {
                out.extend_from_slice(n.to_string().as_bytes());
            } else {
                return Err(CanonicalError::NotAnInteger(n.to_string(), path.clone()));
            }
        }
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                write_value(item, out, path)?;
                path.truncate(len);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(key, out);
                out.push(b':');
                let len = path.len();
                path.push('.');
                path.push_str(key);
                write_value(item, out, path)?;
                path.truncate(len);
            }
            out.push(b'}');
        }
    }
    Ok(())
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for &b in s.as_bytes() {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorts_by_bytes_and_escapes_only_quote_and_backslash() {
        let v = json!({"b": 1, "a": [true, false, null], "\u{1}": "x\n\"\\y", "é": -3});
        assert_eq!(
            encode(&v).unwrap(),
            "{\"\u{1}\":\"x\n\\\"\\\\y\",\"a\":[true,false,null],\"b\":1,\"é\":-3}".as_bytes()
        );
    }

    #[test]
    fn refuses_floats_and_names_where() {
        let v = json!({"signed": {"version": 1.5}});
        assert_eq!(
            encode(&v).unwrap_err().to_string(),
            "canonical JSON allows integers only, found the number 1.5 at $.signed.version"
        );
    }

    #[test]
    fn no_unicode_normalisation() {
        // "e" + combining acute (NFD) stays as it is.
        let v = json!(["e\u{301}"]);
        assert_eq!(encode(&v).unwrap(), "[\"e\u{301}\"]".as_bytes());
    }
}
