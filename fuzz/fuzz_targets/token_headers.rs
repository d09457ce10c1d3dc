#![no_main]
//! See `keyfob_fuzz::token_headers`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| keyfob_fuzz::token_headers(data));
