import Foundation
import KeyfobFFI

/// Receives the core's session events and hands them to every open stream.
///
/// The core calls `onSessionEvent` on the thread of the operation that caused the event, in
/// order; yielding to an `AsyncStream` is cheap and thread-safe, so the core never waits on
/// the app.
final class SessionBroadcaster: KeyfobFFI.KeyfobSessionObserver, @unchecked Sendable {
    // @unchecked: every mutable field below is guarded by `lock`.
    private let lock = NSLock()
    private var nextID = 0
    private var stateStreams: [Int: (continuation: AsyncStream<SessionState>.Continuation, last: SessionState)] = [:]
    private var changeStreams: [Int: AsyncStream<SessionChange>.Continuation] = [:]
    /// Events seen so far, and the state after the latest one.
    private var eventCount = 0
    private var latest: SessionState?

    func onSessionEvent(event: SessionEvent, state: SessionState) throws {
        lock.lock()
        defer { lock.unlock() }
        eventCount += 1
        latest = state
        for continuation in changeStreams.values {
            continuation.yield(SessionChange(event: event, state: state))
        }
        for (id, stream) in stateStreams where stream.last != state {
            stateStreams[id]?.last = state
            stream.continuation.yield(state)
        }
    }

    /// A stream that starts with the current state (`current()`, read outside the lock since it
    /// may touch storage) and then yields every change of state.
    func states(current: () -> SessionState) -> AsyncStream<SessionState> {
        let seen = lock.locked { eventCount }
        let now = current()
        var continuation: AsyncStream<SessionState>.Continuation!
        let stream = AsyncStream<SessionState>(bufferingPolicy: .unbounded) { continuation = $0 }
        let id: Int = lock.locked {
            // An event that arrived while `current()` ran carries the newer state.
            let initial = (eventCount == seen ? nil : latest) ?? now
            continuation.yield(initial)
            return add { stateStreams[$0] = (continuation, initial) }
        }
        continuation.onTermination = { @Sendable [weak self] _ in self?.remove(id) }
        return stream
    }

    /// A stream of the events from now on, each with the state after it.
    func changes() -> AsyncStream<SessionChange> {
        var continuation: AsyncStream<SessionChange>.Continuation!
        let stream = AsyncStream<SessionChange>(bufferingPolicy: .unbounded) { continuation = $0 }
        let id: Int = lock.locked { add { changeStreams[$0] = continuation } }
        continuation.onTermination = { @Sendable [weak self] _ in self?.remove(id) }
        return stream
    }

    /// Ends every open stream (the client is gone).
    func finishAll() {
        let (states, changes) = lock.locked {
            defer { stateStreams.removeAll(); changeStreams.removeAll() }
            return (stateStreams.values.map(\.continuation), Array(changeStreams.values))
        }
        states.forEach { $0.finish() }
        changes.forEach { $0.finish() }
    }

    /// Registers a stream under a new id; call with the lock held.
    private func add(_ register: (Int) -> Void) -> Int {
        let id = nextID
        nextID += 1
        register(id)
        return id
    }

    private func remove(_ id: Int) {
        lock.locked {
            stateStreams[id] = nil
            changeStreams[id] = nil
        }
    }
}
