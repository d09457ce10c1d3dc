//! The demo's steps, one method of [`Ctx`] each (numbered as in [`STEP_NAMES`]), and the
//! requests they make as the app would.

use super::*;

impl Ctx {
    /// Step 0: the transport (first: it installs the rustls crypto provider), the testkit and
    /// the client.
    pub(super) async fn start(opts: &DemoOptions) -> Result<(Ctx, Outcome), String> {
        let transport = Arc::new(
            ReqwestTransport::new().map_err(|e| format!("cannot build the transport: {e:?}"))?,
        );
        let kit = Testkit::start(keyfob_testkit::Options {
            access_token_ttl: opts.access_token_ttl,
            ..Default::default()
        })
        .await
        .map_err(|e| format!("cannot start the testkit: {e}"))?;
        let config = Config::builder(kit.issuer(), kit.client_id(), REDIRECT_URI)
            .scopes(["email", "offline_access"])
            .refresh_margin(Duration::ZERO)
            .build()
            .map_err(|e| format!("invalid configuration: {e}"))?;
        let client = Client::new(config, transport.clone());
        let urls = kit.urls().clone();
        let outcome = Outcome {
            summary: format!(
                "provider {}, server A (crm) {}, server B (orders) {}, client_id {}, access tokens live {} s",
                urls.issuer,
                urls.crm,
                urls.orders,
                kit.client_id(),
                opts.access_token_ttl
            ),
            details: json!({
                "issuer": urls.issuer,
                "crm": urls.crm,
                "orders": urls.orders,
                "client_id": kit.client_id(),
                "access_token_ttl": opts.access_token_ttl,
            }),
        };
        Ok((
            Ctx {
                kit,
                transport,
                client,
                seen: Seen::default(),
                authorization_url: None,
                callback: None,
                first_access_token: None,
            },
            outcome,
        ))
    }

    /// Stops the servers; the client and its pooled connections go first.
    pub(super) async fn stop(self) {
        let Ctx {
            kit,
            transport,
            client,
            ..
        } = self;
        drop(client);
        drop(transport);
        kit.shutdown().await;
    }

    /// Runs step `n` (1 to [`LAST_STEP`]).
    pub(super) async fn step(&mut self, n: u8) -> Result<Outcome, String> {
        match n {
            1 => self.discovery().await,
            2 => self.authorization_url(),
            3 => self.browser().await,
            4 => self.handle_redirect().await,
            5 => self.call_servers().await,
            6 => self.expire_and_refresh().await,
            7 => self.exchange().await,
            8 => self.logout().await,
            _ => Err(format!("there is no step {n}")),
        }
    }

    /// Step 1: `begin_login` fetches discovery and the JWKS while the browser would open.
    async fn discovery(&mut self) -> Result<Outcome, String> {
        let url = self
            .client
            .begin_login()
            .await
            .map_err(|e| format!("begin_login: {e}"))?;
        self.seen.add(&url);
        let parsed = Url::parse(&url).map_err(|e| format!("authorization URL: {e}"))?;
        for (name, value) in parsed.query_pairs() {
            if matches!(name.as_ref(), "state" | "nonce" | "code_challenge") {
                self.seen.add(&value);
            }
        }
        self.authorization_url = Some(url);

        let stats = self.kit.stats();
        expect_eq("discovery requests", stats.discovery, 1)?;
        expect_eq("JWKS requests", stats.jwks, 1)?;
        let metadata = self
            .client
            .provider_metadata()
            .await
            .map_err(|e| format!("provider metadata: {e}"))?;
        expect_eq(
            "discovery requests after provider_metadata() (cached)",
            self.kit.stats().discovery,
            1,
        )?;
        Ok(Outcome {
            summary: format!(
                "discovery=1 jwks=1 (prefetched by begin_login); issuer {}, token endpoint {}, jwks_uri {}",
                metadata.issuer, metadata.token_endpoint, metadata.jwks_uri
            ),
            details: json!({
                "stats": {"discovery": stats.discovery, "jwks": stats.jwks},
                "issuer": metadata.issuer,
                "authorization_endpoint": metadata.authorization_endpoint.as_str(),
                "token_endpoint": metadata.token_endpoint.as_str(),
                "jwks_uri": metadata.jwks_uri.as_str(),
                "revocation_endpoint": metadata.revocation_endpoint.as_ref().map(Url::as_str),
                "end_session_endpoint": metadata.end_session_endpoint.as_ref().map(Url::as_str),
            }),
        })
    }

    /// Step 2: the authorization URL carries PKCE S256, `state` and `nonce`.
    fn authorization_url(&mut self) -> Result<Outcome, String> {
        let url = self
            .authorization_url
            .as_deref()
            .ok_or("no authorization URL")?;
        let url = Url::parse(url).map_err(|e| format!("authorization URL: {e}"))?;
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let names: Vec<&str> = pairs.iter().map(|(n, _)| n.as_str()).collect();
        let value = |name: &str| -> Result<&str, String> {
            match pairs.iter().filter(|(n, _)| n == name).count() {
                1 => Ok(pairs
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.as_str())
                    .unwrap_or_default()),
                0 => Err(format!("the authorization URL has no `{name}`")),
                _ => Err(format!("the authorization URL repeats `{name}`")),
            }
        };
        expect_str("response_type", value("response_type")?, "code")?;
        expect_str(
            "code_challenge_method",
            value("code_challenge_method")?,
            "S256",
        )?;
        expect_str("client_id", value("client_id")?, self.kit.client_id())?;
        expect_str("redirect_uri", value("redirect_uri")?, REDIRECT_URI)?;
        let challenge = value("code_challenge")?;
        if challenge.len() != 43 {
            return Err(format!(
                "code_challenge has {} characters, not 43 (base64url SHA-256)",
                challenge.len()
            ));
        }
        for name in ["state", "nonce"] {
            if value(name)?.len() < 16 {
                return Err(format!("`{name}` is too short to be unguessable"));
            }
        }
        let scope = value("scope")?;
        if !scope.split(' ').any(|s| s == "openid") {
            return Err("scope lacks openid".into());
        }
        let mut endpoint = url.clone();
        endpoint.set_query(None);
        let shown: Vec<String> = names
            .iter()
            .map(|&name| match name {
                "code_challenge_method" => "code_challenge_method=S256".to_owned(),
                other => other.to_owned(),
            })
            .collect();
        Ok(Outcome {
            summary: format!("{endpoint} with {}", shown.join(", ")),
            details: json!({
                "endpoint": endpoint.as_str(),
                "parameters": names,
                "code_challenge_method": "S256",
                "scope": scope,
            }),
        })
    }

    /// Step 3: the "browser" GETs the authorization URL and reads the `302`'s `Location`, the
    /// deep link the OS would hand to the app.
    async fn browser(&mut self) -> Result<Outcome, String> {
        let url = self
            .authorization_url
            .clone()
            .ok_or("no authorization URL")?;
        let expected_state = Url::parse(&url)
            .ok()
            .and_then(|u| query_param(&u, "state"))
            .ok_or("no state in the authorization URL")?;
        let response = self
            .get(&url, None, &[("accept", "text/html")])
            .await
            .map_err(|e| format!("GET authorization URL: {e}"))?;
        if response.status != 302 {
            return Err(format!(
                "the authorization endpoint answered {} instead of 302",
                response.status
            ));
        }
        let location = response
            .header("location")
            .ok_or("the 302 has no Location header")?
            .to_owned();
        self.seen.add(&location);
        let callback = Url::parse(&location).map_err(|e| format!("Location: {e}"))?;
        for (name, value) in callback.query_pairs() {
            if name != "iss" {
                self.seen.add(&value);
            }
        }
        let redacted = redact_callback(&callback);
        if !location.starts_with(&format!("{REDIRECT_URI}?")) {
            return Err(format!("redirected to {redacted}, not to {REDIRECT_URI}"));
        }
        if let Some(error) = query_param(&callback, "error") {
            return Err(format!("the provider answered error={error}"));
        }
        if query_param(&callback, "code").is_none_or(|c| c.is_empty()) {
            return Err("the callback has no code".into());
        }
        if query_param(&callback, "state").as_deref() != Some(expected_state.as_str()) {
            return Err("the callback's state is not the one sent".into());
        }
        expect_str(
            "callback iss",
            query_param(&callback, "iss").as_deref().unwrap_or(""),
            self.kit.issuer(),
        )?;
        expect_eq("authorize requests", self.kit.stats().authorize, 1)?;
        self.callback = Some(location);
        let mut endpoint = Url::parse(&url).map_err(|e| e.to_string())?;
        endpoint.set_query(None);
        Ok(Outcome {
            summary: format!("GET {endpoint} -> 302, Location: {redacted}"),
            details: json!({
                "request": format!("GET {endpoint}"),
                "status": response.status,
                "location": redacted,
            }),
        })
    }

    /// Step 4: the app hands the deep link to the client: code exchange, ID token validation.
    async fn handle_redirect(&mut self) -> Result<Outcome, String> {
        let callback = self.callback.clone().ok_or("no callback")?;
        let before = self.kit.stats();
        let claims = self
            .client
            .handle_redirect(&callback)
            .await
            .map_err(|e| format!("handle_redirect: {e} ({:?})", e.kind()))?;
        let after = self.kit.stats();
        let tokens = self
            .client
            .tokens()
            .ok_or("no session after handle_redirect")?;
        self.seen.add(tokens.access_token().expose());
        self.seen.add(tokens.id_token().expose());
        let refresh = tokens
            .refresh_token()
            .ok_or("no refresh token (offline_access was requested)")?;
        self.seen.add(refresh.expose());

        expect_eq(
            "provider requests after the callback",
            provider_requests(&after) - provider_requests(&before),
            1,
        )?;
        expect_eq(
            "authorization_code grants",
            after.authorization_code - before.authorization_code,
            1,
        )?;

        let id_shape = TokenShape::of(tokens.id_token().expose());
        let id = id_shape.jwt.as_ref().ok_or("the ID token is not a JWT")?;
        expect_str(
            "ID token sub",
            id.sub.as_deref().unwrap_or(""),
            &claims.subject,
        )?;
        expect_str(
            "ID token iss",
            id.iss.as_deref().unwrap_or(""),
            self.kit.issuer(),
        )?;
        if !id.aud.iter().any(|a| a == self.kit.client_id()) {
            return Err("the ID token's aud does not include the client".into());
        }
        let access_shape = TokenShape::of(tokens.access_token().expose());
        let refresh_shape = TokenShape::of(refresh.expose());
        let now = unix_now();
        Ok(Outcome {
            summary: format!(
                "1 provider request after the callback (token, authorization_code); ID token {}, {} ({}); access token {}, {}; refresh token {} bytes",
                id.alg.as_deref().unwrap_or("-"),
                id.kid
                    .as_deref()
                    .map_or_else(|| "no kid".to_owned(), |k| format!("kid {k}")),
                jwt_claims_summary(&id_shape, now),
                access_shape
                    .jwt
                    .as_ref()
                    .and_then(|j| j.alg.as_deref())
                    .unwrap_or("opaque"),
                jwt_claims_summary(&access_shape, now),
                refresh_shape.len,
            ),
            details: json!({
                "provider_requests_after_callback": provider_requests(&after) - provider_requests(&before),
                "stats": {"token": after.token, "authorization_code": after.authorization_code},
                "id_token": id_shape,
                "access_token": access_shape,
                "refresh_token": refresh_shape,
                "user": {"sub": claims.subject, "email": claims.email, "name": claims.name},
            }),
        })
    }

    /// Step 5: servers A and B accept `Authorization: Bearer` with the access token.
    async fn call_servers(&mut self) -> Result<Outcome, String> {
        let token = self
            .client
            .access_token()
            .await
            .map_err(|e| format!("access_token: {e}"))?;
        self.seen.add(token.expose());
        let sub = self
            .client
            .tokens()
            .map(|t| t.claims().subject.clone())
            .ok_or("not signed in")?;
        let crm = self.call(Server::Crm, Some(&token), &sub).await?;
        let orders = self.call(Server::Orders, Some(&token), &sub).await?;
        expect_eq("refresh_token grants", self.kit.stats().refresh_token, 0)?;
        self.first_access_token = Some(token);
        Ok(Outcome {
            summary: format!("{}; {}", crm.summary, orders.summary),
            details: json!({"crm": crm.details, "orders": orders.details}),
        })
    }

    /// Step 6: the access token expires; server A refuses it; `access_token()` refreshes.
    async fn expire_and_refresh(&mut self) -> Result<Outcome, String> {
        let old_token = self.first_access_token.clone().ok_or("no access token")?;
        let tokens = self.client.tokens().ok_or("not signed in")?;
        let jwt_exp = TokenShape::of(old_token.expose()).jwt.and_then(|j| j.exp);
        // Both the client's expiry and the token's own `exp` must have passed.
        let deadline = tokens
            .expires_at()
            .into_iter()
            .chain(jwt_exp)
            .max()
            .ok_or("the access token has no known expiry")?;
        let wait_ms = (deadline.saturating_mul(1000) - unix_now_ms()).max(0) + EXPIRY_MARGIN_MS;
        tokio::time::sleep(Duration::from_millis(wait_ms.unsigned_abs())).await;

        let (status, challenge) = self.call_status(Server::Crm, Some(&old_token)).await?;
        if status != 401 {
            return Err(format!(
                "server A answered {status} to the expired token, not 401"
            ));
        }

        let refreshes_before = self.kit.stats().refresh_token;
        expect_eq("refresh_token grants before refresh", refreshes_before, 0)?;
        let old_refresh = tokens
            .refresh_token()
            .ok_or("no refresh token before refresh")?
            .clone();
        let fresh = self
            .client
            .access_token()
            .await
            .map_err(|e| format!("access_token (refresh): {e} ({:?})", e.kind()))?;
        self.seen.add(fresh.expose());
        let refreshes_after = self.kit.stats().refresh_token;
        expect_eq("refresh_token grants after refresh", refreshes_after, 1)?;
        if fresh == old_token {
            return Err("access_token() returned the expired token".into());
        }
        let now_tokens = self.client.tokens().ok_or("not signed in after refresh")?;
        self.seen.add(now_tokens.id_token().expose());
        let new_refresh = now_tokens
            .refresh_token()
            .ok_or("the refresh token was lost")?;
        self.seen.add(new_refresh.expose());
        let rotated = *new_refresh != old_refresh;
        if !rotated {
            return Err("the refresh token was not rotated".into());
        }

        let sub = now_tokens.claims().subject.clone();
        let crm = self.call(Server::Crm, Some(&fresh), &sub).await?;
        let orders = self.call(Server::Orders, Some(&fresh), &sub).await?;
        let again = self
            .client
            .access_token()
            .await
            .map_err(|e| format!("access_token: {e}"))?;
        if again != fresh || self.kit.stats().refresh_token != 1 {
            return Err("a fresh access token was refreshed again".into());
        }
        let fresh_shape = TokenShape::of(fresh.expose());
        Ok(Outcome {
            summary: format!(
                "waited {} ms; server A: 401 for the old token{}; access_token() refreshed silently (refresh_token grants 0 -> 1, refresh token rotated, new access token {}); {}; {}",
                wait_ms,
                challenge
                    .as_deref()
                    .map(|c| format!(" ({c})"))
                    .unwrap_or_default(),
                jwt_claims_summary(&fresh_shape, unix_now()),
                crm.summary,
                orders.summary
            ),
            details: json!({
                "waited_ms": wait_ms,
                "old_token": {"crm_status": status, "error": challenge},
                "refresh_token_grants": {"before": refreshes_before, "after": refreshes_after},
                "refresh_token_rotated": rotated,
                "access_token": fresh_shape,
                "crm": crm.details,
                "orders": orders.details,
            }),
        })
    }

    /// Step 7 (seed 003): the app hands the provider's ID token to its own authorization
    /// server, which checks it against the provider's JWKS, looks the user's permissions up and
    /// issues the app's access token (RFC 8693); servers A and B accept it.
    async fn exchange(&mut self) -> Result<Outcome, String> {
        let internal = self.kit.urls().internal.clone();
        let session = self.client.tokens().ok_or("not signed in")?;
        let before = self.kit.stats();
        let request = TokenExchange::new(internal.clone(), self.kit.client_id());
        let exchanged = self
            .client
            .exchange(&request)
            .await
            .map_err(|e| format!("exchange: {e} ({:?})", e.kind()))?;
        let token = exchanged.access_token().clone();
        self.seen.add(token.expose());
        let after = self.kit.stats();
        expect_eq(
            "token exchanges",
            after.token_exchange - before.token_exchange,
            1,
        )?;
        expect_eq(
            "provider requests",
            provider_requests(&after) - provider_requests(&before),
            0,
        )?;
        let shape = TokenShape::of(token.expose());
        let jwt = shape
            .jwt
            .as_ref()
            .ok_or("the exchanged token is not a JWT")?;
        expect_str(
            "exchanged token iss",
            jwt.iss.as_deref().unwrap_or(""),
            &internal,
        )?;
        let sub = session.claims().subject.clone();
        expect_str(
            "exchanged token sub",
            jwt.sub.as_deref().unwrap_or(""),
            &sub,
        )?;
        if self.client.tokens().as_ref() != Some(&session) {
            return Err("the exchange changed the first session".into());
        }
        let crm = self.call(Server::Crm, Some(&token), &sub).await?;
        let orders = self.call(Server::Orders, Some(&token), &sub).await?;
        let scopes = exchanged.scopes().join(" ");
        Ok(Outcome {
            summary: format!(
                "ID token sent to the internal server {internal} (subject_token_type id_token): it checked it with the provider's JWKS and issued its own access token ({}; scope {scopes}); {}; {}",
                jwt_claims_summary(&shape, unix_now()),
                crm.summary,
                orders.summary
            ),
            details: json!({
                "internal_issuer": internal,
                "stats": {"token_exchange": after.token_exchange - before.token_exchange},
                "issued_token_type": exchanged.issued_token_type(),
                "scopes": exchanged.scopes(),
                "access_token": shape,
                "crm": crm.details,
                "orders": orders.details,
            }),
        })
    }

    /// Step 8: logout revokes the refresh token and clears the session.
    async fn logout(&mut self) -> Result<Outcome, String> {
        // Kept in memory only, to show that the provider no longer accepts it.
        let revoked = self
            .client
            .tokens()
            .and_then(|t| t.refresh_token().cloned())
            .ok_or("no refresh token before logout")?;
        let revocations_before = self.kit.stats().revoke;
        let logout = self
            .client
            .logout()
            .await
            .map_err(|e| format!("logout: {e}"))?;
        if let Some(url) = &logout.end_session_url {
            self.seen.add(url.expose());
        }
        if let Some(e) = &logout.revocation_error {
            return Err(format!("revocation failed: {e}"));
        }
        let revocations = self.kit.stats().revoke - revocations_before;
        expect_eq("revocation requests", revocations, 1)?;
        if self.client.tokens().is_some() {
            return Err("tokens() still returns a session".into());
        }
        match self.client.access_token().await {
            Err(e) if e.kind() == ErrorKind::NotSignedIn => {}
            Err(e) => {
                return Err(format!(
                    "access_token() failed with {:?}, not NotSignedIn",
                    e.kind()
                ));
            }
            Ok(_) => return Err("access_token() still returns a token".into()),
        }
        let (status, _) = self.call_status(Server::Crm, None).await?;
        if status != 401 {
            return Err(format!(
                "server A answered {status} without a token, not 401"
            ));
        }

        let (grant_status, grant_error) = self.refresh_grant(&revoked).await?;
        if (grant_status, grant_error.as_deref()) != (400, Some("invalid_grant")) {
            return Err(format!(
                "the revoked refresh token got {grant_status} {}, not 400 invalid_grant",
                grant_error.as_deref().unwrap_or("(no error code)")
            ));
        }
        let end_session = logout.end_session_url.as_ref().and_then(|u| {
            let mut url = Url::parse(u.expose()).ok()?;
            url.set_query(None);
            Some(url.to_string())
        });
        Ok(Outcome {
            summary: format!(
                "refresh token revoked (revoke=1); session cleared (tokens() = None, access_token() -> NotSignedIn); server A without a token: 401; old refresh token: 400 invalid_grant{}",
                end_session
                    .as_deref()
                    .map(|u| format!("; end-session URL offered: {u}?id_token_hint=[redacted]&…"))
                    .unwrap_or_default()
            ),
            details: json!({
                "stats": {"revoke": revocations},
                "signed_in": false,
                "access_token_error": "NotSignedIn",
                "crm_without_token": status,
                "old_refresh_token": {"status": grant_status, "error": grant_error},
                "end_session_endpoint": end_session,
            }),
        })
    }

    /// GET through the client's transport, as any app or browser request.
    async fn get(
        &self,
        url: &str,
        bearer: Option<&SecretString>,
        headers: &[(&str, &str)],
    ) -> Result<HttpResponse, String> {
        let mut all: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        if let Some(token) = bearer {
            all.push(("authorization".into(), format!("Bearer {}", token.expose())));
        }
        self.send(HttpMethod::Get, url, all, Vec::new()).await
    }

    async fn send(
        &self,
        method: HttpMethod,
        url: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<HttpResponse, String> {
        let request = HttpRequest {
            method,
            url: url.to_owned(),
            headers,
            body,
            timeout: HTTP_TIMEOUT,
            max_response_bytes: MAX_BODY,
        };
        self.transport
            .send(request)
            .await
            .map_err(|e| format!("{:?}: {}", e.kind, e.message))
    }

    /// Calls server A or B and returns the status and the `error_description` of a refusal.
    async fn call_status(
        &self,
        server: Server,
        bearer: Option<&SecretString>,
    ) -> Result<(u16, Option<String>), String> {
        let response = self
            .get(
                &server.url(&self.kit),
                bearer,
                &[("accept", "application/json")],
            )
            .await
            .map_err(|e| format!("{}: {e}", server.label()))?;
        let challenge = response
            .header("www-authenticate")
            .and_then(|h| auth_param(h, "error_description").or_else(|| auth_param(h, "error")));
        Ok((response.status, challenge))
    }

    /// Calls server A or B, which must answer 200 with `sub` and its list of rows.
    async fn call(
        &self,
        server: Server,
        bearer: Option<&SecretString>,
        sub: &str,
    ) -> Result<Outcome, String> {
        let response = self
            .get(
                &server.url(&self.kit),
                bearer,
                &[("accept", "application/json")],
            )
            .await
            .map_err(|e| format!("{}: {e}", server.label()))?;
        if response.status != 200 {
            return Err(format!(
                "{} answered {}, not 200",
                server.label(),
                response.status
            ));
        }
        let body: Value = serde_json::from_slice(&response.body)
            .map_err(|_| format!("{} answered something that is not JSON", server.label()))?;
        let (name, collection) = server.api();
        expect_str("server", body["server"].as_str().unwrap_or(""), name)?;
        expect_str("sub", body["sub"].as_str().unwrap_or(""), sub)?;
        let rows = body[collection]
            .as_array()
            .ok_or_else(|| format!("{} sent no {collection}", server.label()))?;
        let ids: Vec<&str> = rows.iter().filter_map(|r| r["id"].as_str()).collect();
        Ok(Outcome {
            summary: format!(
                "{} 200: {} {collection} for {sub} ({})",
                server.label(),
                rows.len(),
                ids.join(", ")
            ),
            details: json!({"status": 200, "server": name, "sub": sub, collection: ids}),
        })
    }

    /// POSTs the refresh_token grant to the token endpoint; returns the status and OAuth error.
    async fn refresh_grant(
        &self,
        refresh_token: &SecretString,
    ) -> Result<(u16, Option<String>), String> {
        let metadata = self
            .client
            .provider_metadata()
            .await
            .map_err(|e| format!("provider metadata: {e}"))?;
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "refresh_token")
            .append_pair("refresh_token", refresh_token.expose())
            .append_pair("client_id", self.kit.client_id())
            .finish()
            .into_bytes();
        let headers = vec![
            (
                "content-type".to_owned(),
                "application/x-www-form-urlencoded".to_owned(),
            ),
            ("accept".to_owned(), "application/json".to_owned()),
        ];
        let response = self
            .send(
                HttpMethod::Post,
                metadata.token_endpoint.as_str(),
                headers,
                body,
            )
            .await
            .map_err(|e| format!("token endpoint: {e}"))?;
        let error = serde_json::from_slice::<Value>(&response.body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned));
        Ok((response.status, error))
    }
}
