// Processes of the interop stage: providers, the headless browser and the keyfob CLI, all on
// loopback. Every started process is stopped by stopAll() (the driver calls it on exit); they
// stay in the driver's process group, which the stage's shell trap kills if the driver dies.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';

const running = new Set();

/**
 * Starts a long-running service. Its stdin stays open (services that watch it exit when the
 * driver dies) and its output goes to `log` (a writable stream). With `readyLine`, resolves
 * with the first stdout line parsed as JSON (within `timeoutMs`); otherwise with null.
 */
export async function startService(name, command, args, { env, cwd, log, readyLine, timeoutMs = 60_000 } = {}) {
  const child = spawn(command, args, {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const service = { name, child, exited: false, stop: () => stop(service) };
  running.add(service);
  child.on('exit', () => {
    service.exited = true;
    running.delete(service);
  });
  child.stderr.pipe(log, { end: false });
  if (!readyLine) {
    child.stdout.pipe(log, { end: false });
    return { service, ready: null };
  }
  const lines = createInterface({ input: child.stdout });
  const first = new Promise((resolve, reject) => {
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`${name} exited (${code}) before it was ready`)));
  });
  try {
    const line = await withTimeout(first, timeoutMs, `${name} did not print its ready line`);
    lines.on('line', (l) => log.write(`${l}\n`));
    return { service, ready: JSON.parse(line) };
  } catch (e) {
    await stop(service);
    throw e;
  }
}

async function stop(service) {
  if (service.exited) return;
  const exited = new Promise((resolve) => service.child.once('exit', resolve));
  service.child.kill('SIGTERM');
  if (!(await withTimeout(exited, 10_000).then(() => true, () => false))) service.child.kill('SIGKILL');
}

/** Stops every service still running. */
export async function stopAll() {
  await Promise.all([...running].map(stop));
}

/** Runs a command to completion: {code, stdout, stderr}. */
export function run(command, args, { env, timeoutMs = 180_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? `signal ${signal}`, stdout, stderr });
    });
  });
}

/** A free TCP port on 127.0.0.1 (for services that cannot bind port 0 and report it). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Polls `url` until it answers 200 (or `service` exits, or `timeoutMs` passes). */
export async function waitForUrl(url, service, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (service?.exited) throw new Error(`${service.name} exited while starting`);
    try {
      if ((await fetch(url)).status === 200) return;
    } catch {}
    await sleep(250);
  }
  throw new Error(`${url} did not answer within ${timeoutMs / 1000} s`);
}

/**
 * Debian's Chromium, headless, with a fresh profile in `profileDir` and the DevTools protocol
 * on an ephemeral loopback port. Resolves with {service, cdpPort}.
 */
export async function startBrowser(chromiumPath, profileDir, log) {
  const { service } = await startService(
    'chromium',
    chromiumPath,
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--user-data-dir=${profileDir}`,
      '--remote-debugging-address=127.0.0.1',
      '--remote-debugging-port=0',
      'about:blank',
    ],
    { log },
  );
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (service.exited) throw new Error('chromium exited while starting');
    const port = await readFile(`${profileDir}/DevToolsActivePort`, 'utf8').then(
      (text) => Number(text.split('\n')[0]),
      () => 0,
    );
    if (port > 0) return { service, cdpPort: port };
    await sleep(100);
  }
  throw new Error('chromium did not open its DevTools port within 60 s');
}

export function withTimeout(promise, ms, message = 'timed out') {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms))),
  ]).finally(() => clearTimeout(timer));
}
