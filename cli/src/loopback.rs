//! The loopback redirect of RFC 8252 §7.3: a listener on `127.0.0.1` with an ephemeral port that
//! receives the browser's request to `/callback`.
//!
//! The listener is bound before the login starts, so the redirect URI names a port that is
//! already ours. The first request whose path is `/callback` decides the login: it is handed to
//! the caller, who answers it with a [`Page`] once the outcome is known. Requests to any other
//! path (a browser's `/favicon.ico`, a stray tab) get 404 and the wait goes on. Only the request
//! head is read (at most [`MAX_REQUEST_HEAD`] bytes, within [`REQUEST_READ_TIMEOUT`]), and the
//! pages carry no secret: the browser's history already holds the callback URL, and its code is
//! single-use.

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// The path of the redirect URI.
pub const CALLBACK_PATH: &str = "/callback";
/// The largest request head read from the browser.
pub const MAX_REQUEST_HEAD: usize = 16 * 1024;
/// How long a connection may take to send its request head.
pub const REQUEST_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long writing a page may take.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// A listener on `127.0.0.1` with an ephemeral port, waiting for the browser.
#[derive(Debug)]
pub struct LoopbackListener {
    listener: TcpListener,
    port: u16,
}

/// The request that decided the login, waiting for its answer.
pub struct Callback {
    url: String,
    stream: TcpStream,
}

impl fmt::Debug for Callback {
    // The query holds the authorization code and `state`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self
            .url
            .split_once('?')
            .map_or(self.url.as_str(), |(p, _)| p);
        f.debug_struct("Callback")
            .field("url", &format_args!("{path}?[redacted]"))
            .finish_non_exhaustive()
    }
}

/// The wait ended without a request to `/callback`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitTimedOut;

impl LoopbackListener {
    /// Binds `127.0.0.1:0`; the operating system picks the port.
    pub async fn bind() -> io::Result<Self> {
        let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
        let port = listener.local_addr()?.port();
        Ok(LoopbackListener { listener, port })
    }

    /// The port the listener is bound to.
    #[cfg(test)]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT/callback`.
    pub fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}{CALLBACK_PATH}", self.port)
    }

    /// Waits up to `timeout` for the first request to `/callback` and returns it; requests to
    /// other paths are answered 404 meanwhile. The listener closes when this returns.
    pub async fn wait_for_callback(self, timeout: Duration) -> Result<Callback, WaitTimedOut> {
        let (decided, mut callbacks) = mpsc::channel::<Callback>(1);
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        tokio::spawn(serve_connection(stream, self.port, decided.clone()));
                    }
                    Err(e) => {
                        // Out of file descriptors and the like: let the moment pass.
                        log::warn!("loopback listener: accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                Some(callback) = callbacks.recv() => return Ok(callback),
                () = &mut deadline => return Err(WaitTimedOut),
            }
        }
    }
}

impl Callback {
    /// The full callback URL, `http://127.0.0.1:PORT/callback?…`, for
    /// [`keyfob::Client::handle_redirect`]. It holds the authorization code: never print it.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Answers the browser with `page`.
    pub async fn respond(mut self, page: &Page) {
        write_response(
            &mut self.stream,
            page.status,
            "text/html; charset=utf-8",
            &page.html(),
        )
        .await;
    }
}

/// Reads one request and either hands it over as the callback or answers it.
async fn serve_connection(mut stream: TcpStream, port: u16, decided: mpsc::Sender<Callback>) {
    let head = match tokio::time::timeout(REQUEST_READ_TIMEOUT, read_head(&mut stream)).await {
        Ok(Ok(Some(head))) => head,
        // Closed, timed out, unreadable: nothing to answer.
        Ok(Ok(None) | Err(_)) | Err(_) => return,
    };
    let Some(target) = request_target(&head) else {
        write_response(
            &mut stream,
            400,
            "text/plain; charset=utf-8",
            "Bad request\n",
        )
        .await;
        return;
    };
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    if path != CALLBACK_PATH {
        log::debug!("loopback listener: 404 for a request to another path");
        write_response(&mut stream, 404, "text/plain; charset=utf-8", "Not found\n").await;
        return;
    }
    let callback = Callback {
        url: format!("http://127.0.0.1:{port}{target}"),
        stream,
    };
    if let Err(e) = decided.try_send(callback) {
        // Another request to /callback came first and decides the login.
        let mut stream = e.into_inner().stream;
        let page = Page::failure(
            "Already handled",
            "This sign-in was already handled by an earlier request. Return to the terminal.",
        );
        write_response(&mut stream, 409, "text/html; charset=utf-8", &page.html()).await;
    }
}

/// Reads up to the blank line that ends the request head. `None` if the connection closed
/// first or the head is too large.
async fn read_head(stream: &mut TcpStream) -> io::Result<Option<String>> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 2048];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        head.extend_from_slice(&buf[..n]);
        match find(&head, b"\r\n\r\n") {
            Some(end) if end <= MAX_REQUEST_HEAD => {
                head.truncate(end);
                return Ok(String::from_utf8(head).ok());
            }
            Some(_) => return Ok(None),
            None if head.len() > MAX_REQUEST_HEAD => return Ok(None),
            None => {}
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The origin-form target of an HTTP/1.x request line (`GET /callback?… HTTP/1.1`), if the line
/// is well formed.
fn request_target(head: &str) -> Option<&str> {
    let line = head.lines().next()?;
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    let well_formed = parts.next().is_none()
        && !method.is_empty()
        && method.bytes().all(|b| b.is_ascii_uppercase())
        && target.starts_with('/')
        && target.bytes().all(|b| b.is_ascii_graphic())
        && version.starts_with("HTTP/1.");
    well_formed.then_some(target)
}

async fn write_response(stream: &mut TcpStream, status: u16, content_type: &str, body: &str) {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        409 => "Conflict",
        _ => "Error",
    };
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\n\
         Content-Type: {content_type}\r\n\
         Content-Length: {}\r\n\
         Cache-Control: no-store\r\n\
         Referrer-Policy: no-referrer\r\n\
         X-Content-Type-Options: nosniff\r\n\
         Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    let write = async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await
    };
    if let Err(e) = tokio::time::timeout(WRITE_TIMEOUT, write)
        .await
        .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()))
    {
        log::debug!("loopback listener: could not answer the browser: {e}");
    }
}

/// The page the browser shows when the login is decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    status: u16,
    title: String,
    message: String,
}

impl Page {
    /// A 200 page: signed in.
    pub fn success(message: impl Into<String>) -> Self {
        Page {
            status: 200,
            title: "Signed in".into(),
            message: message.into(),
        }
    }

    /// A 400 page: the sign-in failed.
    pub fn failure(title: impl Into<String>, message: impl Into<String>) -> Self {
        Page {
            status: 400,
            title: title.into(),
            message: message.into(),
        }
    }

    /// The HTML document, with the title and message escaped.
    pub fn html(&self) -> String {
        let title = escape_html(&self.title);
        let message = escape_html(&self.message);
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>Keyfob: {title}</title>\
             <style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#222}}\
             h1{{font-size:1.4rem}}</style></head>\
             <body><h1>{title}</h1><p>{message}</p><p>You can close this tab and return to the terminal.</p></body></html>\n"
        )
    }
}

/// Escapes text for an HTML element or a quoted attribute.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends `request` raw and returns the whole response.
    async fn exchange(port: u16, request: String) -> String {
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .await
            .unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    }

    fn get(target: &str) -> String {
        format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    }

    #[test]
    fn request_lines() {
        assert_eq!(
            request_target("GET /callback?code=a&state=b HTTP/1.1\r\nHost: x"),
            Some("/callback?code=a&state=b")
        );
        assert_eq!(request_target("GET / HTTP/1.0"), Some("/"));
        for bad in [
            "",
            "GET",
            "GET /x",
            "get /x HTTP/1.1",
            "GET http://x/ HTTP/1.1",
            "GET /a b HTTP/1.1",
            "GET /x HTTP/2",
        ] {
            assert_eq!(request_target(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn pages_are_escaped() {
        let page = Page::failure(
            "Sign-in failed",
            "StateMismatch: <script>alert('x')</script> & more",
        );
        let html = page.html();
        assert!(
            html.contains(
                "StateMismatch: &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more"
            )
        );
        assert!(!html.contains("<script>"));
        assert_eq!(page.status, 400);
        assert_eq!(Page::success("Welcome").status, 200);
    }

    #[tokio::test]
    async fn other_paths_get_404_and_the_first_callback_decides() {
        let listener = LoopbackListener::bind().await.unwrap();
        let port = listener.port();
        assert_eq!(
            listener.redirect_uri(),
            format!("http://127.0.0.1:{port}/callback")
        );
        let waiting = tokio::spawn(listener.wait_for_callback(Duration::from_secs(10)));

        // A connection that sends nothing must not hold the others up.
        let _idle = TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .await
            .unwrap();
        let not_found = exchange(port, get("/favicon.ico")).await;
        assert!(not_found.starts_with("HTTP/1.1 404 "), "{not_found}");
        let not_found = exchange(port, get("/callback/extra?code=x")).await;
        assert!(not_found.starts_with("HTTP/1.1 404 "), "{not_found}");
        let bad = exchange(port, "NONSENSE\r\n\r\n".to_owned()).await;
        assert!(bad.starts_with("HTTP/1.1 400 "), "{bad}");

        let browser = tokio::spawn(exchange(port, get("/callback?code=c&state=s")));
        let callback = waiting.await.unwrap().unwrap();
        assert_eq!(
            callback.url(),
            format!("http://127.0.0.1:{port}/callback?code=c&state=s")
        );
        callback.respond(&Page::success("Signed in as Ada")).await;
        let page = browser.await.unwrap();
        assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
        assert!(page.contains("Cache-Control: no-store\r\n"));
        assert!(page.contains("Signed in as Ada"));

        // The listener is closed once the login is decided.
        assert!(
            TcpStream::connect((Ipv4Addr::LOCALHOST, port))
                .await
                .is_err()
        );
    }

    /// On tokio's paused clock, which moves to the next timer when nothing else can run: the
    /// wait ends at its timeout exactly, however slow the machine.
    #[tokio::test(start_paused = true)]
    async fn the_wait_times_out() {
        let listener = LoopbackListener::bind().await.unwrap();
        let started = tokio::time::Instant::now();
        let outcome = listener.wait_for_callback(Duration::from_secs(300)).await;
        assert_eq!(outcome.unwrap_err(), WaitTimedOut);
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_secs(300) && waited < Duration::from_secs(301),
            "{waited:?}"
        );
    }

    #[tokio::test]
    async fn oversized_heads_are_dropped() {
        let listener = LoopbackListener::bind().await.unwrap();
        let port = listener.port();
        let waiting = tokio::spawn(listener.wait_for_callback(Duration::from_millis(1500)));
        let huge = format!(
            "GET /callback?x={} HTTP/1.1\r\n\r\n",
            "a".repeat(MAX_REQUEST_HEAD + 10)
        );
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .await
            .unwrap();
        // The listener may close the connection while the head is still being written.
        let _ = stream.write_all(huge.as_bytes()).await;
        assert!(
            waiting.await.unwrap().is_err(),
            "an oversized request decided the login"
        );
    }
}
