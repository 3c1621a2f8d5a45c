/**
 * The server side of the fan-out bench: one webim (bench/harness/
 * server-child.ts), or with `--nodes 2` two nodes sharing Redis and
 * PostgreSQL, whose CPU and event-loop time are added up; and the CPU the
 * whole machine used, from which the report takes what other processes
 * used meanwhile.
 *
 * The shared services of two nodes are the run's own: a PostgreSQL
 * database created for it and dropped after, and a Redis key prefix, so
 * that nothing is left behind and no other user of that Redis sees the
 * bench's nodes.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { admin, databaseUrl } from '../../test/helpers/postgres.js';
import { dropPrefix } from '../../test/helpers/redis.js';
import type { Teardown } from '../harness/lifetime.js';
import { type LoopUse, SERVER_CHILD, ServerChild } from '../harness/server-handle.js';

interface BenchCluster {
  /** Flags every node of the run starts with. */
  args: string[];
  /** Drops the database and the Redis keys (safe to call twice). */
  drop(): Promise<void>;
}

async function openCluster(postgresAdminUrl: string, redisUrl: string): Promise<BenchCluster> {
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

export interface NodeOptions {
  count: number;
  /** Flags of every node; each adds a data directory of its own under `dataDir`. */
  args: string[];
  dataDir: string;
  /** Admin URL of the PostgreSQL and URL of the Redis that two nodes share. */
  postgres: string;
  redis: string;
  teardown: Teardown;
}

export class FanoutNodes {
  private constructor(
    readonly servers: ServerChild[],
    private readonly cluster: BenchCluster | undefined,
  ) {}

  static async start(o: NodeOptions): Promise<FanoutNodes> {
    let cluster: BenchCluster | undefined;
    const args = [...o.args];
    if (o.count > 1) {
      cluster = await openCluster(o.postgres, o.redis);
      const c = cluster;
      o.teardown.add(() => void c.drop());
      args.push(...cluster.args);
    }
    const servers: ServerChild[] = [];
    for (let i = 0; i < o.count; i++) {
      const nodeArgs = [...args, '--data-dir', join(o.dataDir, `node${i}`)];
      servers.push(await ServerChild.fork('server', SERVER_CHILD, nodeArgs, { forked: (c) => o.teardown.track(c) }));
    }
    return new FanoutNodes(servers, cluster);
  }

  /** The node the sender, and the profiler, are on. */
  get first(): ServerChild {
    return this.servers[0] as ServerChild;
  }

  get ports(): number[] {
    return this.servers.map((s) => s.port);
  }

  /** The servers' share of the window; with several nodes, their CPU and busy time added up. */
  async loop(): Promise<LoopUse> {
    const all = await Promise.all(this.servers.map((s) => s.loop()));
    return {
      cpuMs: all.reduce((a, m) => a + m.cpuMs, 0),
      busyMs: all.reduce((a, m) => a + m.busyMs, 0),
      wallMs: Math.max(...all.map((m) => m.wallMs)),
    };
  }

  /** Stops every node, then drops what they shared. */
  async stop(): Promise<void> {
    await Promise.all(this.servers.map((s) => s.stop()));
    await this.cluster?.drop();
  }
}

/** CPU ms all cores of the machine have been busy since boot (/proc/stat counts in USER_HZ, 100 a second). */
export function machineCpuMs(): number {
  const fields = (readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0] = fields;
  return (user + nice + system + irq + softirq) * 10;
}
