//! Targets metadata (the current targets a delegation-rotate ceremony edits).
#![no_main]
use ceremony::tuf::targets_doc::TargetsDocument;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(doc) = TargetsDocument::from_slice(data, "fuzz.targets.json") {
        let _ = ceremony::ceremony::engine::targets_summary(&doc, &doc);
    }
});
