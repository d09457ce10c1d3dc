#![no_main]
//! See `keyfob_fuzz::ffi_callback`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| keyfob_fuzz::ffi_callback(data));
