//! JSON written as python-tuf's `JSONSerializer()` writes it, which is how
//! tuf-on-ci writes every metadata file: `json.dumps(obj, indent=1,
//! separators=(",", ": "), sort_keys=True)` (so `ensure_ascii`), with no
//! trailing newline. Used to add signatures to a tuf-on-ci signing event's
//! file and change nothing else: a file this does not reproduce byte for byte
//! is refused rather than rewritten (see `online::signing_event`).

use serde_json::Value;

/// `value` as python-tuf's `JSONSerializer()` writes it.
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    write(value, 0, &mut out);
    out
}

fn write(value: &Value, depth: usize, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => string(s, out),
        Value::Array(items) if items.is_empty() => out.push_str("[]"),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(depth + 1, out);
                write(item, depth + 1, out);
            }
            newline(depth, out);
            out.push(']');
        }
        Value::Object(map) if map.is_empty() => out.push_str("{}"),
        Value::Object(map) => {
            // Python sorts str keys by code point: the order of their UTF-8 bytes.
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(depth + 1, out);
                string(key, out);
                out.push_str(": ");
                write(&map[key], depth + 1, out);
            }
            newline(depth, out);
            out.push('}');
        }
    }
}

fn newline(depth: usize, out: &mut String) {
    out.push('\n');
    out.extend(std::iter::repeat_n(' ', depth));
}

/// A string as Python's `json.dumps` writes it with `ensure_ascii=True`.
fn string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_as_python_json_dumps_with_indent_1_and_sorted_keys() {
        let v: Value =
            serde_json::from_str(r#"{"b": [1, {"z": "é\u0001\"", "a": []}], "a": {}, "c": "😀"}"#)
                .unwrap();
        // json.dumps(v, indent=1, separators=(",", ": "), sort_keys=True)
        let expected = "{\n \"a\": {},\n \"b\": [\n  1,\n  {\n   \"a\": [],\n   \"z\": \"\\u00e9\\u0001\\\"\"\n  }\n ],\n \"c\": \"\\ud83d\\ude00\"\n}";
        assert_eq!(to_string(&v), expected);
    }
}
