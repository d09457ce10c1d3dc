#![no_main]
//! See `keyfob_fuzz::config`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| keyfob_fuzz::config(data));
