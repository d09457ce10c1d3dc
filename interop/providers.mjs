// The providers of the interop matrix: how each is started on loopback, which client and user
// the CLI signs in with, what the configuration leads us to expect, and how the driver asks the
// provider itself about a token (introspection) for its provider-side checks.
import { cp, mkdir, readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, startService, waitForUrl } from './services.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const USER = 'ada';

/**
 * The matrix: one row per provider and configuration. `expect` says what the configuration
 * should show: whether refresh tokens rotate, the scopes the session should record, the
 * format of the access token (`opaque`: userinfo and introspection accept it; `jwt`: a JWT for
 * an API, checked the way that API would check it).
 */
export const MATRIX = [
  {
    provider: 'oidc-provider',
    config: 'opaque',
    about: 'opaque access tokens, refresh tokens rotated on every use',
    expect: { rotation: true, scopes: ['openid', 'email', 'offline_access'], accessToken: 'opaque' },
    start: (ctx) => startOidcProvider('opaque', ctx),
  },
  {
    provider: 'oidc-provider',
    config: 'no-rotation',
    about: 'opaque access tokens, refresh tokens never rotated',
    expect: { rotation: false, scopes: ['openid', 'email', 'offline_access'], accessToken: 'opaque' },
    start: (ctx) => startOidcProvider('no-rotation', ctx),
  },
  {
    provider: 'oidc-provider',
    config: 'jwt-resource',
    about: 'resource indicators (RFC 8707), JWT access tokens (RFC 9068) for an API: `"scope": ""`',
    expect: { rotation: true, scopes: [], accessToken: 'jwt' },
    start: (ctx) => startOidcProvider('jwt-resource', ctx),
  },
  {
    provider: 'oidc-provider',
    config: 'dpop-par',
    about: 'DPoP-bound tokens with server nonces (RFC 9449), pushed authorization requests required (RFC 9126); `keyfob login --dpop`',
    expect: { rotation: true, scopes: ['openid', 'email', 'offline_access'], accessToken: 'opaque', dpop: true, par: true },
    start: (ctx) => startOidcProvider('dpop-par', ctx),
  },
  {
    provider: 'Keycloak',
    config: 'rotation-reuse-detection',
    about: 'public client with PKCE S256 required, refresh tokens rotated with reuse detection',
    expect: { rotation: true, scopes: ['openid', 'email', 'profile'], accessToken: 'opaque' },
    start: startKeycloak,
  },
  {
    provider: 'Ory Hydra',
    config: 'opaque',
    about: 'opaque access tokens, PKCE enforced for public clients, login and consent app',
    expect: { rotation: true, scopes: ['openid', 'offline_access', 'email'], accessToken: 'opaque' },
    start: startHydra,
  },
];

/** POSTs a form to the provider's introspection endpoint; resolves with the JSON answer. */
async function introspect(endpoint, auth, token, hint) {
  const headers = { 'content-type': 'application/x-www-form-urlencoded' };
  if (auth) headers.authorization = `Basic ${Buffer.from(`${auth.client_id}:${auth.client_secret}`).toString('base64')}`;
  const response = await fetch(endpoint, {
    method: 'POST',
    headers,
    body: new URLSearchParams({ token, token_type_hint: hint }),
  });
  if (response.status !== 200) throw new Error(`introspection: HTTP ${response.status}`);
  return response.json();
}

async function discovery(issuer) {
  const response = await fetch(`${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`);
  if (response.status !== 200) throw new Error(`discovery: HTTP ${response.status}`);
  return response.json();
}

/** node oidc-provider, run by interop/oidc-provider/server.mjs in configuration `name`. */
async function startOidcProvider(name, { log }) {
  const pkg = JSON.parse(await readFile(join(here, 'node_modules/oidc-provider/package.json'), 'utf8'));
  const { ready } = await startService('oidc-provider', process.execPath, [join(here, 'oidc-provider/server.mjs'), name], {
    log,
    readyLine: true,
  });
  const meta = await discovery(ready.issuer);
  return {
    version: pkg.version,
    issuer: ready.issuer,
    clientId: ready.client_id,
    scopes: ['email', 'offline_access'],
    user: USER,
    password: 'any password (oidc-provider development interactions)',
    sub: USER,
    resource: ready.resource,
    introspectsRefreshTokens: true,
    introspect: (token, hint) => introspect(meta.introspection_endpoint, ready.checker, token, hint),
  };
}

/**
 * Keycloak (Quarkus distribution) in development mode with an in-memory database and the realm
 * of interop/keycloak/realm.json imported at start. KEYFOB_INTEROP_KEYCLOAK is its home.
 */
async function startKeycloak({ log, env }) {
  const home = env.KEYFOB_INTEROP_KEYCLOAK;
  const realm = JSON.parse(await readFile(join(here, 'keycloak/realm.json'), 'utf8'));
  await rm(join(home, 'data/import'), { recursive: true, force: true });
  await mkdir(join(home, 'data/import'), { recursive: true });
  await cp(join(here, 'keycloak/realm.json'), join(home, 'data/import/keyfob-realm.json'));
  const [port, managementPort] = [await freePort(), await freePort()];
  const { service } = await startService(
    'keycloak',
    join(home, 'bin/kc.sh'),
    [
      'start-dev',
      '--import-realm',
      '--db=dev-mem',
      '--http-host=127.0.0.1',
      `--http-port=${port}`,
      `--http-management-port=${managementPort}`,
      '--log-level=warn',
    ],
    // C1 only: Keycloak starts in about half the time on 2 busy cores (81 s -> 44 s measured).
    { log, env: { JAVA_HOME: env.JAVA_HOME, JAVA_OPTS_APPEND: '-XX:TieredStopAtLevel=1' } },
  );
  const issuer = `http://127.0.0.1:${port}/realms/${realm.realm}`;
  await waitForUrl(`${issuer}/.well-known/openid-configuration`, service, 240_000);
  const meta = await discovery(issuer);
  const checker = realm.clients.find((c) => c.clientId === 'interop-checker');
  const user = realm.users[0];
  const version = (await readFile(join(home, 'version.txt'), 'utf8')).match(/[0-9][0-9.]*/)[0];
  return {
    version,
    issuer,
    clientId: 'keyfob-cli',
    scopes: ['email'],
    user: user.username,
    password: user.credentials[0].value,
    // Keycloak's `sub` is the user's id, which it makes up at import: taken from the ID token.
    sub: null,
    // With refresh-token rotation on, Keycloak introspects no refresh token ("not eligible").
    introspectsRefreshTokens: false,
    introspect: (token, hint) =>
      introspect(meta.introspection_endpoint, { client_id: checker.clientId, client_secret: checker.secret }, token, hint),
  };
}

/**
 * Ory Hydra (built from the Go module proxy by the stage; KEYFOB_INTEROP_HYDRA is the binary),
 * in memory, with interop/hydra/login-consent.mjs as its login and consent app.
 */
async function startHydra({ log, env }) {
  const goMod = await readFile(join(here, 'hydra/go.mod'), 'utf8');
  const version = goMod.match(/github\.com\/ory\/hydra\/v2 v([^\s]+)/)[1];
  const [publicPort, adminPort] = [await freePort(), await freePort()];
  const admin = `http://127.0.0.1:${adminPort}`;
  const password = 'ada-interop-password';
  const { ready: app } = await startService(
    'hydra-login-consent',
    process.execPath,
    [join(here, 'hydra/login-consent.mjs'), admin, USER, password],
    { log, readyLine: true },
  );
  const issuer = `http://127.0.0.1:${publicPort}`;
  const { service } = await startService(
    'hydra',
    env.KEYFOB_INTEROP_HYDRA,
    ['serve', 'all', '--dev', '--sqa-opt-out', '--config', join(here, 'hydra/hydra.yml')],
    {
      log,
      env: {
        SERVE_PUBLIC_PORT: String(publicPort),
        SERVE_ADMIN_PORT: String(adminPort),
        URLS_SELF_ISSUER: issuer,
        URLS_LOGIN: `${app.url}/login`,
        URLS_CONSENT: `${app.url}/consent`,
      },
    },
  );
  await waitForUrl(`${admin}/health/ready`, service, 60_000);
  // The public port may open later than the admin port (and the first discovery request waits
  // for Hydra to generate its signing key).
  await waitForUrl(`${issuer}/.well-known/openid-configuration`, service, 60_000);
  const client = await fetch(`${admin}/admin/clients`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      client_id: 'keyfob-cli',
      client_name: 'Keyfob CLI',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      scope: 'openid offline_access email',
      redirect_uris: ['http://127.0.0.1/callback'],
    }),
  });
  if (client.status !== 201) throw new Error(`hydra: creating the client: HTTP ${client.status}`);
  const meta = await discovery(issuer);
  return {
    version,
    issuer: meta.issuer,
    clientId: 'keyfob-cli',
    scopes: ['email', 'offline_access'],
    user: USER,
    password,
    sub: USER,
    introspectsRefreshTokens: true,
    introspect: (token, hint) => introspect(`${admin}/admin/oauth2/introspect`, null, token, hint),
  };
}
