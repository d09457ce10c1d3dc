//! One row's world: a testkit, a client on the spying transport and a faulty store, and the
//! app's moves (sign in, follow the browser, restart) that remember the secrets they see.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use keyfob::{Client, Config};

use crate::common::{Env, FaultyStorage, start};
use crate::spy::{Seen, Spy};

/// One row's world. Its methods are the app's moves; each remembers the secrets it sees.
pub(crate) struct Ctx {
    pub(crate) env: Env,
    config: Config,
    spy: Arc<Spy>,
    pub(crate) seen: Arc<Seen>,
    pub(crate) storage: Arc<FaultyStorage>,
    client: Mutex<Arc<Client>>,
    /// The store's contents when the row's step began (for [`Stored::Unchanged`]).
    pub(crate) before: Mutex<Option<Snapshot>>,
    /// Everything Keyfob printed for this row: errors' Display and Debug, tokens' Debug, …
    pub(crate) printed: Mutex<Vec<String>>,
    /// The error the row's step returned (for `check`s).
    pub(crate) last_error: Mutex<Option<keyfob::Error>>,
    /// A callback kept by a custom step for its follow-up.
    pub(crate) kept_callback: Mutex<Option<String>>,
}

/// What the store holds: the stored session and the stored pending login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Snapshot {
    pub(crate) session: Option<Vec<u8>>,
    pub(crate) pending: Option<Vec<u8>>,
}

impl Ctx {
    /// A fresh testkit and store, and a client whose HTTP calls time out after `timeout`.
    pub(crate) async fn new(timeout: Duration) -> Ctx {
        let env = start().await;
        let seen = Arc::new(Seen::default());
        let spy = Arc::new(Spy {
            inner: env.transport.clone(),
            seen: seen.clone(),
        });
        let storage = Arc::new(FaultyStorage {
            on_save: Some(Box::new({
                let seen = seen.clone();
                move |value: &[u8]| seen.add_json(value)
            })),
            ..FaultyStorage::default()
        });
        let config = env.config().http_timeout(timeout).build().unwrap();
        let client = Mutex::new(Arc::new(Self::new_client(&env, &config, &spy, &storage)));
        Ctx {
            env,
            config,
            spy,
            seen,
            storage,
            client,
            before: Mutex::new(None),
            printed: Mutex::new(Vec::new()),
            last_error: Mutex::new(None),
            kept_callback: Mutex::new(None),
        }
    }

    fn new_client(
        env: &Env,
        config: &Config,
        spy: &Arc<Spy>,
        storage: &Arc<FaultyStorage>,
    ) -> Client {
        Client::new(config.clone(), spy.clone())
            .with_clock(env.clock.clone())
            .with_storage(storage.clone())
    }

    /// The error the row's step returned, if it failed.
    pub(crate) fn last_error(&self) -> Option<keyfob::Error> {
        self.last_error.lock().unwrap().clone()
    }

    /// The client (the current app process).
    pub(crate) fn client(&self) -> Arc<Client> {
        self.client.lock().unwrap().clone()
    }

    /// The app is killed and started again: a new client on the same store.
    pub(crate) fn restart(&self) {
        let client = Self::new_client(&self.env, &self.config, &self.spy, &self.storage);
        *self.client.lock().unwrap() = Arc::new(client);
    }

    /// What the store holds now.
    pub(crate) fn snapshot(&self) -> Snapshot {
        Snapshot {
            session: self.storage.get("session"),
            pending: self.storage.get("pending"),
        }
    }

    /// Remembers the store's contents as "before the step".
    pub(crate) fn mark(&self) {
        *self.before.lock().unwrap() = Some(self.snapshot());
    }

    /// Keeps something Keyfob printed, for the leak check.
    pub(crate) fn print(&self, text: String) {
        self.printed.lock().unwrap().push(text);
    }

    /// Keeps an error's `Display` and `Debug`, for the leak check.
    pub(crate) fn print_error(&self, e: &keyfob::Error) {
        self.print(format!("{e}"));
        self.print(format!("{e:?}"));
    }

    /// `begin_login`, remembering the URL's secrets.
    pub(crate) async fn begin(&self) -> keyfob::Result<String> {
        let url = self.client().begin_login().await?;
        self.seen
            .add_url_params(&url, &["state", "nonce", "code_challenge"]);
        Ok(url)
    }

    /// The browser: follows the authorization URL to the deep link, remembering its code.
    pub(crate) async fn browse(&self, url: &str) -> String {
        let callback = self.env.browse(url).await;
        self.seen.add_url_params(&callback, &["code", "state"]);
        if let Some((_, fragment)) = callback.split_once('#') {
            for (name, value) in url::form_urlencoded::parse(fragment.as_bytes()) {
                if name == "code" || name == "state" {
                    self.seen.add(&value);
                }
            }
        }
        callback
    }

    /// A complete, successful sign-in.
    pub(crate) async fn login(&self) {
        let url = self.begin().await.expect("begin_login");
        let callback = self.browse(&url).await;
        self.client()
            .handle_redirect(&callback)
            .await
            .expect("the sign-in of the row's set-up");
    }
}
