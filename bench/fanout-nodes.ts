/**
 * The shared services of a two-node fan-out bench (bench/fanout-bench.ts
 * `--nodes 2`): a PostgreSQL database created for the run and dropped
 * after it, and a Redis key prefix of the run's own, so that nothing is
 * left behind and no other user of that Redis sees the bench's nodes.
 */
import { randomBytes } from 'node:crypto';
import { admin, databaseUrl } from '../test/helpers/postgres.js';
import { dropPrefix } from '../test/helpers/redis.js';

export interface BenchCluster {
  /** Flags every node of the run starts with. */
  args: string[];
  /** Drops the database and the Redis keys (safe to call twice). */
  drop(): Promise<void>;
}

export async function openCluster(postgresAdminUrl: string, redisUrl: string): Promise<BenchCluster> {
  const tag = `${process.pid}_${randomBytes(3).toString('hex')}`;
  const name = `webim_bench_${tag}`;
  const prefix = `webim-bench-${tag}`;
  await admin(`CREATE DATABASE ${name}`, postgresAdminUrl);
  let dropped = false;
  return {
    args: ['--database', databaseUrl(name, postgresAdminUrl), '--redis', redisUrl, '--redis-prefix', prefix, '--token-secret', `bench-secret-${tag}-0123456789`],
    async drop() {
      if (dropped) return;
      dropped = true;
      await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`, postgresAdminUrl).catch(() => undefined);
      // A Redis that went away keeps the run's keys; they sit under the run's own prefix, out of anyone's way.
      await dropPrefix(redisUrl, prefix).catch(() => undefined);
    },
  };
}
