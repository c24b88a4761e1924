//! Property tests for the parsers and the canonical encoder: they never panic on
//! any input, and canonical JSON is total, deterministic and stable.

use ceremony::tuf::cjson;
use ceremony::tuf::document::RootDocument;
use ceremony::tuf::json::parse_strict;
use ceremony::tuf::targets_doc::TargetsDocument;
use proptest::prelude::*;
use serde_json::Value;

/// JSON values. Canonical JSON (as securesystemslib writes it) leaves control
/// characters raw, which standard JSON does not allow, so the round-trip property
/// is stated for strings without them (the differential test in `interop.rs`
/// covers control characters against securesystemslib).
fn json_value_with(strings: &'static str) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        strings.prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(strings, inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn json_value() -> impl Strategy<Value = Value> {
    json_value_with("[^\\x00-\\x1f]{0,12}")
}

fn any_json_value() -> impl Strategy<Value = Value> {
    json_value_with(".{0,12}")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    /// Canonical JSON parses back to the same value, and encoding that again gives
    /// the same bytes.
    #[test]
    fn canonical_json_round_trips(v in json_value()) {
        let bytes = cjson::encode(&v).unwrap();
        let back = parse_strict(&bytes).unwrap();
        prop_assert_eq!(&back, &v);
        prop_assert_eq!(cjson::encode(&back).unwrap(), bytes);
    }

    /// Encoding never panics on any value, and is deterministic.
    #[test]
    fn canonical_json_is_total_and_deterministic(v in any_json_value()) {
        prop_assert_eq!(cjson::encode(&v).unwrap(), cjson::encode(&v.clone()).unwrap());
    }

    /// The strict parser and both document loaders return errors, never panic,
    /// on arbitrary bytes.
    #[test]
    fn parsers_never_panic_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_strict(&bytes);
        let _ = RootDocument::from_slice(&bytes, "fuzz.json");
        let _ = TargetsDocument::from_slice(&bytes, "fuzz.json");
    }

    /// Structured garbage shaped like metadata: still errors, never panics.
    #[test]
    fn loaders_never_panic_on_metadata_shaped_json(signed in any_json_value(), sigs in any_json_value(), t in 0usize..4) {
        let type_name = ["root", "Root", "targets", "Targets"][t];
        let mut signed = signed;
        if let Value::Object(m) = &mut signed {
            m.insert("_type".into(), Value::String(type_name.into()));
        }
        let doc = serde_json::json!({"signed": signed, "signatures": sigs});
        let bytes = serde_json::to_vec(&doc).unwrap();
        let _ = RootDocument::from_slice(&bytes, "shaped.json");
        let _ = TargetsDocument::from_slice(&bytes, "shaped.json");
    }
}

/// A root that lists no roles is refused, naming the first missing role.
#[test]
fn a_root_without_roles_is_refused_naming_the_role() {
    let text = br#"{"signatures":[],"signed":{"_type":"root","spec_version":"1.0.31","consistent_snapshot":false,"version":1,"expires":"2030-01-01T00:00:00Z","keys":{},"roles":{},"x-extra":{"k":[1,"\u00e9"]}}}"#;
    // No roles: refused, naming the role.
    let err = RootDocument::from_slice(text, "r.json").unwrap_err();
    assert!(err.to_string().contains("role root is missing"), "{err}");
}
