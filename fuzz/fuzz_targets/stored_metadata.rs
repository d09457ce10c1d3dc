#![no_main]
//! See `keyfob_fuzz::stored_metadata`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| keyfob_fuzz::stored_metadata(data));
