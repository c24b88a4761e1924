//! Fountain-coded (BC-UR) parts, one per line, rebuilt and unpacked as `qr decode`
//! does with the codes of `qr show --animate`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parts: Vec<(String, String)> = text
        .lines()
        .enumerate()
        .map(|(n, l)| (format!("line {n}"), l.to_owned()))
        .collect();
    let fountain = ceremony::transfer::qr::join_fountain(&parts);
    if let Some(payload) = fountain.payload {
        let _ = ceremony::transfer::qr::unpack(&payload);
    }
});
