//! Canonical JSON: any JSON value that encodes, encodes to the same bytes
//! however it was written (key order, spacing, escapes), and any value with a
//! number that is not an integer is refused, never encoded. (Canonical JSON
//! writes control characters in strings raw, as securesystemslib does, so its
//! output is not always JSON a strict parser reads back: the property is over
//! the value, written as ordinary JSON and read again.)
#![no_main]
use ceremony::tuf::cjson;
use libfuzzer_sys::fuzz_target;

fn has_non_integer(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Number(n) => !(n.is_i64() || n.is_u64()),
        serde_json::Value::Array(a) => a.iter().any(has_non_integer),
        serde_json::Value::Object(o) => o.values().any(has_non_integer),
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(value) = ceremony::tuf::json::from_slice_strict::<serde_json::Value>(data) else {
        return;
    };
    let Ok(bytes) = cjson::encode(&value) else {
        return;
    };
    assert!(!has_non_integer(&value), "a non-integer number was encoded");
    let rewritten = serde_json::to_vec_pretty(&value).expect("a value serialises");
    let again: serde_json::Value = serde_json::from_slice(&rewritten).expect("JSON reads back");
    assert_eq!(cjson::encode(&again).expect("encodes again"), bytes);
});
