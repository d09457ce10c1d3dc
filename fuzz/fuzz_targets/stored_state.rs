#![no_main]
//! See `keyfob_fuzz::stored_state`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| keyfob_fuzz::stored_state(data));
