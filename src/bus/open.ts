/**
 * The bus `--redis` asks for: Redis between nodes, or none (a single node).
 * Apart from the interface (src/bus/bus.ts), which both implementations
 * import: choosing one is the composition root's business.
 */
import type { Config } from '../config.js';
import type { Log } from '../log.js';
import type { Bus } from './bus.js';
import { LocalBus } from './local.js';
import { RedisBus } from './redis.js';

export function openBus(config: Pick<Config, 'redis' | 'redisPrefix' | 'nodeHeartbeat' | 'nodeTimeout'>, log: Log): Bus {
  if (config.redis === '') return new LocalBus();
  return new RedisBus({ url: config.redis, prefix: config.redisPrefix, heartbeat: config.nodeHeartbeat, timeout: config.nodeTimeout, log });
}
