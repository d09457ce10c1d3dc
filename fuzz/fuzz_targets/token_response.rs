#![no_main]
//! See `keyfob_fuzz::token_response`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| keyfob_fuzz::token_response(data));
