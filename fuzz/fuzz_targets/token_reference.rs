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
            if let Some(at) = text.find(attr) {
                let value: String = text[at + attr.len()..]
                    .chars()
                    .take_while(|c| *c != ';' && *c != '&')
                    .collect();
                // A PIN-like value (six or more digits) never shows, unless
                // the reference holds it elsewhere too (as a serial, say).
                if value.len() >= 6
                    && value.bytes().all(|b| b.is_ascii_digit())
                    && !text[..at].contains(&value)
                {
                    assert!(!message.contains(&value), "a PIN echoed: {message}");
                }
            }
        }
    }
    let _ = ceremony::tokens::pkcs11::uri::Pkcs11Uri::parse(text);
    let _ = ceremony::tokens::yubikey::YubiKeyRef::parse(text);
});
