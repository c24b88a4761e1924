//! Root metadata of either flavour, as `verify`, `root inspect`, `publish` and the
//! ceremony read it: parse, validate, check its own signatures, render the
//! read-aloud summary, and write it again (which must parse again).
#![no_main]
use ceremony::tuf::document::RootDocument;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = RootDocument::from_slice(data, "fuzz.root.json") else {
        return;
    };
    let _ = doc.validate();
    let _ = ceremony::tuf::verify::check_self(&doc);
    let _ = ceremony::ceremony::engine::summary(&doc, Some(&doc), "");
    if let Ok(bytes) = doc.to_json() {
        RootDocument::from_slice(&bytes, "again.root.json").expect("what we write, we read again");
    }
});
