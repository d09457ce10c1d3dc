// The "user at the browser" of the interop stage: `keyfob login --browser CMD` starts this
// script with the authorization URL as its last argument. It opens the URL in a new tab of the
// headless Chromium that the driver keeps running for the provider (so the provider's SSO
// cookies live as long as that browser, as in a real one), fills the provider's login page and
// accepts its consent page, and stops when the browser reaches the loopback redirect.
//
// Usage: node browser.mjs --cdp PORT --report FILE --user NAME --password PW URL
//
// It writes FILE (JSON) when done: the pages it filled ("login", "consent") and what the
// authorization request and the redirect carried (shapes and checks, never a code or a token).
// Nothing is printed: keyfob closes our standard streams.
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const { values: opts, positionals } = parseArgs({
  options: {
    cdp: { type: 'string' },
    report: { type: 'string' },
    user: { type: 'string' },
    password: { type: 'string' },
  },
  allowPositionals: true,
});
const authorizationUrl = new URL(positionals.at(-1));
// A pushed request (RFC 9126) names its redirect URI only to the provider: then the loopback
// redirect is the first page on another host whose path is the CLI's `/callback`.
const redirectUri = authorizationUrl.searchParams.get('redirect_uri');
const redirected = (url) => {
  if (redirectUri) return url.startsWith(redirectUri);
  const u = new URL(url);
  return u.host !== authorizationUrl.host && u.pathname === '/callback';
};
const report = { pages: [], request: describeRequest(authorizationUrl) };
/** How many provider pages to go through before giving up (login, consent, an error page…). */
const MAX_PAGES = 6;
const STEP_TIMEOUT_MS = 30_000;

const browser = await chromium.connectOverCDP(`http://127.0.0.1:${opts.cdp}`);
try {
  const page = await browser.contexts()[0].newPage();
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  await page.goto(authorizationUrl.href, { waitUntil: 'load' });
  while (!redirected(page.url())) {
    if (report.pages.length >= MAX_PAGES) throw new Error(`stuck at ${where(page.url())}`);
    const loaded = page.waitForEvent('load');
    const password = page.locator('input[type=password]');
    if ((await password.count()) > 0) {
      report.pages.push('login');
      await page
        .locator('input[name=username], input[name=login], input[type=email], input[type=text]')
        .first()
        .fill(opts.user);
      await password.first().fill(opts.password);
      await password.first().press('Enter');
    } else {
      report.pages.push('consent');
      await page.locator('button[type=submit], input[type=submit]').first().click();
    }
    await loaded;
  }
  report.redirect = describeRedirect(new URL(page.url()));
  await page.close();
} catch (e) {
  report.error = String(e.message ?? e).split('\n')[0];
} finally {
  writeFileSync(opts.report, JSON.stringify(report));
  // Disconnects; the browser (and its cookies) stays up for the next login.
  await browser.close();
}

/** What the authorization request carried: parameters and their shapes, no secret values. */
function describeRequest(url) {
  const p = url.searchParams;
  return {
    response_type: p.get('response_type'),
    code_challenge_method: p.get('code_challenge_method'),
    code_challenge: /^[A-Za-z0-9_-]{43}$/.test(p.get('code_challenge') ?? ''),
    state: (p.get('state') ?? '').length >= 16,
    nonce: (p.get('nonce') ?? '').length >= 16,
    // To compare with the ID token's `nonce` without keeping the value.
    nonce_sha256: createHash('sha256').update(p.get('nonce') ?? '').digest('base64url'),
    prompt: p.get('prompt'),
    scope: p.get('scope'),
    // Every parameter's name: a pushed request carries only `client_id` and `request_uri`.
    params: [...p.keys()],
  };
}

/** What the redirect to the CLI carried: which parameters, and `iss` (a URL, not a secret). */
function describeRedirect(url) {
  return { params: [...url.searchParams.keys()].sort(), iss: url.searchParams.get('iss') };
}

/** A page's origin and path only: query strings carry codes and challenges. */
function where(href) {
  const url = new URL(href);
  return url.origin + url.pathname;
}
