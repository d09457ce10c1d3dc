// The interop driver: runs the scenario (scenario.mjs) against every row of the matrix
// (providers.mjs), all rows at once, each with its own provider process and browser.
//
// Usage: node run.mjs --results FILE [--log FILE] [PROVIDER[/CONFIG] ...]
// Environment: KEYFOB_BIN (the keyfob CLI), CHROMIUM, and for the providers that need them
// KEYFOB_INTEROP_KEYCLOAK (Keycloak's home), JAVA_HOME (Java for Keycloak),
// KEYFOB_INTEROP_HYDRA (the hydra binary).
//
// Prints one line per check and ends with "N passed, M failed". Writes FILE: a JSON array with
// one object per row ({provider, version, config, about, facts, checks: [{name, ok, detail}]})
// for table.mjs. A row whose provider did not start fails: nothing is skipped.
import { createWriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { PassThrough } from 'node:stream';
import { parseArgs } from 'node:util';
import { MATRIX } from './providers.mjs';
import { scenario } from './scenario.mjs';
import { stopAll, withTimeout } from './services.mjs';

/** One row may take this long, provider start included (Keycloak: ~35 s warm, more cold). */
const ROW_TIMEOUT_MS = 420_000;

const { values: opts, positionals: only } = parseArgs({
  options: { results: { type: 'string' }, log: { type: 'string' } },
  allowPositionals: true,
});
const log = createWriteStream(opts.log ?? '/dev/null', { flags: 'a' });
const named = (row) => only.some((o) => o === row.provider || o === `${row.provider}/${row.config}`);
const rows = MATRIX.filter((row) => only.length === 0 || named(row));
if (rows.length === 0) {
  console.error(`run.mjs: no row matches ${only.join(' ')}`);
  process.exit(2);
}
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => stopAll().then(() => process.exit(1)));

async function runRow(row) {
  const result = { provider: row.provider, version: null, config: row.config, about: row.about, facts: {}, checks: [] };
  const label = `${row.provider}/${row.config}`;
  const check = (name, ok, detail = '') => {
    result.checks.push({ name, ok: !!ok, detail });
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${label}: ${name}${detail ? ` (${detail})` : ''}`);
  };
  const started = Date.now();
  try {
    await withTimeout(
      (async () => {
        const p = await row.start({ env: process.env, log: rowLog(label) });
        result.version = p.version;
        const took = Math.round((Date.now() - started) / 1000);
        check('provider started', true, `${row.provider} ${p.version} at ${p.issuer} in ${took} s`);
        await scenario(p, row.expect, { env: process.env, log: rowLog(label), check, facts: result.facts });
      })(),
      ROW_TIMEOUT_MS,
      `the row did not finish within ${ROW_TIMEOUT_MS / 1000} s`,
    );
  } catch (e) {
    check(result.version ? 'scenario completed' : 'provider started', false, String(e.message ?? e).split('\n')[0]);
  }
  result.seconds = Math.round((Date.now() - started) / 1000);
  return result;
}

/** A stream for the output of a row's processes: into the log file, each line prefixed. */
function rowLog(label) {
  const stream = new PassThrough();
  createInterface({ input: stream }).on('line', (line) => log.write(`[${label}] ${line}\n`));
  return stream;
}

let results;
try {
  results = await Promise.all(rows.map(runRow));
} finally {
  await stopAll();
}
if (opts.results) await writeFile(opts.results, `${JSON.stringify(results, null, 2)}\n`);
const checks = results.flatMap((r) => r.checks);
const failed = checks.filter((c) => !c.ok).length;
for (const r of results) console.log(`row ${r.provider}/${r.config}: ${r.seconds} s`);
console.log(`${checks.length - failed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
