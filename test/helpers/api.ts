/**
 * The server API from a test: calls with a key, and the example backends
 * of docs/examples/api/ (PHP and Node) run as a site would run them, against
 * a real server or a cluster: each signs a login token for its user, a
 * WebSocket client logs in with it, and the example publishes to the user,
 * reads the history and lists who is online.
 */
import { execFile, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Test } from 'tap';
import type { Msg } from './client.js';
import { wsConnect } from './ws-client.js';

export const API_KEY = 'api-test-key-5d2e8c1f9a7b3e4d';
export const ADMIN_TOKEN = 'api-test-admin-token-0a1b2c3d4e5f';

export interface Answer {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
}

export type Call = (method: string, path: string, body?: unknown, key?: string | null) => Promise<Answer>;

/** Calls of `base` (a server's URL) with `key` unless another (or none: null) is given. */
export function apiClient(base: string, key = API_KEY): Call {
  return async (method, path, body, given = key) => {
    const headers: Record<string, string> = {};
    if (given !== null) headers.authorization = `Bearer ${given}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>), headers: res.headers };
  };
}

const EXAMPLES = fileURLToPath(new URL('../../../docs/examples/api/', import.meta.url));
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export type Example = 'php' | 'node';

/** Whether php-cli is there; under CI its absence fails `t` (.ci/run installs it), elsewhere the PHP example is skipped. */
export function havePhp(t: Test): boolean {
  if (spawnSync('php', ['--version']).status === 0) return true;
  if (process.env.CI) t.fail('php-cli is missing: CI must have it (.ci/run installs it)');
  else t.comment('skipping the PHP example: php-cli is not installed (apt-get install php-cli)');
  return false;
}

/** Runs one example backend with the site's settings; its standard output. */
async function runExample(example: Example, args: string[], env: Record<string, string>): Promise<string> {
  const [bin, file] = example === 'php' ? ['php', 'backend.php'] : [process.execPath, 'backend.mjs'];
  // cwd: the repository, so that the Node example finds jose in its node_modules as a site's backend would in its own.
  const { stdout } = await promisify(execFile)(bin, [EXAMPLES + file, ...args], { env: { ...process.env, ...env }, cwd: ROOT, timeout: 20000 });
  return stdout.trim();
}

export interface ExampleSite {
  /** Where the example calls the API. */
  apiUrl: string;
  /** Where its user logs in (another node of the cluster, or the same server). */
  chatUrl: string;
  secret: string;
}

/**
 * The example's whole round: a token for `userId` that logs in, a message
 * published to the user (seen live, once, with the id the API answered),
 * the history holding it, the user in the online list; run again, the
 * idempotency key stores nothing new.
 */
export async function exampleRound(t: Test, example: Example, site: ExampleSite, userId: string): Promise<void> {
  const env = { WEBIM_URL: site.apiUrl, WEBIM_API_KEY: API_KEY, WEBIM_TOKEN_SECRET: site.secret };
  const token = await runExample(example, ['token', userId, `Customer ${userId}`], env);
  const c = await wsConnect(site.chatUrl)();
  t.teardown(() => c.close());
  c.send({ cmd: 'login', token });
  t.match(await c.next((m) => m.cmd === 'login' || m.cmd === 'error', 10000), { cmd: 'login', user: { id: userId, name: `Customer ${userId}` } }, `${example}: its token logs ${userId} in`);

  // On another node the login reaches the API's node over the bus a moment later, as a client of that node would see it.
  const presence = apiClient(site.apiUrl);
  for (let i = 0; i < 100 && !((await presence('GET', '/api/presence')).body.users as Array<{ id: string }>).some((u) => u.id === userId); i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  const first = JSON.parse(await runExample(example, ['demo', userId], env)) as { published: Msg; duplicate: boolean; history: Msg[]; online: string[] };
  t.match(first.published, { from: { id: 'system' }, to: { user: userId }, body: 'Your order has shipped' }, `${example}: published as System`);
  t.equal(first.duplicate, false);
  const live = await c.next((m) => m.cmd === 'message' && m.body === 'Your order has shipped', 10000);
  t.same([live.id, live.offset, live.channel], [first.published.id, first.published.offset, first.published.channel], `${example}: the user got it live, as the API acked it`);
  t.same(first.history.map((m) => m.id), [first.published.id], `${example}: the history holds it`);
  t.ok(first.online.includes(userId), `${example}: the user is in the online list`);

  const again = JSON.parse(await runExample(example, ['demo', userId], env)) as { published: Msg; duplicate: boolean; history: Msg[] };
  t.same([again.duplicate, again.published.id, again.history.length], [true, first.published.id, 1], `${example}: run again, the key stores it once`);
  t.ok(await c.quiet((m) => m.cmd === 'message', 300), `${example}: and it is not delivered twice`);
}
