#![no_main]
//! See `keyfob_fuzz::userinfo`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| keyfob_fuzz::userinfo(data));
