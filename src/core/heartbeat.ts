/**
 * One timer for the heartbeats of every connection, instead of one timer
 * per connection: each tick pings the connections whose interval is due and
 * drops those whose pong is overdue (docs/protocol.md section 6). Connections
 * whose transport has no ping (Comet sessions expire on their own) are
 * skipped.
 */
import type { Connection } from './connection.js';

export class Heartbeat {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly conns: Iterable<Connection>,
    private readonly interval: number,
    private readonly timeout: number,
  ) {}

  start(): void {
    const period = Math.max(50, Math.min(1000, Math.floor(Math.min(this.interval, this.timeout) / 4)));
    this.timer = setInterval(() => this.tick(Date.now()), period);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  tick(now: number): void {
    for (const c of this.conns) {
      const ping = c.transport.ping;
      if (!ping) continue;
      if (c.awaitingPongSince !== 0) {
        if (now - c.awaitingPongSince > this.timeout) c.bye('heartbeat_timeout');
      } else if (now - c.lastPingAt >= this.interval) {
        c.lastPingAt = now;
        c.awaitingPongSince = now;
        ping.call(c.transport);
      }
    }
  }
}
