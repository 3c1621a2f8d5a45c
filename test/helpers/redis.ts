/**
 * Redis for the multi-node tests: the shared one (WEBIM_TEST_REDIS,
 * default redis://127.0.0.1:6379), used under a key prefix of the test's
 * own so that test files never see each other's nodes, or a redis-server
 * the test starts itself on a free port (for killing and restarting it;
 * the shared one is never touched).
 *
 * Where Redis cannot be reached (or redis-server is missing), a test under
 * CI (CI set) fails: CI must have it. Elsewhere it is skipped with the
 * reason printed.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Test } from 'tap';
import { canConnect } from './nginx.js';

export const REDIS_URL = process.env.WEBIM_TEST_REDIS || 'redis://127.0.0.1:6379';

/** A key prefix no other test run uses. */
export function testPrefix(): string {
  return `webim-test-${process.pid}-${randomBytes(4).toString('hex')}`;
}

function unavailable(t: Test, reason: string): void {
  if (process.env.CI) {
    t.fail(`${reason}: CI must have it`);
  } else {
    console.log(`# skipping the Redis tests: ${reason}`);
    t.plan(0, reason);
  }
}

/** The shared Redis URL; undefined after failing (CI) or skipping (elsewhere) `t` when it does not answer. */
export async function requireRedis(t: Test): Promise<string | undefined> {
  const client = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.ping();
    return REDIS_URL;
  } catch (err) {
    unavailable(t, `Redis at ${REDIS_URL} does not answer (${String(err)}; set WEBIM_TEST_REDIS)`);
    return undefined;
  } finally {
    client.disconnect();
  }
}

/** Deletes every key under a prefix (teardown of a test that used the shared Redis). */
export async function dropPrefix(url: string, prefix: string): Promise<void> {
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  try {
    const keys = await client.keys(`${prefix}:*`);
    if (keys.length > 0) await client.del(...keys);
  } finally {
    client.disconnect();
  }
}

export interface OwnRedis {
  url: string;
  port: number;
  /** kill -9, as a crash would. */
  kill(): Promise<void>;
  /** Starts it again on the same port (empty: no persistence). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** A redis-server of the test's own; undefined after failing (CI) or skipping `t` when the binary is missing. */
export async function startOwnRedis(t: Test, port: number): Promise<OwnRedis | undefined> {
  const bin = process.env.REDIS_SERVER || 'redis-server';
  if (spawnSync(bin, ['--version']).status !== 0) {
    unavailable(t, `${bin} not found (set REDIS_SERVER)`);
    return undefined;
  }
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    const deadline = Date.now() + 5000;
    while (!(await canConnect(port))) {
      if (Date.now() > deadline) throw new Error(`redis-server did not start on ${port}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  const kill = async () => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await gone;
  };
  const onExit = () => child?.kill('SIGKILL');
  process.once('exit', onExit);
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    kill,
    restart: start,
    async stop() {
      await kill();
      process.removeListener('exit', onExit);
    },
  };
}
