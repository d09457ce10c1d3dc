import Foundation
import KeyfobFFIC

/// The cached access token through the core's plain C accessor, `keyfob_cached_access_token`:
/// one native call that copies the token into the new string's own storage. Through the
/// generated `cachedAccessToken()` it would take a handle clone, a RustBuffer and a `try!`
/// (a panic there would stop the app; here it is `nil`, and the full path reports it).
struct CachedToken: Sendable {
    /// The client's id in the core's table of live clients (not a pointer).
    let handle: UInt64
    /// The length of the last token: a string of exactly that capacity fits the next one.
    private let lastLength: LengthHint

    init(handle: UInt64, initialCapacity: Int = 1024) {
        self.handle = handle
        lastLength = LengthHint(initialCapacity)
    }

    /// The token if the core holds one that is saved and valid for the refresh margin.
    func read() -> String? {
        var capacity = lastLength.value
        // A longer token than the last one (rare): again with room for it.
        for _ in 0..<3 {
            var length: Int32 = 0
            let token = String(unsafeUninitializedCapacity: capacity) { buffer in
                length = keyfob_cached_access_token(handle, buffer.baseAddress, Int32(clamping: buffer.count))
                return length >= 0 && Int(length) <= buffer.count ? Int(length) : 0
            }
            if length < 0 { return nil }
            if Int(length) <= capacity {
                if Int(length) != capacity { lastLength.value = Int(length) }
                return token
            }
            capacity = Int(length)
        }
        return nil
    }
}

/// A hint shared by the threads that read the token; any value is safe (it is only a capacity).
private final class LengthHint: @unchecked Sendable {
    // @unchecked: `stored` is guarded by `lock`.
    private let lock = NSLock()
    private var stored: Int

    init(_ initial: Int) {
        stored = max(initial, 1)
    }

    var value: Int {
        get { lock.locked { stored } }
        set { lock.locked { stored = max(newValue, 1) } }
    }
}
