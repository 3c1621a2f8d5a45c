/**
 * Time and figures as every suite takes them, so that two suites' rows
 * mean the same: timestamps comparable between the bench's processes, a
 * sender paced to a schedule, quantiles of sorted samples, and the
 * integer flags the suites take.
 */
import { performance } from 'node:perf_hooks';

/** Wall-clock ms with sub-ms resolution, comparable between processes on one machine. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Calls `sendOne(i)` for i in 0..count-1, `rate` a second, each at its own scheduled time (not drifting with the
 * timer's lateness); resolves with the time (now()) each was sent.
 */
export async function sendPaced(count: number, rate: number, sendOne: (i: number) => void): Promise<number[]> {
  const sentAt: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const wait = t0 + (i * 1000) / rate - performance.now();
    if (wait >= 1) await sleep(wait);
    sentAt.push(now());
    sendOne(i);
  }
  return sentAt;
}

/** The q-quantile of ascending samples (the nearest rank); NaN when there are none. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}

/** The integer value of flag `--name`, refused outside min..max with the flag named. */
export function intFlag(name: string, text: string | undefined, min: number, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer in ${min}..${max}, not ${text}`);
  return n;
}
