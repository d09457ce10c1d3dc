import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A small HTTP/1.1 server on 127.0.0.1 for the transport's cookie test: every response sets a
/// cookie, and the head of every request is kept, so that the test sees whether a `Cookie` came
/// back. The testkit cannot play this part on Linux: its HTTP stack writes header names in lower
/// case, and FoundationNetworking only takes cookies from a header spelled `Set-Cookie`.
final class CookieServer: @unchecked Sendable {
    // @unchecked: `heads` is guarded by `lock`; the listening socket only changes in `stop()`.
    private let listener: Int32
    /// The port the server listens on.
    let port: UInt16
    private let lock = NSLock()
    private var heads: [String] = []

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// The heads (request line and headers) of the requests served so far.
    var requestHeads: [String] { lock.locked { heads } }

    init() throws {
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw Failure(description: "socket() failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ready = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && listen(fd, 16) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard ready else {
            close(fd)
            throw Failure(description: "cannot listen on 127.0.0.1")
        }
        listener = fd
        port = UInt16(bigEndian: address.sin_port)
        Thread { [self] in acceptLoop() }.start()
    }

    /// Stops accepting connections (a blocked `accept` returns).
    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func acceptLoop() {
        while true {
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else { return }
            serve(connection)
            close(connection)
        }
    }

    /// Reads one request head and answers it with a cookie (`Connection: close`).
    private func serve(_ connection: Int32) {
        var head = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !head.ends(with: Array("\r\n\r\n".utf8)) && head.count < 64 * 1024 {
            let n = recv(connection, &buffer, buffer.count, 0)
            guard n > 0 else { return }
            head.append(contentsOf: buffer[0..<n])
        }
        lock.locked { heads.append(String(decoding: head, as: UTF8.self)) }
        let response = Array(("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
            + "Set-Cookie: SID=session-secret; Path=/\r\nConnection: close\r\n\r\n{}").utf8)
        #if canImport(Glibc)
        let flags = Int32(MSG_NOSIGNAL)
        #else
        let flags: Int32 = 0
        var one: Int32 = 1
        setsockopt(connection, SOL_SOCKET, SO_NOSIGPIPE, &one, socklen_t(MemoryLayout<Int32>.size))
        #endif
        var sent = 0
        while sent < response.count {
            let n = response[sent...].withUnsafeBytes { send(connection, $0.baseAddress, $0.count, flags) }
            guard n > 0 else { return }
            sent += n
        }
    }
}

private extension Array where Element == UInt8 {
    func ends(with suffix: [UInt8]) -> Bool {
        count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix
    }
}
