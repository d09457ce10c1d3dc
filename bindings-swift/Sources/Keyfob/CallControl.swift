import Dispatch
import Foundation
import KeyfobFFI

// How the client runs the core's calls: storage reads off Swift's cooperative thread pool, task
// cancellation either reaching the Rust future or, for calls that may obtain tokens, only
// releasing the caller, and the core's background work in tasks of its own.

/// A serial queue for the core's synchronous calls that may read storage (and so block on the
/// Keychain, or wait for a Face ID prompt): never the main thread, never a thread of Swift's
/// cooperative pool, which a blocked call would take from every other task.
struct BlockingIO: Sendable {
    private let queue: DispatchQueue
    /// Marks the queue, so that code can tell it runs there (the tests check it).
    // nonisolated(unsafe): the key is immutable and only passed to Dispatch, which is thread-safe.
    nonisolated(unsafe) private static let marker = DispatchSpecificKey<Bool>()

    init(label: String) {
        queue = DispatchQueue(label: label, qos: .userInitiated)
        queue.setSpecific(key: Self.marker, value: true)
    }

    /// Whether the caller runs on a Keyfob storage queue.
    static var isCurrent: Bool { DispatchQueue.getSpecific(key: marker) == true }

    /// Runs `body` on the queue and returns its result to the awaiting task.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result { try translatingErrors(body) })
            }
        }
    }
}

/// Runs `call` with a cancellation token that the calling task's cancellation fires: the Rust
/// future is dropped at its next poll, with the requests it has in flight. Then throws
/// `CancellationError`, whatever the call answered.
func cancellable<T>(_ call: (KeyfobCancellation) async throws -> T) async throws -> T {
    let token = try translatingErrors { try KeyfobCancellation() }
    do {
        return try await withTaskCancellationHandler {
            try await translatingErrors { try await call(token) }
        } onCancel: {
            try? token.cancel()
        }
    } catch where Task.isCancelled {
        throw CancellationError()
    }
}

/// Runs `work` to completion in a task of its own, and returns its result unless the calling
/// task is cancelled first: then the caller gets `CancellationError` at once and `work` goes on.
/// For the calls that may obtain tokens (sign-in, refresh, logout): dropping them half-way could
/// lose a rotated refresh token, as Kotlin's layer also guarantees.
func shielded<T: Sendable>(_ work: @escaping @Sendable () async throws -> T) async throws -> T {
    let outcome = Outcome<T>()
    Task.detached(priority: Task.currentPriority) {
        do {
            outcome.resolve(.success(try await work()))
        } catch {
            outcome.resolve(.failure(error))
        }
    }
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { outcome.wait($0) }
    } onCancel: {
        outcome.resolve(.failure(CancellationError()))
    }
}

/// A result delivered once to one waiter, whichever comes first: the result or the waiter.
/// Later results (the work finishing after its caller was cancelled) are dropped.
private final class Outcome<T: Sendable>: @unchecked Sendable {
    // @unchecked: every field is guarded by `lock`.
    private let lock = NSLock()
    private var result: Result<T, any Error>?
    private var waiter: CheckedContinuation<T, any Error>?
    private var delivered = false

    func resolve(_ result: Result<T, any Error>) {
        let waiter: CheckedContinuation<T, any Error>? = lock.locked {
            guard self.result == nil, !delivered else { return nil }
            self.result = result
            return takeWaiter()
        }
        waiter?.resume(with: result)
    }

    func wait(_ continuation: CheckedContinuation<T, any Error>) {
        let ready: Result<T, any Error>? = lock.locked {
            waiter = continuation
            guard let result else { return nil }
            _ = takeWaiter()
            return result
        }
        if let ready { continuation.resume(with: ready) }
    }

    /// The waiter, once; call with the lock held.
    private func takeWaiter() -> CheckedContinuation<T, any Error>? {
        guard let waiter, !delivered else { return nil }
        delivered = true
        self.waiter = nil
        return waiter
    }
}

/// Runs the core's background work — the refresh ahead of an access token's expiry — in a task of
/// its own: the core has no runtime, so Swift's executor drives it, as it drives every call. The
/// task is not tied to any caller: cancelling the caller that started it does not stop it (it may
/// obtain tokens, like ``shielded(_:)``'s work).
final class TaskExecutor: KeyfobFFI.KeyfobExecutor {
    func spawn(task: KeyfobBackgroundTask) throws {
        Task.detached { await task.run() }
    }
}
