import Foundation
import KeyfobFFI

/// What the client knows about the session without asking the core: the answers of ``KeyfobClient/state``
/// and ``KeyfobClient/claims``.
struct Snapshot: Sendable, Equatable {
    /// `nil` until the stored session was read.
    var state: SessionState?
    var claims: Claims?
    /// Whether the core has read the stored session, so that asking it is memory only.
    var restored = false
}

/// Keeps the session ``Snapshot`` and hands every change to the open streams.
///
/// Fed by the core's events (``EventRelay``, on the thread of the operation that caused them)
/// and by the client's own reads; yielding to an `AsyncStream` is cheap and thread-safe, so the
/// core never waits on the app.
final class SessionBroadcaster: @unchecked Sendable {
    // @unchecked: every mutable field below is guarded by `lock`.
    private let lock = NSLock()
    private var nextID = 0
    /// Open state streams, with the last state each was given (`nil`: none yet).
    private var stateStreams: [Int: (continuation: AsyncStream<SessionState>.Continuation, last: SessionState?)] = [:]
    private var changeStreams: [Int: AsyncStream<SessionChange>.Continuation] = [:]
    private var current = Snapshot()
    /// Events seen so far: a read that started before the latest event is older than it.
    private var eventCount = 0

    /// The snapshot now.
    var snapshot: Snapshot { lock.locked { current } }

    /// The number of events seen so far, to pass to ``publish(_:readAfter:)``.
    var events: Int { lock.locked { eventCount } }

    /// Records what the core said in a read that started after `events` events, and tells the
    /// streams; an event that came in meanwhile carries a newer state, which is kept.
    func publish(_ snapshot: Snapshot, readAfter events: Int) {
        lock.locked {
            if eventCount == events {
                current = snapshot
            } else {
                current.restored = current.restored || snapshot.restored
            }
            yieldState()
        }
    }

    /// Records an event of the core and tells the streams.
    func event(_ event: SessionEvent, state: SessionState, claims: () -> Claims?) {
        // Claims are read before taking the lock: the core must not be called with it held.
        let claims = snapshot.restored ? claims() : nil
        lock.locked {
            eventCount += 1
            current.state = state
            current.claims = state == .signedIn ? claims : nil
            current.restored = current.restored || state != .storageUnavailable
            for continuation in changeStreams.values {
                continuation.yield(SessionChange(event: event, state: state))
            }
            yieldState()
        }
    }

    /// A stream that starts with the current state and then yields every change of state;
    /// `needsRead` when the state is not known yet (the caller reads the stored session, and the
    /// stream starts with what that read finds).
    func states() -> (stream: AsyncStream<SessionState>, needsRead: Bool) {
        var continuation: AsyncStream<SessionState>.Continuation!
        let stream = AsyncStream<SessionState>(bufferingPolicy: .unbounded) { continuation = $0 }
        let (id, needsRead): (Int, Bool) = lock.locked {
            let state = current.state
            if let state { continuation.yield(state) }
            return (add { stateStreams[$0] = (continuation, state) }, state == nil)
        }
        continuation.onTermination = { @Sendable [weak self] _ in self?.remove(id) }
        return (stream, needsRead)
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

    /// Gives the current state to every stream that does not have it yet; call with the lock held.
    private func yieldState() {
        guard let state = current.state else { return }
        for (id, stream) in stateStreams where stream.last != state {
            stateStreams[id]?.last = state
            stream.continuation.yield(state)
        }
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

/// Receives the core's session events and hands them to the ``SessionBroadcaster``, with the
/// claims after the event.
final class EventRelay: KeyfobFFI.KeyfobSessionObserver {
    private let broadcaster: SessionBroadcaster
    private let claims: @Sendable () -> Claims?

    init(broadcaster: SessionBroadcaster, claims: @escaping @Sendable () -> Claims?) {
        self.broadcaster = broadcaster
        self.claims = claims
    }

    func onSessionEvent(event: KeyfobFFI.SessionEvent, state: KeyfobFFI.SessionState) throws {
        broadcaster.event(SessionEvent(event), state: SessionState(state), claims: claims)
    }
}
