/**
 * The figures of one fan-out send window, from what the sender recorded
 * and what each worker reported, and their markdown rows. Shared by
 * fanout-bench (which measures) and run.ts (which prints one table for
 * several transports), so the two cannot disagree on the columns.
 */
import { quantile } from '../harness/measure.js';
import type { WindowReport } from './worker.js';

export interface WindowResult {
  transport: string;
  members: number;
  rate: number;
  /** Messages sent, and how many the sender had acked when the window closed. */
  messages: number;
  acked: number;
  deliveries: number;
  missing: number;
  disorder: number;
  /** Member connections that had closed by the end of the window (the server ended them, or they failed). */
  closed: number;
  /** Per message, from its send to the last connection's receipt. */
  p50: number;
  p99: number;
  max: number;
  /** Per message, from its send to the first connection's receipt (the spread is p50 - firstP50). */
  firstP50: number;
  /** Over every delivery, from send to receipt. */
  meanDelivery: number;
  /** From the first send to the last receipt. */
  windowMs: number;
  deliveriesPerSecond: number;
  serverCpuMs: number;
  serverBusyMs: number;
  serverWallMs: number;
  clientCpuMs: number;
  /** CPU ms the whole machine was busy (/proc/stat) less server, clients and the bench itself: other processes. */
  othersCpuMs: number;
  load1: number;
}

export interface Measured {
  transport: string;
  members: number;
  rate: number;
  /** Send time per sequence number (ms, performance.timeOrigin-based). */
  sentAt: readonly number[];
  acked: number;
  reports: readonly WindowReport[];
  server: { cpuMs: number; busyMs: number; wallMs: number };
  /** CPU ms of the whole machine, and of the bench process (the sender), over the window. */
  machineCpuMs: number;
  benchCpuMs: number;
  load1: number;
}

export function summarize(m: Measured): WindowResult {
  const n = m.sentAt.length;
  const counts = new Array<number>(n).fill(0);
  const first = new Array<number>(n).fill(Infinity);
  const last = new Array<number>(n).fill(-Infinity);
  let sum = 0;
  let disorder = 0;
  let closed = 0;
  let clientCpuMs = 0;
  for (const r of m.reports) {
    disorder += r.disorder;
    closed += r.closed;
    clientCpuMs += r.cpuMs;
    for (let i = 0; i < n; i++) {
      const c = r.counts[i] ?? 0;
      if (c === 0) continue;
      counts[i] = (counts[i] as number) + c;
      first[i] = Math.min(first[i] as number, r.first[i] as number);
      last[i] = Math.max(last[i] as number, r.last[i] as number);
      sum += (r.sum[i] as number) - c * (m.sentAt[i] as number);
    }
  }
  let deliveries = 0;
  let lastReceipt = -Infinity;
  const lastLatency: number[] = [];
  const firstLatency: number[] = [];
  for (let i = 0; i < n; i++) {
    const c = counts[i] as number;
    deliveries += c;
    if (c === 0) continue;
    lastReceipt = Math.max(lastReceipt, last[i] as number);
    lastLatency.push((last[i] as number) - (m.sentAt[i] as number));
    firstLatency.push((first[i] as number) - (m.sentAt[i] as number));
  }
  lastLatency.sort((a, b) => a - b);
  firstLatency.sort((a, b) => a - b);
  const windowMs = lastReceipt - (m.sentAt[0] ?? NaN);
  return {
    transport: m.transport,
    members: m.members,
    rate: m.rate,
    messages: n,
    acked: m.acked,
    deliveries,
    missing: n * m.members - deliveries,
    disorder,
    closed,
    p50: quantile(lastLatency, 0.5),
    p99: quantile(lastLatency, 0.99),
    max: lastLatency.at(-1) ?? NaN,
    firstP50: quantile(firstLatency, 0.5),
    meanDelivery: deliveries > 0 ? sum / deliveries : NaN,
    windowMs,
    deliveriesPerSecond: deliveries / (windowMs / 1000),
    serverCpuMs: m.server.cpuMs,
    serverBusyMs: m.server.busyMs,
    serverWallMs: m.server.wallMs,
    clientCpuMs,
    othersCpuMs: Math.max(0, m.machineCpuMs - m.server.cpuMs - clientCpuMs - m.benchCpuMs),
    load1: m.load1,
  };
}

const int = (v: number): string => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : 'n/a');
const ms = (v: number): string => (Number.isFinite(v) ? v.toFixed(v < 100 ? 1 : 0) : 'n/a');
const pct = (v: number): string => (Number.isFinite(v) ? `${Math.round(v * 100)}%` : 'n/a');

export const FANOUT_HEADER = [
  '| transport | members | msg/s | messages (acked) | deliveries | missing after drain | send → last receipt p50 / p99 / max (ms) | send → first receipt p50 (ms) | mean delivery (ms) | deliveries/s | server CPU s (event loop busy) | deliveries per server CPU-s | CPU s of clients / other processes | load (1 min) |',
  '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
].join('\n');

export function fanoutRow(r: WindowResult): string {
  const why = [r.closed > 0 ? `${int(r.closed)} connections closed` : '', r.disorder > 0 ? `${int(r.disorder)} out of order` : ''].filter(Boolean);
  const missing = why.length > 0 ? `${int(r.missing)} (${why.join(', ')})` : int(r.missing);
  const busy = pct(r.serverBusyMs / r.serverWallMs);
  return (
    `| ${r.transport} | ${int(r.members)} | ${r.rate} | ${int(r.messages)} (${int(r.acked)}) | ${int(r.deliveries)} | ${missing} ` +
    `| ${ms(r.p50)} / ${ms(r.p99)} / ${ms(r.max)} | ${ms(r.firstP50)} | ${ms(r.meanDelivery)} | ${int(r.deliveriesPerSecond)} ` +
    `| ${(r.serverCpuMs / 1000).toFixed(2)} (${busy}) | ${int(r.deliveries / (r.serverCpuMs / 1000))} ` +
    `| ${(r.clientCpuMs / 1000).toFixed(2)} / ${(r.othersCpuMs / 1000).toFixed(2)} | ${r.load1.toFixed(2)} |`
  );
}
