/**
 * Several webim processes sharing one Redis (under a key prefix of the
 * test's own) and one PostgreSQL database (created for the test file and
 * dropped after it): a cluster as operators run it, on loopback ports.
 * Every node is stopped in teardown (SIGKILL if SIGTERM is not enough).
 */
import type { Test } from 'tap';
import type { ChatClient, Msg } from './client.js';
import { createTestDatabase } from './postgres.js';
import { exited, type ServerProcess, spawnServer } from './process.js';
import { dropPrefix, requireRedis, testPrefix } from './redis.js';
import { wsConnect } from './ws-client.js';

export const CLUSTER_SECRET = 'cluster-test-secret-0123456789abcdef';

export interface Cluster {
  database: string;
  redis: string;
  prefix: string;
  nodes: ServerProcess[];
  /** The flags every node of this cluster starts with. */
  args: string[];
  /** Starts one more node of this cluster. */
  addNode(extra?: string[]): Promise<ServerProcess>;
}

/**
 * Starts `count` nodes; undefined after failing (CI) or skipping `t` when
 * Redis or PostgreSQL is missing. `redisUrl` overrides the shared Redis
 * (a test-owned redis-server).
 */
export async function startCluster(t: Test, count: number, extra: string[] = [], redisUrl?: string): Promise<Cluster | undefined> {
  const redis = redisUrl ?? (await requireRedis(t));
  if (redis === undefined) return undefined;
  const database = await createTestDatabase(t);
  if (database === undefined) return undefined;
  const prefix = testPrefix();
  const args = [
    '--database', database, '--redis', redis, '--redis-prefix', prefix, '--token-secret', CLUSTER_SECRET,
    '--node-heartbeat', '250', '--node-timeout', '1500', '--shutdown-grace', '200', ...extra,
  ];
  const nodes: ServerProcess[] = [];
  // Registered before the nodes start (teardowns run last-first): the database is dropped after they stopped.
  t.teardown(async () => {
    await Promise.all(nodes.map(async (n) => {
      if (n.child.exitCode !== null || n.child.signalCode !== null) return;
      n.child.kill('SIGTERM');
      const timer = setTimeout(() => n.child.kill('SIGKILL'), 5000);
      await exited(n.child);
      clearTimeout(timer);
    }));
    if (redisUrl === undefined) await dropPrefix(redis, prefix).catch(() => undefined);
  });
  const addNode = async (more: string[] = []) => {
    const node = await spawnServer([...args, ...more]);
    nodes.push(node);
    return node;
  };
  // One after the other: the first creates the schema, the others find it.
  for (let i = 0; i < count; i++) await addNode();
  return { database, redis, prefix, nodes, args, addNode };
}

/** A WebSocket client logged in on `url`; closed in teardown. */
export async function loginOn(t: Test, url: string, name: string, extra: object = {}): Promise<{ c: ChatClient; reply: Msg }> {
  const c = await wsConnect(url)();
  t.teardown(() => c.close());
  c.send({ cmd: 'login', name, ...extra });
  const reply = await c.next((m) => m.cmd === 'login' || m.cmd === 'error', 10000);
  return { c, reply };
}

export const userName = (m: Msg): string => (m.user as { name: string }).name;
export const names = (users: unknown): string[] => (users as Array<{ name: string }>).map((u) => u.name).sort();
