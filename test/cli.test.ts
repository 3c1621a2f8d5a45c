/**
 * The `webim` command as an operator meets it: `webim start` with the
 * default, relative `./data` directory (what `npm start` does), help, and a
 * clear exit code 2 for a bad flag.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { BIN, exited, spawnServer } from './helpers/process.js';

const run = promisify(execFile);

t.test('webim start with the default ./data directory, relative to where it runs', async (t) => {
  const cwd = mkdtempSync(join(tmpdir(), 'webim-cli-'));
  t.teardown(() => rmSync(cwd, { recursive: true, force: true }));
  const server = await spawnServer(['--log-level', 'info'], {}, cwd);
  t.teardown(() => server.child.kill('SIGKILL'));
  const health = await fetch(`${server.url}/healthz`);
  t.equal(health.status, 200);
  t.match(await health.json(), { status: 'ok', store: 'sqlite' });
  const page = await fetch(`${server.url}/`);
  t.equal(page.status, 200, 'the page is served');
  t.ok(existsSync(join(cwd, 'data', 'webim.sqlite')), 'the store lives in ./data');
  t.ok(existsSync(join(cwd, 'data', 'uploads')), 'uploads go to ./data/uploads');
  server.child.kill('SIGTERM');
  t.equal(await exited(server.child), 0);
});

t.test('help lists every command and exits 0', async (t) => {
  const { stdout } = await run(process.execPath, [BIN, 'help']);
  for (const word of ['start', 'flash-policy', 'nginx-config', '--port', '--data-dir', 'WEBIM_PORT']) {
    t.ok(stdout.includes(word), `help mentions ${word}`);
  }
});

t.test('an unknown flag or a bad value stops with exit code 2 and says which', async (t) => {
  for (const args of [['start', '--no-such-flag'], ['start', '--port', 'eighty'], ['frobnicate']]) {
    const err = await run(process.execPath, [BIN, ...args]).then(
      () => undefined,
      (e: { code?: number; stderr?: string }) => e,
    );
    t.equal(err?.code, 2, `${args.join(' ')} exits 2`);
    t.match(err?.stderr ?? '', /webim: /, 'with a message');
  }
});
