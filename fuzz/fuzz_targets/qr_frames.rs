//! QR frame texts, one per line, joined into a bundle as `qr decode` does.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let frames: Vec<String> = text.lines().map(str::to_owned).collect();
    let _ = ceremony::transfer::qr::join(&frames, None);
});
