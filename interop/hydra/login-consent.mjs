// The login and consent app that Ory Hydra delegates to (Hydra has no user database or login
// page of its own): a form for user name and password, and an "Allow" page, each accepting the
// request through Hydra's admin API. Both remember the decision for an hour, so Hydra can skip
// the login on the next authorization request (its SSO session); this app then accepts the
// skipped login without showing the form.
//
// Usage: node login-consent.mjs ADMIN_URL USER PASSWORD
// Prints {"url": "http://127.0.0.1:PORT"} when ready (Hydra's urls.login is URL/login and
// urls.consent URL/consent); runs until its stdin closes or it gets SIGTERM.
import { createServer } from 'node:http';

const [admin, user, password] = process.argv.slice(2);
const REMEMBER_FOR = 3600;

/** Calls Hydra's admin API for one login or consent request. */
async function hydra(method, flow, action, challenge, body) {
  const url = new URL(`${admin}/admin/oauth2/auth/requests/${flow}${action ? `/${action}` : ''}`);
  url.searchParams.set(`${flow}_challenge`, challenge);
  const response = await fetch(url, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!response.ok) throw new Error(`hydra ${flow} ${action ?? 'get'}: HTTP ${response.status}`);
  return response.json();
}

async function acceptLogin(challenge, subject) {
  const body = { subject, remember: true, remember_for: REMEMBER_FOR };
  return (await hydra('PUT', 'login', 'accept', challenge, body)).redirect_to;
}

async function acceptConsent(challenge, request) {
  const body = {
    grant_scope: request.requested_scope,
    grant_access_token_audience: request.requested_access_token_audience,
    remember: true,
    remember_for: REMEMBER_FOR,
    session: { id_token: { email: `${request.subject}@example.test`, email_verified: true } },
  };
  return (await hydra('PUT', 'consent', 'accept', challenge, body)).redirect_to;
}

const page = (title, form) => `<!doctype html><html><head><title>${title}</title></head>
<body><h1>${title}</h1><form method="post">${form}</form></body></html>`;

function loginPage(challenge, message = '') {
  return page('Sign in', `${message}
  <input type="hidden" name="challenge" value="${challenge}">
  <label>User <input type="text" name="username" autocomplete="username"></label>
  <label>Password <input type="password" name="password" autocomplete="current-password"></label>
  <button type="submit">Sign in</button>`);
}

function consentPage(challenge, request) {
  return page('Allow access?', `<p>${request.client?.client_id} asks for
  ${request.requested_scope.join(', ')}.</p>
  <input type="hidden" name="challenge" value="${challenge}">
  <button type="submit" name="decision" value="allow">Allow</button>`);
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body);
}

async function handle(req, res) {
  const url = new URL(req.url, 'http://127.0.0.1');
  const send = (status, html) => res.writeHead(status, { 'content-type': 'text/html' }).end(html);
  const redirect = (to) => res.writeHead(303, { location: to }).end();
  if (url.pathname === '/login' && req.method === 'GET') {
    const challenge = url.searchParams.get('login_challenge');
    const request = await hydra('GET', 'login', null, challenge);
    // Hydra remembers this browser's login: no form (the SSO session at work).
    if (request.skip) return redirect(await acceptLogin(challenge, request.subject));
    return send(200, loginPage(challenge));
  }
  if (url.pathname === '/login' && req.method === 'POST') {
    const form = await readForm(req);
    if (form.get('username') !== user || form.get('password') !== password) {
      return send(401, loginPage(form.get('challenge'), '<p>Wrong user name or password.</p>'));
    }
    return redirect(await acceptLogin(form.get('challenge'), user));
  }
  if (url.pathname === '/consent' && req.method === 'GET') {
    const challenge = url.searchParams.get('consent_challenge');
    const request = await hydra('GET', 'consent', null, challenge);
    if (request.skip) return redirect(await acceptConsent(challenge, request));
    return send(200, consentPage(challenge, request));
  }
  if (url.pathname === '/consent' && req.method === 'POST') {
    const challenge = (await readForm(req)).get('challenge');
    return redirect(await acceptConsent(challenge, await hydra('GET', 'consent', null, challenge)));
  }
  return send(404, page('Not found', ''));
}

const server = createServer((req, res) =>
  handle(req, res).catch((e) => {
    console.error(`login-consent: ${e.message}`);
    if (!res.headersSent) res.writeHead(502).end('login/consent app error');
  }),
);
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
console.log(JSON.stringify({ url: `http://127.0.0.1:${server.address().port}` }));
const stop = () => server.close(() => process.exit(0));
process.stdin.on('end', stop).resume();
process.on('SIGTERM', stop);
