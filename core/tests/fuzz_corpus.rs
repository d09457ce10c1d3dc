//! Replays the fuzz targets' seeds (`fuzz/seeds/<target>/`) and every input a fuzz run found
//! crashing (`fuzz/regressions/<target>/`) through the same entry points `cargo fuzz` runs, on
//! stable Rust, in every `cargo test`. A crash found by `scripts/fuzz.sh` becomes a regression
//! test by copying its input into `fuzz/regressions/<target>/`.

#[path = "../../fuzz/src/lib.rs"]
mod harness;

use std::path::PathBuf;

fn replay(target: &str, run: fn(&[u8])) -> usize {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut count = 0;
    for dir in ["seeds", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
        paths.sort();
        for path in paths {
            let input = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| run(&input));
            assert!(outcome.is_ok(), "{target}: {} fails", path.display());
            count += 1;
        }
    }
    count
}

#[test]
fn callback_url() {
    assert!(replay("callback_url", harness::callback_url) >= 5);
}

#[test]
fn id_token() {
    assert!(replay("id_token", harness::id_token) >= 5);
}

#[test]
fn jwks() {
    assert!(replay("jwks", harness::jwks) >= 3);
}

#[test]
fn token_response() {
    assert!(replay("token_response", harness::token_response) >= 5);
}

#[test]
fn stored_state() {
    assert!(replay("stored_state", harness::stored_state) >= 5);
}

#[test]
fn stored_metadata() {
    assert!(replay("stored_metadata", harness::stored_metadata) >= 5);
}

#[test]
fn discovery() {
    assert!(replay("discovery", harness::discovery) >= 5);
}

#[test]
fn userinfo() {
    assert!(replay("userinfo", harness::userinfo) >= 5);
}

#[test]
fn token_headers() {
    assert!(replay("token_headers", harness::token_headers) >= 5);
}

#[test]
fn pending_login() {
    assert!(replay("pending_login", harness::pending_login) >= 5);
}

#[test]
fn config() {
    assert!(replay("config", harness::config) >= 5);
}

/// Needs the `ffi` feature (`cargo test --all-features`, as scripts/test.sh runs it).
#[cfg(feature = "ffi")]
#[test]
fn ffi_callback() {
    assert!(replay("ffi_callback", harness::ffi_callback) >= 5);
}

/// The seeds reach the paths they were written for: a good callback signs in, a good JWKS is
/// accepted, a good stored session is restored.
#[test]
fn the_harness_signs_in_with_well_formed_inputs() {
    let world = harness::World::new();
    world.login();
    assert_eq!(world.client.state(), keyfob::SessionState::SignedIn);
    let token = harness::good_id_token(Some("n"));
    assert_eq!(token.split('.').count(), 3);
}

/// The stored-metadata target's well-formed seed is what a sign-in leaves in the store: a client
/// over it makes no request before the sign-in's token request, and the sign-in succeeds.
#[test]
fn the_stored_metadata_seed_is_used_without_a_request() {
    use keyfob::SecureStorage;
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/stored_metadata/fresh");
    let record = std::fs::read_to_string(path)
        .unwrap()
        .replace("KEY", &harness::jwk().to_string());
    let world = harness::World::new();
    world.storage.save("metadata", record.as_bytes()).unwrap();
    let pending = world.begin();
    world
        .provider
        .push_token(200, harness::exchange_body(&pending.nonce));
    let callback = harness::World::callback(&pending);
    harness::block_on(world.client.handle_redirect(&callback)).unwrap();
    let urls: Vec<_> = world
        .provider
        .received("")
        .into_iter()
        .map(|r| r.url)
        .collect();
    assert_eq!(urls, [format!("{}/token", harness::ISSUER)]);
}
