//! Public key files (`--key NAME=keyfile:PATH`, a request's keys) in both flavours.
#![no_main]
use ceremony::tuf::metadata::Flavour;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for flavour in [Flavour::Tuf, Flavour::Notary] {
        if let Ok(key) = ceremony::tuf::key::read_key_object(data, flavour) {
            let _ = ceremony::tuf::key::decode_key(&key, flavour);
            let _ = ceremony::tuf::key::key_id(&key, flavour);
        }
        let _ = ceremony::online::request::read_key(data, flavour);
    }
});
