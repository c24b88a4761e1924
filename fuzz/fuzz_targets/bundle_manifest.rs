//! Bundle manifests (`manifest.json` of request and export bundles).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ceremony::transfer::bundle::parse_manifest(data);
});
