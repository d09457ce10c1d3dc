//! The whole client flow (sign-in, token, refresh, userinfo, logout) so that every part of the
//! core is linked in, over keyfob's reqwest transport (feature `reqwest`) or a stand-in for the
//! platform's transport. Only its size matters; it is not meant to be run.

use std::future::Future;
use std::sync::Arc;

use keyfob::{Client, Config, HttpTransport, MemoryStorage};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize| args.get(i).cloned().unwrap_or_default();
    let config = Config::builder(arg(1), arg(2), arg(3))
        .scopes(["email", "offline_access"])
        .build()
        .unwrap_or_else(|e| fail(e));
    let client = Client::new(config, transport()).with_storage(Arc::new(MemoryStorage::new()));
    let flow = async {
        println!("{}", client.begin_login().await?);
        println!("{}", client.handle_redirect(&arg(4)).await?.subject);
        println!("{}", client.access_token().await?.expose().len());
        println!("{:?}", client.refresh().await?.expires_at());
        println!("{}", client.userinfo().await?.len());
        println!("{:?}", client.logout().await?.end_session_url.is_some());
        Ok::<_, keyfob::Error>(())
    };
    if let Err(e) = run(flow) {
        fail(e);
    }
}

fn fail(e: keyfob::Error) -> ! {
    eprintln!("{e}");
    std::process::exit(1)
}

#[cfg(feature = "reqwest")]
fn transport() -> Arc<dyn HttpTransport> {
    Arc::new(keyfob::ReqwestTransport::new().expect("TLS initialises"))
}

#[cfg(feature = "reqwest")]
fn run<T>(flow: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(flow)
}

/// Stands in for URLSession / HttpURLConnection, which live outside the library.
#[cfg(not(feature = "reqwest"))]
struct PlatformTransport;

#[cfg(not(feature = "reqwest"))]
#[async_trait::async_trait]
impl HttpTransport for PlatformTransport {
    async fn send(
        &self,
        _request: keyfob::HttpRequest,
    ) -> Result<keyfob::HttpResponse, keyfob::TransportError> {
        Err(keyfob::TransportError::new(
            keyfob::TransportErrorKind::Connect,
            "the platform's HTTP stack lives outside the library",
        ))
    }
}

#[cfg(not(feature = "reqwest"))]
fn transport() -> Arc<dyn HttpTransport> {
    Arc::new(PlatformTransport)
}

#[cfg(not(feature = "reqwest"))]
fn run<T>(flow: impl Future<Output = T>) -> T {
    // The stand-in answers at once, so one poll completes the flow.
    let mut flow = std::pin::pin!(flow);
    match flow
        .as_mut()
        .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
    {
        std::task::Poll::Ready(out) => out,
        std::task::Poll::Pending => unreachable!("the stand-in transport never waits"),
    }
}
