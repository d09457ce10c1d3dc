// One provider configuration, end to end, through the real `keyfob` CLI and a real browser:
// login, status, the access token at the provider, silent refresh after expiry, refresh-token
// rotation and a replayed rotated-out token, a second login on the browser's SSO session, and
// logout with revocation checked at the provider. Each check is recorded with
// `check(name, ok, detail)`; none prints a token. A configuration with DPoP (`expect.dpop`) signs
// in with `keyfob login --dpop` and checks the binding at the provider; one that requires pushed
// authorization requests (`expect.par`) checks that the browser saw only `client_id` and
// `request_uri`.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { run, startBrowser } from './services.mjs';

/**
 * Runs the scenario against a started provider `p` (see providers.mjs) with the matrix row's
 * `expect`ations. `env` has KEYFOB_BIN and CHROMIUM; `facts` collects what the README table
 * shows about the configuration.
 */
export async function scenario(p, expect, { env, log, check, facts }) {
  const work = await mkdtemp(join(tmpdir(), 'keyfob-interop-'));
  const browser = await startBrowser(env.CHROMIUM, join(work, 'chromium'), log);
  try {
    const meta = await (await fetch(`${p.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`)).json();
    const jwks = createRemoteJWKSet(new URL(meta.jwks_uri));
    const keyfob = (...args) =>
      run(env.KEYFOB_BIN, [...args, '--issuer', p.issuer, '--client-id', p.clientId], {
        env: { KEYFOB_STORE: join(work, 'store') },
      });
    const status = async () => JSON.parse((await keyfob('status', '--json')).stdout);
    /**
     * The active account's stored tokens, as the app's secure storage holds them (the driver's
     * view only). The record (format 2) holds every account of the client and names the active one.
     */
    const stored = async () => {
      const record = JSON.parse(await readFile(join((await status()).store, 'session'), 'utf8'));
      const active = record.accounts.find((a) => a.claims.subject === record.active);
      if (!active) throw new Error(`no active account in the stored record (format ${record.format})`);
      return active;
    };
    const login = async (n) => {
      const report = join(work, `browser-${n}.json`);
      const hook = [process.execPath, join(import.meta.dirname, 'browser.mjs'), '--cdp', browser.cdpPort];
      hook.push('--report', report, '--user', p.user, '--password', p.password);
      const scopes = p.scopes.flatMap((s) => ['--scope', s]);
      const dpop = expect.dpop ? ['--dpop'] : [];
      const cli = await keyfob('login', ...scopes, ...dpop, '--timeout', '120', '--browser', hook.map(quote).join(' '));
      const seen = await waitForFile(report);
      return { cli, seen };
    };
    /**
     * Whether the provider still takes a refresh token: its introspection, or (when it will not
     * introspect refresh tokens) a refresh grant, used only after the logout, where an active
     * token can do no more harm.
     */
    const refreshTokenActive = async (token) => {
      if (p.introspectsRefreshTokens) return (await p.introspect(token, 'refresh_token')).active === true;
      return (await refreshGrant(meta.token_endpoint, p.clientId, token)) === 'ok';
    };
    /**
     * Whether the provider accepts an access token: userinfo, or as its API would (a JWT). A
     * DPoP-bound token is useless without a proof: the provider's introspection answers for it.
     */
    const accepted = async (token) => {
      if (expect.dpop) {
        const answer = await p.introspect(token, 'access_token');
        return answer.active ? answer.sub : null;
      }
      if (expect.accessToken === 'jwt') {
        const { payload } = await jwtVerify(token, jwks, { issuer: meta.issuer, audience: p.resource });
        return payload.sub;
      }
      const response = await fetch(meta.userinfo_endpoint, { headers: { authorization: `Bearer ${token}` } });
      return response.status === 200 ? (await response.json()).sub : null;
    };

    // 1. Sign in: the provider's login (and consent) pages in the browser, back on loopback.
    const first = await login(1);
    check('login through the browser', first.cli.code === 0 && first.seen.pages.includes('login') && !first.seen.error,
      first.cli.code === 0 ? `pages: ${first.seen.pages.join(', ')}` : failure(first.cli, first.seen));
    if (first.cli.code !== 0) return;
    const r = first.seen.request;
    const { nonce_sha256: sentNonce, ...shapes } = r;
    if (expect.par) {
      facts.par = 'pushed';
      check('authorization request pushed: the browser carries only client_id and request_uri',
        sameSet(r.params, ['client_id', 'request_uri']), `parameters: ${r.params.join(', ')}`);
    } else {
      check('authorization request: code, PKCE S256, state, nonce',
        r.response_type === 'code' && r.code_challenge_method === 'S256' && r.code_challenge && r.state && r.nonce,
        JSON.stringify(shapes));
    }
    facts.iss = meta.authorization_response_iss_parameter_supported ? 'advertised, sent' : 'not advertised';
    if (meta.authorization_response_iss_parameter_supported) {
      check('RFC 9207 iss on the redirect', first.seen.redirect?.iss === meta.issuer, `iss=${first.seen.redirect?.iss}`);
    } else if (first.seen.redirect?.iss) {
      facts.iss = 'not advertised, sent';
    }

    // 2. The session: ID token (checked again here against the provider's JWKS), sub, scopes.
    const session = await stored();
    const { payload: idToken, protectedHeader } = await jwtVerify(session.id_token, jwks, {
      issuer: meta.issuer,
      audience: p.clientId,
    }).catch((e) => ({ payload: {}, protectedHeader: { error: e.code } }));
    // A pushed request's nonce never reached the browser: the core's own check stands for it.
    const nonceMatches = expect.par || createHash('sha256').update(String(idToken.nonce)).digest('base64url') === sentNonce;
    check(expect.par ? 'ID token verifies with the provider JWKS' : 'ID token verifies with the provider JWKS, carries the nonce sent',
      !!idToken.sub && nonceMatches, `alg ${protectedHeader.alg ?? protectedHeader.error}`);
    const s1 = await status();
    const sub = p.sub ?? idToken.sub;
    check('status --json: signed in, right sub',
      s1.signed_in === true && s1.sub === sub && s1.sub === idToken.sub, `sub ${s1.sub}`);
    facts.scope = s1.scopes.length ? [...s1.scopes].sort().join(' ') : 'none granted (`"scope": ""`)';
    check('granted scopes recorded', sameSet(s1.scopes, expect.scopes), `scopes [${s1.scopes.join(' ')}]`);

    // 3. The access token at the provider, before it expires (no refresh on the way).
    const token1 = (await keyfob('token')).stdout.trim();
    const s2 = await status();
    const subAtProvider = await accepted(token1).catch(() => null);
    const introspected = expect.accessToken === 'opaque' ? await p.introspect(token1, 'access_token') : null;
    facts.accessToken = expect.accessToken === 'jwt' ? 'JWT for an API (RFC 9068)' : 'opaque';
    if (expect.dpop) {
      // Bound at the provider to the key of the CLI's store, and usable with a proof only.
      facts.accessToken = 'opaque, DPoP-bound (`cnf.jkt`)';
      check('tokens bound to the DPoP key: token_type DPoP, cnf.jkt at the provider',
        s1.token_type === 'DPoP' && typeof introspected?.cnf?.jkt === 'string',
        `token_type ${s1.token_type}; cnf.jkt ${introspected?.cnf?.jkt ? 'present' : 'absent'}`);
      const bearer = await fetch(meta.userinfo_endpoint, { headers: { authorization: `Bearer ${token1}` } });
      const call = await keyfob('call', meta.userinfo_endpoint);
      const body = call.code === 0 ? JSON.parse(call.stdout) : {};
      check('userinfo takes the token with a DPoP proof (one nonce retry), not as Bearer',
        bearer.status === 401 && call.code === 0 && body.sub === sub,
        `Bearer: HTTP ${bearer.status}; keyfob call: ${call.code === 0 ? 'ok' : failure(call)}`);
    }
    check('access token accepted by the provider',
      s2.expires_at === s1.expires_at && subAtProvider === sub
        && (!introspected || (introspected.active && introspected.sub === sub)),
      expect.accessToken === 'jwt' ? 'JWT verified as its API would (JWKS, iss, aud)'
        : expect.dpop ? 'introspection' : 'userinfo and introspection');

    // 4. Silent refresh once the access token has expired.
    const rt1 = (await stored()).refresh_token;
    facts.refreshToken = rt1 ? 'issued' : 'none';
    await sleep(Math.max(0, s2.expires_at * 1000 + 1500 - Date.now()));
    const expiredAtProvider = (await accepted(token1).catch(() => null)) === null;
    const tokenRun = await keyfob('token');
    const token2 = tokenRun.stdout.trim();
    const s3 = await status();
    check('silent refresh after expiry',
      tokenRun.code === 0 && expiredAtProvider && token2 !== token1 && s3.expires_at > s2.expires_at
        && (await accepted(token2).catch(() => null)) === sub,
      tokenRun.code === 0 ? `old token refused by the provider: ${expiredAtProvider}` : failure(tokenRun));

    // 5. Refresh-token rotation: a rotated token replaces the old one, which the provider
    //    retired, and the session goes on refreshing with the new one.
    const rt2 = (await stored()).refresh_token;
    const rotated = rt2 !== rt1;
    facts.rotation = rotated ? 'rotated' : 'kept';
    const oldActive = rotated && p.introspectsRefreshTokens ? (await p.introspect(rt1, 'refresh_token')).active : false;
    const again = await keyfob('refresh');
    check('refresh token rotation as configured',
      rotated === expect.rotation && !oldActive && again.code === 0,
      `${rotated ? 'rotated' : 'kept'}; next refresh: ${again.code === 0 ? 'ok' : failure(again)}`);

    // 5b. Reuse detection: someone replays the rotated-out token. The provider refuses it (and
    //     may end the grant); Keyfob then either goes on or ends cleanly in "sign in again".
    if (rotated) {
      const replay = await refreshGrant(meta.token_endpoint, p.clientId, rt1);
      const next = await keyfob('refresh');
      const after = await status();
      facts.reuse = next.code === 0 ? 'refused' : 'refused, grant ended';
      // A DPoP-bound one is refused for want of a proof before anything else is looked at.
      const refused = expect.dpop ? replay !== 'ok' : replay === 'invalid_grant';
      check('replayed refresh token refused, then Keyfob goes on or asks to sign in again',
        refused && (next.code === 0 ? after.signed_in : next.code === 3 && after.signed_in === false),
        `replay: ${replay}; next refresh: ${next.code === 0 ? 'ok' : failure(next)}`);
    }

    // 6. A second login in the same browser: the provider's SSO session, no password asked.
    //    (Before the logout: revoking a refresh token ends Keycloak's SSO session.)
    const second = await login(2);
    const s5 = await status();
    facts.sso = second.seen.pages.includes('login') ? 'login asked again' : 'reused';
    check('second login reuses the browser SSO session',
      second.cli.code === 0 && !second.seen.pages.includes('login') && s5.sub === sub,
      second.cli.code === 0 ? `pages: ${second.seen.pages.join(', ') || 'none'}` : failure(second.cli, second.seen));

    // 7. Logout revokes the refresh token at the provider (the second login's).
    const rt3 = (await stored()).refresh_token;
    const out = await keyfob('logout');
    const s6 = await status();
    const afterLogout = await refreshTokenActive(rt3);
    check('logout revokes the refresh token (checked at the provider)',
      out.code === 0 && s6.signed_in === false && afterLogout === false,
      `${p.introspectsRefreshTokens ? 'introspection' : 'refresh grant'}: ${afterLogout ? 'still active' : 'revoked'}`);
  } finally {
    await browser.service.stop();
    // Chromium's helper processes may still be writing its profile for a moment after the
    // browser stopped: rm retries on ENOTEMPTY/EBUSY (up to 10 × 100 ms, linear backoff).
    await rm(work, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  }
}

/** A `refresh_token` grant straight at the provider: "ok" or the OAuth error code. */
async function refreshGrant(endpoint, clientId, refreshToken) {
  const response = await fetch(endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: clientId }),
  });
  return response.status === 200 ? 'ok' : ((await response.json().catch(() => ({}))).error ?? `HTTP ${response.status}`);
}

async function waitForFile(path, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return JSON.parse(await readFile(path, 'utf8'));
    } catch (e) {
      if (Date.now() > deadline) return { pages: [], error: `no browser report: ${e.message}` };
      await sleep(100);
    }
  }
}

/** The CLI's error line and what the browser saw, for a failed step. */
function failure(cli, seen) {
  const line = cli.stderr.split('\n').find((l) => l.startsWith('error:')) ?? `exit ${cli.code}`;
  return seen?.error ? `${line}; browser: ${seen.error}` : line;
}

function sameSet(a, b) {
  return a.length === b.length && a.every((x) => b.includes(x));
}

/** Quotes a word for `--browser CMD`, which keyfob splits like a shell would. */
function quote(word) {
  return `'${String(word).replaceAll("'", "'\\''")}'`;
}
