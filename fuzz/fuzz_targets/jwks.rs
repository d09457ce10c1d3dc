#![no_main]
//! See `keyfob_fuzz::jwks`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| keyfob_fuzz::jwks(data));
