#![no_main]
//! See `keyfob_fuzz::discovery`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| keyfob_fuzz::discovery(data));
