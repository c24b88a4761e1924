//! `request.json` of a request bundle (one repository or a batch).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ceremony::online::request::parse_request_file(data);
});
