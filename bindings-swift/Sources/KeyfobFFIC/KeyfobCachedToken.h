// The core's plain C accessor of the cached access token (core/src/ffi/cached_token.rs), which
// the Swift layer calls instead of the generated `cachedAccessToken()`: no handle cloning, no
// RustBuffer, no `try!` in the generated code. Hand-written: uniffi does not generate it.
#pragma once
#include <stdint.h>

/// Copies the access token of the client named by `handle` (KeyfobClient.tokenHandle()) into
/// `buf` if it holds one in memory that is saved and valid for the refresh margin. Returns its
/// length n >= 0 (written only if n <= cap), -1 when there is no cached token, -2 when the handle
/// names no live client, -3 on invalid arguments or an internal failure. Never unwinds.
int32_t keyfob_cached_access_token(uint64_t handle, uint8_t *buf, int32_t cap);
