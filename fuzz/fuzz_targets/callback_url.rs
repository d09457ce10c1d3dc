#![no_main]
//! See `keyfob_fuzz::callback_url`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| keyfob_fuzz::callback_url(data));
