#![no_main]
//! See `keyfob_fuzz::pending_login`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| keyfob_fuzz::pending_login(data));
