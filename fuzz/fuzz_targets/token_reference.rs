//! Token references: `pkcs11:` URIs (RFC 7512), `yubikey:` and `soft:`. An error
//! never repeats a PIN given in the reference.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = ceremony::tokens::reference::TokenRef::parse(text) {
        let message = e.to_string();
        for attr in ["pin-value=", "pin-source="] {
            for (at, _) in text.match_indices(attr) {
                let value: String = text[at + attr.len()..]
                    .chars()
                    .take_while(|c| *c != ';' && *c != '&')
                    .collect();
                // A PIN-like value (six or more digits) never shows, wherever
                // else the reference holds the same digits.
                if value.len() >= 6 && value.bytes().all(|b| b.is_ascii_digit()) {
                    assert!(!message.contains(&value), "a PIN echoed: {message}");
                }
            }
        }
    }
    let _ = ceremony::tokens::pkcs11::uri::Pkcs11Uri::parse(text);
    let _ = ceremony::tokens::yubikey::YubiKeyRef::parse(text);
});
