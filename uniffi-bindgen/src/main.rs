//! `cargo run -p uniffi-bindgen -- generate --library …`: the binding generator for Keyfob's
//! Swift and Kotlin bindings (see `scripts/generate-bindings.sh`).

fn main() {
    uniffi::uniffi_bindgen_main()
}
