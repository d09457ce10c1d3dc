//! `keyfob-testkit`: the other side of Keyfob's protocol, on loopback.
//!
//! One [`Testkit`] runs three HTTP servers on the current tokio runtime:
//!
//! - an OpenID provider playing `auth.company.com`: discovery, JWKS, `/authorize`
//!   (auto-approving one [`TestUser`]), `/par` (pushed authorization requests, RFC 9126),
//!   `/token` (authorization code with PKCE S256, refresh with rotation and reuse
//!   detection, DPoP-bound tokens when the request carries a proof, RFC 9449),
//!   `/userinfo`, `/revoke` and `/end_session`, signing with real RS256/PS256/ES256 keys;
//! - resource server A (`crm`, `GET /api/customers`) and resource server B
//!   (`orders`, `GET /api/orders`), which accept JWT access tokens as
//!   `Authorization: Bearer`, or — for DPoP-bound tokens (`cnf.jkt`) — only as
//!   `Authorization: DPoP` with a valid proof, verified against the provider's JWKS fetched
//!   over HTTP.
//!
//! What it demands of clients ([`Policy`]: DPoP required, PAR required, DPoP nonces) is set
//! at start and may be switched at run time.
//!
//! Tests steer it through [`Testkit`]'s methods or, from other languages, through
//! the provider's `/__testkit/*` admin endpoints (see the `keyfob-testkit` binary):
//! request counters ([`Stats`]), a misbehaviour switchboard ([`Faults`]), key
//! rotation and a clock that can be moved forward.
//!
//! The crate is deliberately independent of the `keyfob` crate, so that a mistake
//! in the client's protocol code cannot hide in both sides.

#![warn(missing_docs)]

mod clock;
mod dpop;
mod faults;
mod jwt;
mod keys;
mod provider;
mod resource;
mod stats;

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use dpop::Policy;
pub use faults::{EndpointFault, Faults, Signing};
pub use resource::RESOURCE_SERVER_USER_AGENT;
pub use stats::Stats;

use clock::Clock;
use faults::FaultSwitch;
use provider::Provider;
use stats::StatsRecorder;

/// The audience that server A (`crm`) requires in access tokens.
pub const CRM_AUDIENCE: &str = "https://crm.company.com";
/// The audience that server B (`orders`) requires in access tokens.
pub const ORDERS_AUDIENCE: &str = "https://orders.company.com";

/// The algorithm the provider signs ID tokens with (access tokens are always RS256).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum SigningAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256, RSA-2048.
    #[default]
    Rs256,
    /// ECDSA P-256 with SHA-256.
    Es256,
    /// RSASSA-PSS with SHA-256, RSA-2048.
    Ps256,
}

impl SigningAlg {
    /// The JOSE name: `RS256`, `ES256` or `PS256`.
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::Rs256 => "RS256",
            SigningAlg::Es256 => "ES256",
            SigningAlg::Ps256 => "PS256",
        }
    }
}

impl FromStr for SigningAlg {
    type Err = String;

    /// Parses `RS256`, `ES256` or `PS256` (case-insensitive).
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        [SigningAlg::Rs256, SigningAlg::Es256, SigningAlg::Ps256]
            .into_iter()
            .find(|alg| alg.as_str().eq_ignore_ascii_case(name))
            .ok_or_else(|| format!("unsupported ID token algorithm {name:?} (RS256, ES256, PS256)"))
    }
}

/// The user the provider signs in, without asking: the configured one, or — when the
/// authorization request carries a `login_hint` — the user of that name
/// ([`TestUser::named`]), so that tests can sign several accounts in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestUser {
    /// Subject identifier (`sub`).
    pub sub: String,
    /// `email` claim.
    pub email: String,
    /// `name` claim.
    pub name: String,
    /// `preferred_username` claim.
    pub preferred_username: String,
}

impl TestUser {
    /// The user signed in for `login_hint=name`: `sub` is `name`, the e-mail
    /// `name@company.com`, and `name` is also the display and preferred user name.
    pub fn named(name: &str) -> TestUser {
        TestUser {
            sub: name.into(),
            email: format!("{name}@company.com"),
            name: name.into(),
            preferred_username: name.into(),
        }
    }
}

impl Default for TestUser {
    fn default() -> Self {
        TestUser {
            sub: "user-123".into(),
            email: "ada@company.com".into(),
            name: "Ada Lovelace".into(),
            preferred_username: "ada".into(),
        }
    }
}

/// How to start a [`Testkit`].
#[derive(Clone, Debug)]
pub struct Options {
    /// Address to bind; default `127.0.0.1`.
    pub host: IpAddr,
    /// Provider port; `0` picks an ephemeral port. Servers A and B listen on
    /// `port + 1` and `port + 2` when `port` is not 0, on ephemeral ports otherwise.
    pub port: u16,
    /// Host name or address put in the issuer and the other URLs (e.g. `10.0.2.2`
    /// for the Android emulator); default: the bound address.
    pub public_host: Option<String>,
    /// The one registered client (a public client); default `keyfob-demo`.
    pub client_id: String,
    /// Registered redirect URIs, matched exactly, except that a registered
    /// loopback URI such as `http://127.0.0.1/callback` also accepts
    /// `http://127.0.0.1:{any port}/callback` and `http://[::1]:{any port}/callback`
    /// (RFC 8252 §7.3).
    pub redirect_uris: Vec<String>,
    /// Access token lifetime in seconds; default 300.
    pub access_token_ttl: u64,
    /// ID token lifetime in seconds; default 300.
    pub id_token_ttl: u64,
    /// Refresh token lifetime in seconds, counted from the issue of each refresh
    /// token; default 86400.
    pub refresh_token_ttl: u64,
    /// Authorization code lifetime in seconds; default 60.
    pub code_ttl: u64,
    /// Algorithm of the ID tokens; default RS256.
    pub id_token_alg: SigningAlg,
    /// The user signed in by `/authorize`.
    pub user: TestUser,
    /// What the testkit demands at start: DPoP, PAR, DPoP nonces (none by default).
    pub policy: Policy,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            public_host: None,
            client_id: "keyfob-demo".into(),
            redirect_uris: vec![
                "myapp://callback".into(),
                "com.example.app:/callback".into(),
                "http://127.0.0.1/callback".into(),
            ],
            access_token_ttl: 300,
            id_token_ttl: 300,
            refresh_token_ttl: 86_400,
            code_ttl: 60,
            id_token_alg: SigningAlg::Rs256,
            user: TestUser::default(),
            policy: Policy::default(),
        }
    }
}

/// Where the servers of a [`Testkit`] are reached.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Urls {
    /// The provider's issuer, `http://{public_host}:{port}` (no trailing slash).
    pub issuer: String,
    /// Base URL of server A, e.g. `http://127.0.0.1:8081`; its API is `GET /api/customers`.
    pub crm: String,
    /// Base URL of server B, e.g. `http://127.0.0.1:8082`; its API is `GET /api/orders`.
    pub orders: String,
}

/// State shared by the provider and servers A and B of one testkit.
#[derive(Debug, Default)]
struct Shared {
    clock: Clock,
    stats: StatsRecorder,
    faults: FaultSwitch,
    dpop: dpop::DpopState,
}

/// A running provider with servers A and B. Dropping it stops the servers.
pub struct Testkit {
    urls: Urls,
    client_id: String,
    shared: Arc<Shared>,
    provider: Arc<Provider>,
    stop: watch::Sender<()>,
    servers: Vec<JoinHandle<io::Result<()>>>,
}

impl std::fmt::Debug for Testkit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Testkit")
            .field("urls", &self.urls)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl Testkit {
    /// Binds the three listeners and serves them on the current tokio runtime.
    pub async fn start(opts: Options) -> io::Result<Testkit> {
        let (crm_port, orders_port) = match opts.port {
            0 => (0, 0),
            port => match (port.checked_add(1), port.checked_add(2)) {
                (Some(crm), Some(orders)) => (crm, orders),
                _ => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "port + 2 must be a valid port for servers A and B",
                    ));
                }
            },
        };
        let provider_listener = TcpListener::bind(SocketAddr::new(opts.host, opts.port)).await?;
        let crm_listener = TcpListener::bind(SocketAddr::new(opts.host, crm_port)).await?;
        let orders_listener = TcpListener::bind(SocketAddr::new(opts.host, orders_port)).await?;

        let base_url = |listener: &TcpListener| -> io::Result<String> {
            let addr = listener.local_addr()?;
            let host = match &opts.public_host {
                Some(host) => url_host(host),
                None => url_host(&addr.ip().to_string()),
            };
            Ok(format!("http://{host}:{}", addr.port()))
        };
        let urls = Urls {
            issuer: base_url(&provider_listener)?,
            crm: base_url(&crm_listener)?,
            orders: base_url(&orders_listener)?,
        };

        let shared = Arc::new(Shared::default());
        shared.dpop.set_policy(opts.policy);
        let provider = Provider::new(&opts, urls.issuer.clone(), shared.clone()).await?;
        let provider_addr = reachable(provider_listener.local_addr()?);
        let crm = resource::router(
            resource::Api::crm(&urls.crm),
            &urls.issuer,
            provider_addr,
            &shared,
        );
        let orders = resource::router(
            resource::Api::orders(&urls.orders),
            &urls.issuer,
            provider_addr,
            &shared,
        );

        let (stop, _) = watch::channel(());
        let servers = vec![
            serve(provider_listener, provider::router(provider.clone()), &stop),
            serve(crm_listener, crm, &stop),
            serve(orders_listener, orders, &stop),
        ];
        Ok(Testkit {
            urls,
            client_id: opts.client_id,
            shared,
            provider,
            stop,
            servers,
        })
    }

    /// The issuer and the base URLs of servers A and B.
    pub fn urls(&self) -> &Urls {
        &self.urls
    }

    /// The line a testkit binary prints once the servers listen:
    /// `{"issuer":…,"crm":…,"orders":…,"client_id":…}`.
    pub fn ready_line(&self) -> String {
        #[derive(Serialize)]
        struct Ready<'a> {
            #[serde(flatten)]
            urls: &'a Urls,
            client_id: &'a str,
        }
        serde_json::to_string(&Ready {
            urls: &self.urls,
            client_id: &self.client_id,
        })
        .expect("URLs serialise")
    }

    /// The issuer, `http://{public_host}:{port}`.
    pub fn issuer(&self) -> &str {
        &self.urls.issuer
    }

    /// The registered client's id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// A snapshot of the request counters.
    pub fn stats(&self) -> Stats {
        self.shared.stats.snapshot()
    }

    /// Sets every request counter back to zero.
    pub fn reset_stats(&self) {
        self.shared.stats.reset();
    }

    /// Replaces the active faults; they stay until replaced or cleared.
    pub fn set_faults(&self, faults: Faults) {
        self.shared.faults.set(faults);
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.shared.faults.set(Faults::default());
    }

    /// What the testkit demands of clients now.
    pub fn policy(&self) -> Policy {
        self.shared.dpop.policy()
    }

    /// Changes what the testkit demands of clients (DPoP, PAR, DPoP nonces), from the next
    /// request on.
    pub fn set_policy(&self, policy: Policy) {
        self.shared.dpop.set_policy(policy);
    }

    /// Gives the provider and servers A and B new DPoP nonces: a proof with an old one is
    /// answered with `use_dpop_nonce` (when nonces are demanded).
    pub fn rotate_dpop_nonces(&self) {
        self.shared.dpop.rotate_nonces();
    }

    /// Signs every future token with new keys (new `kid`s). The old keys stay in
    /// the JWKS if `keep_old`; otherwise only the new keys are published.
    ///
    /// RSA keys come from a process-wide pool that is filled ahead of need, so this
    /// rarely waits for key generation.
    pub fn rotate_keys(&self, keep_old: bool) {
        self.provider.rotate_keys(keep_old);
    }

    /// Moves the testkit's clock (provider and servers A and B) by `secs`, to
    /// expire codes and tokens without sleeping.
    pub fn advance_clock(&self, secs: i64) {
        self.shared.clock.advance(secs);
    }

    /// Stops the servers: requests in flight get up to 5 seconds to finish.
    pub async fn shutdown(mut self) {
        self.stop.send_replace(());
        for server in std::mem::take(&mut self.servers) {
            let abort = server.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), server)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl Drop for Testkit {
    fn drop(&mut self) {
        // Wakes the graceful shutdown of any server still running.
        self.stop.send_replace(());
    }
}

/// Serves `router` on `listener` until `stop` fires (or is dropped).
fn serve(
    listener: TcpListener,
    router: Router,
    stop: &watch::Sender<()>,
) -> JoinHandle<io::Result<()>> {
    let mut stopped = stop.subscribe();
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                // Either a stop signal or the sender going away ends the server.
                let _ = stopped.changed().await;
            })
            .await
    })
}

/// An address to connect to for a bound address: loopback for "any address".
fn reachable(bound: SocketAddr) -> SocketAddr {
    let ip = match bound.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, bound.port())
}

/// A host as it appears in a URL: IPv6 addresses get brackets.
fn url_host(host: &str) -> String {
    match host.parse::<Ipv6Addr>() {
        Ok(v6) => format!("[{v6}]"),
        Err(_) => host.to_owned(),
    }
}

/// Resolves on Ctrl-C (SIGINT) or, on Unix, SIGTERM: how a testkit binary is told to stop.
pub async fn interrupted_or_terminated() {
    let terminated = async {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            if let Ok(mut sigterm) = signal(SignalKind::terminate()) {
                sigterm.recv().await;
                return;
            }
        }
        std::future::pending::<()>().await;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminated => {}
    }
}
