//! Answers files (`run --answers`), which may carry rehearsal secrets.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ceremony::ceremony::ui::Answers::parse(text, "fuzz-answers.toml");
    }
});
