/**
 * The shared services of a two-node fan-out bench (bench/fanout-bench.ts
 * `--nodes 2`): a PostgreSQL database created for the run and dropped
 * after it, and a Redis key prefix of the run's own, so that nothing is
 * left behind and no other user of that Redis sees the bench's nodes.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';

export interface BenchCluster {
  /** Flags every node of the run starts with. */
  args: string[];
  /** Drops the database and the Redis keys (safe to call twice). */
  drop(): Promise<void>;
}

async function admin(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

export async function openCluster(postgresAdminUrl: string, redisUrl: string): Promise<BenchCluster> {
  const tag = `${process.pid}_${randomBytes(3).toString('hex')}`;
  const name = `webim_bench_${tag}`;
  const prefix = `webim-bench-${tag}`;
  await admin(postgresAdminUrl, `CREATE DATABASE ${name}`);
  const database = new URL(postgresAdminUrl);
  database.pathname = `/${name}`;
  let dropped = false;
  return {
    args: ['--database', database.toString(), '--redis', redisUrl, '--redis-prefix', prefix, '--token-secret', `bench-secret-${tag}-0123456789`],
    async drop() {
      if (dropped) return;
      dropped = true;
      await admin(postgresAdminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
      const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
      redis.on('error', () => undefined);
      try {
        const keys = await redis.keys(`${prefix}:*`);
        if (keys.length > 0) await redis.del(...keys);
      } catch {
        // A Redis that went away keeps the run's keys; they sit under the run's own prefix, out of anyone's way.
      } finally {
        redis.disconnect();
      }
    },
  };
}
