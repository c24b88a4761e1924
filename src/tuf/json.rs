//! Strict JSON input: the parser every metadata file goes through.
//!
//! `serde_json` keeps the last of two equal object keys; a signed document with a
//! duplicated key means different things to different verifiers, so we refuse it.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// Why a file is not acceptable JSON.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct JsonError(String);

/// Parse bytes as JSON, refusing duplicate object keys anywhere in the document.
pub fn parse_strict(bytes: &[u8]) -> Result<Value, JsonError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let strict = StrictValue::deserialize(&mut de).map_err(|e| JsonError(e.to_string()))?;
    de.end().map_err(|e| JsonError(e.to_string()))?;
    Ok(strict.0)
}

/// Parse bytes as JSON straight into `T`, refusing duplicate object keys
/// anywhere, without building the whole document as a tree first (bundle
/// manifests and request files list tens of thousands of entries).
pub fn from_slice_strict<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, JsonError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    NoDuplicates::deserialize(&mut de).map_err(|e| JsonError(e.to_string()))?;
    de.end().map_err(|e| JsonError(e.to_string()))?;
    serde_json::from_slice(bytes).map_err(|e| JsonError(e.to_string()))
}

/// Check JSON read from `reader` for duplicate object keys anywhere (and for
/// well-formedness), holding only the keys of the objects being read.
pub fn check_no_duplicates(reader: impl std::io::Read) -> Result<(), JsonError> {
    let mut de = serde_json::Deserializer::from_reader(reader);
    NoDuplicates::deserialize(&mut de).map_err(|e| JsonError(e.to_string()))?;
    de.end().map_err(|e| JsonError(e.to_string()))
}

/// Walks a document, keeping only the keys of the object being read.
struct NoDuplicates;

impl<'de> Deserialize<'de> for NoDuplicates {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NoDuplicatesVisitor)
    }
}

struct NoDuplicatesVisitor;

impl<'de> Visitor<'de> for NoDuplicatesVisitor {
    type Value = NoDuplicates;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }
    fn visit_i64<E>(self, _: i64) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }
    fn visit_u64<E>(self, _: u64) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }
    fn visit_f64<E>(self, _: f64) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }
    fn visit_str<E>(self, _: &str) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }
    fn visit_unit<E>(self) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }
    fn visit_none<E>(self) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NoDuplicates, A::Error> {
        while seq.next_element::<NoDuplicates>()?.is_some() {}
        Ok(NoDuplicates)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<NoDuplicates, A::Error> {
        let mut keys = std::collections::HashSet::new();
        while let Some(key) = access.next_key::<String>()? {
            access.next_value::<NoDuplicates>()?;
            if !keys.insert(key.clone()) {
                return Err(de::Error::custom(format!("duplicate key {key:?}")));
            }
        }
        Ok(NoDuplicates)
    }
}

struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("number out of range"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let StrictValue(v) = access.next_value()?;
            if map.contains_key(&key) {
                return Err(de::Error::custom(format!("duplicate key {key:?}")));
            }
            map.insert(key, v);
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_duplicate_keys_at_any_depth() {
        let err = parse_strict(br#"{"a": {"k": 1, "k": 2}}"#).unwrap_err();
        assert!(err.to_string().starts_with("duplicate key \"k\""), "{err}");
    }

    #[test]
    fn typed_parsing_refuses_duplicate_keys_too() {
        #[derive(serde::Deserialize)]
        struct T {
            #[allow(dead_code)]
            a: Value,
        }
        let err = from_slice_strict::<T>(br#"{"a": [{"k": 1, "k": 2}]}"#)
            .err()
            .unwrap();
        assert!(err.to_string().starts_with("duplicate key \"k\""), "{err}");
        assert!(from_slice_strict::<T>(br#"{"a": 1, "a": 2}"#).is_err());
        assert!(from_slice_strict::<T>(br#"{"a": 1} x"#).is_err());
        assert!(from_slice_strict::<T>(br#"{"a": [1, {"b": null}]}"#).is_ok());
    }

    #[test]
    fn refuses_trailing_garbage() {
        assert!(parse_strict(b"{} x").is_err());
    }

    #[test]
    fn keeps_everything_else() {
        let v = parse_strict(br#"{"a": [1, -2, "x", null, true], "b": {}}"#).unwrap();
        assert_eq!(v["a"][1], -2);
    }
}
