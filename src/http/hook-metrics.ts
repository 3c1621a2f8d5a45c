/**
 * The hooks' part of `/metrics` (docs/api.md, "Hooks"): how long calls to
 * the application take, how they fail, and the offline queue. Label values
 * come from fixed sets (hook names, failure kinds), never from a user.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { HOOK_NAMES, type HookStats } from '../hooks/caller.js';

/** A hook call answers in milliseconds on a good day, and at worst waits out `--hook-timeout`. */
const HOOK_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function registerHookMetrics(registry: Registry, stats: HookStats): void {
  const registers = [registry];
  const seconds = new Histogram({
    name: 'webim_hook_seconds',
    help: 'Time of a call to the application by hook (login, publish, offline), answered or not',
    labelNames: ['hook'] as const,
    buckets: HOOK_BUCKETS,
    registers,
  });
  for (const hook of HOOK_NAMES) seconds.zero({ hook });
  stats.observe = (hook, s) => seconds.observe({ hook }, s);
  new Counter({
    name: 'webim_hook_failures_total',
    help: 'Hook calls without a usable answer, by hook and kind (timeout, network, status, garbage)',
    labelNames: ['hook', 'kind'] as const,
    registers,
    collect() {
      this.reset();
      for (const [hook, kinds] of stats.failures) for (const [kind, cell] of kinds) this.inc({ hook, kind }, cell.n);
    },
  });
  new Gauge({
    name: 'webim_hook_offline_queue',
    help: 'Offline events waiting to be sent to the application (retries included)',
    registers,
    collect() {
      this.set(stats.offlineQueued);
    },
  });
  new Counter({
    name: 'webim_hook_offline_dropped_total',
    help: 'Offline events dropped: the queue was full, or every retry failed',
    registers,
    collect() {
      this.reset();
      this.inc(stats.offlineDropped);
    },
  });
}
