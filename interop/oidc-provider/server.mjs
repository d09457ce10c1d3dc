// node `oidc-provider` (OpenID Certified) on an ephemeral loopback port, in one of the
// configurations below. Prints one JSON line when ready:
//   {"issuer", "client_id", "checker": {"client_id", "client_secret"}, "resource"?}
// and runs until its stdin closes (the stage's driver holds it) or it gets SIGTERM.
//
// Usage: node server.mjs CONFIG
//
// Login and consent are the provider's own pages (its built-in interactions: any user name,
// any password). The user's `sub` is the login name.
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

/** The access tokens' lifetime: short, so the driver sees them expire. */
const ACCESS_TOKEN_TTL = 45;
/** The API that the `jwt-resource` configuration issues its access tokens for. */
const RESOURCE = 'urn:keyfob:interop:api';

/** Each configuration: what it changes from the provider's defaults. */
const CONFIGS = {
  // Opaque access tokens (userinfo and introspection accept them); refresh tokens rotate
  // on every use (the default for public clients).
  opaque: { rotateRefreshToken: true },
  // The same, but the refresh token is never rotated: the client must keep the one it has.
  'no-rotation': { rotateRefreshToken: false },
  // Resource indicators (RFC 8707) with a default resource and JWT access tokens (RFC 9068)
  // for it. None of the requested scopes applies to that API, so the token endpoint answers
  // `"scope": ""` (RFC 6749 §5.1: the granted scope may differ from the requested one).
  'jwt-resource': { rotateRefreshToken: true, resource: true },
  // Sender-constrained tokens (DPoP, RFC 9449, with server nonces) for a client that must use
  // them, and pushed authorization requests (RFC 9126) required of every client.
  'dpop-par': { rotateRefreshToken: true, dpop: true, par: true },
};

const name = process.argv[2];
const config = CONFIGS[name];
if (!config) {
  console.error(`usage: server.mjs ${Object.keys(CONFIGS).join('|')}`);
  process.exit(2);
}

const server = createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const { privateKey } = await generateKeyPair('RS256', { extractable: true });
const signingKey = { ...(await exportJWK(privateKey)), kid: 'interop-rs256', alg: 'RS256', use: 'sig' };
const checker = { client_id: 'interop-checker', client_secret: randomBytes(24).toString('base64url') };

const features = {
  devInteractions: { enabled: true },
  introspection: { enabled: true },
  revocation: { enabled: true },
  userinfo: { enabled: true },
};
if (config.dpop) {
  features.dPoP = { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => true };
}
if (config.par) {
  features.pushedAuthorizationRequests = { enabled: true, requirePushedAuthorizationRequests: true };
}
if (config.resource) {
  features.resourceIndicators = {
    enabled: true,
    defaultResource: () => RESOURCE,
    useGrantedResource: () => true,
    getResourceServerInfo: (ctx, resource) => {
      if (resource !== RESOURCE) throw new Error('unknown resource');
      return {
        scope: 'api:read',
        audience: RESOURCE,
        accessTokenTTL: ACCESS_TOKEN_TTL,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'RS256' } },
      };
    },
  };
}

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'keyfob-cli',
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      // RFC 8252 §7.3: any port on the loopback address.
      redirect_uris: ['http://127.0.0.1/callback'],
      // With DPoP on: the provider refuses this client's token requests without a proof.
      ...(config.dpop ? { dpop_bound_access_tokens: true } : {}),
    },
    // A confidential client for the driver's provider-side checks (introspection).
    { ...checker, grant_types: [], response_types: [], redirect_uris: [] },
  ],
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  claims: { openid: ['sub'], email: ['email', 'email_verified'] },
  findAccount: (ctx, sub) => ({
    accountId: sub,
    claims: () => ({ sub, email: `${sub}@example.test`, email_verified: true }),
  }),
  features,
  // Expired means expired: by default the provider accepts tokens 15 s past their `exp`.
  clockTolerance: 0,
  rotateRefreshToken: () => config.rotateRefreshToken,
  ttl: {
    AccessToken: ACCESS_TOKEN_TTL,
    IdToken: 600,
    RefreshToken: 3600,
    Grant: 3600,
    Session: 3600,
    Interaction: 600,
    AuthorizationCode: 60,
  },
});
// Silence the "use your own login UI / adapter" notices: this provider lives for one test run.
provider.on('server_error', (ctx, err) => console.error(`oidc-provider: ${err.stack}`));
server.on('request', provider.callback());

const ready = { issuer, client_id: 'keyfob-cli', checker };
if (config.resource) ready.resource = RESOURCE;
console.log(JSON.stringify(ready));

const stop = () => server.close(() => process.exit(0));
process.stdin.on('end', stop).resume();
process.on('SIGTERM', stop);
