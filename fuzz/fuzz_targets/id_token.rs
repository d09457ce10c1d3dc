#![no_main]
//! See `keyfob_fuzz::id_token`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| keyfob_fuzz::id_token(data));
