//! Ceremony transcripts, verified as `transcript verify` does (from a file).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("ceremony-fuzz-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("transcript.jsonl");
    if std::fs::write(&path, data).is_ok() {
        let _ = ceremony::ceremony::transcript::verify_file(&path);
    }
});
