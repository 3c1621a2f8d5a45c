/**
 * The offline hook's queue: a message stored for a user who is online on
 * no node becomes an event the application is told of (a push, an
 * e-mail). Fire and forget for the chat: nothing waits for it. An event
 * the application does not take (timeout, error) is tried again after 1 s,
 * 2 s, 4 s ... up to five times; the queue holds at most
 * `--hook-offline-queue` events, and past that the oldest is dropped.
 * Both kinds of loss are counted (`webim_hook_offline_dropped_total`).
 */
import type { Log } from '../log.js';
import type { StoredMessage } from '../types.js';
import { type HookCaller, HookFailure, type HookStats } from './caller.js';


const ATTEMPTS = 5;
const FIRST_RETRY_MS = 1000;
/** Events sent at once: enough to keep up with a chat, few enough not to flood the application. */
const CONCURRENCY = 4;

interface OfflineEvent {
  user: string;
  message: StoredMessage;
  attempts: number;
}

export class OfflineQueue {
  private readonly queue: OfflineEvent[] = [];
  private running = 0;
  /** Events waiting out a retry: they count against the limit like the queued ones. */
  private readonly timers = new Map<NodeJS.Timeout, OfflineEvent>();
  private closed = false;

  constructor(
    private readonly caller: HookCaller,
    private readonly url: string,
    private readonly limit: number,
    private readonly stats: HookStats,
    private readonly log: Log,
  ) {}

  push(user: string, message: StoredMessage): void {
    if (this.closed) return;
    if (this.size() >= this.limit) {
      this.stats.offlineDropped++;
      // The oldest goes; when every waiting event is a retry, the new one does.
      if (this.queue.length === 0) return;
      this.queue.shift();
    }
    this.queue.push({ user, message, attempts: 0 });
    this.count();
    this.pump();
  }

  private size(): number {
    return this.queue.length + this.timers.size;
  }

  private count(): void {
    this.stats.offlineQueued = this.size();
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers.keys()) clearTimeout(t);
    this.timers.clear();
    this.queue.length = 0;
    this.stats.offlineQueued = 0;
  }

  private pump(): void {
    while (this.running < CONCURRENCY && this.queue.length > 0 && !this.closed) {
      const event = this.queue.shift() as OfflineEvent;
      this.count();
      this.running++;
      void this.send(event).finally(() => {
        this.running--;
        this.pump();
      });
    }
  }

  private async send(event: OfflineEvent): Promise<void> {
    try {
      await this.caller.call('offline', this.url, { user: event.user, message: event.message });
    } catch (err) {
      event.attempts++;
      const why = err instanceof HookFailure ? err.kind : 'network';
      if (event.attempts >= ATTEMPTS || this.closed) {
        this.stats.offlineDropped++;
        this.log.warn({ user: event.user, channel: event.message.channel, why }, 'offline hook gave up on an event');
        return;
      }
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        if (this.closed) return;
        this.queue.unshift(event);
        this.count();
        this.pump();
      }, FIRST_RETRY_MS * 2 ** (event.attempts - 1));
      timer.unref();
      this.timers.set(timer, event);
      this.count();
    }
  }
}
