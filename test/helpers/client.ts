/**
 * A protocol client for tests, independent of the transport that carries it:
 * the shared scenarios talk to a ChatClient, and each transport provides a
 * `Connect` that opens one (WebSocket here; Comet and SockJS later).
 */
export interface Msg {
  cmd: string;
  [field: string]: unknown;
}

export type Predicate = (m: Msg) => boolean;

export interface ChatClient {
  readonly transport: string;
  send(msg: object): void;
  /** Sends text as-is (for malformed-input tests). */
  sendRaw(text: string): void;
  /** Resolves with the first unconsumed message that matches, consuming it; rejects after `timeoutMs`. */
  next(pred?: Predicate | string, timeoutMs?: number): Promise<Msg>;
  /** Resolves true if no matching message arrives within `ms` (does not consume). */
  quiet(pred: Predicate | string, ms: number): Promise<boolean>;
  /** Every message received so far, consumed or not. */
  readonly log: Msg[];
  /** Resolves once the connection is closed, with the close code where the transport has one. */
  readonly closed: Promise<number | undefined>;
  close(): void;
}

/** `cookie`: a Cookie header on the connection's requests, as a browser sends its site's session (not on SockJS). */
export type Connect = (opts?: { origin?: string; cookie?: string }) => Promise<ChatClient>;

function matcher(pred: Predicate | string | undefined): Predicate {
  if (pred === undefined) return () => true;
  if (typeof pred === 'string') return (m) => m.cmd === pred;
  return pred;
}

/** The inbox shared by every transport's test client. */
export class Inbox {
  readonly log: Msg[] = [];
  private readonly pending: Msg[] = [];
  private waiters: Array<{ pred: Predicate; resolve: (m: Msg) => void }> = [];

  push(m: Msg): void {
    this.log.push(m);
    const i = this.waiters.findIndex((w) => w.pred(m));
    if (i >= 0) {
      const [w] = this.waiters.splice(i, 1);
      w?.resolve(m);
    } else {
      this.pending.push(m);
    }
  }

  next(pred?: Predicate | string, timeoutMs = 5000): Promise<Msg> {
    const p = matcher(pred);
    const i = this.pending.findIndex(p);
    if (i >= 0) return Promise.resolve(this.pending.splice(i, 1)[0] as Msg);
    return new Promise((resolve, reject) => {
      const waiter = {
        pred: p,
        resolve: (m: Msg) => {
          clearTimeout(timer);
          resolve(m);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        const seen = this.pending.map((m) => JSON.stringify(m).slice(0, 200)).join('\n  ');
        reject(new Error(`no matching message within ${timeoutMs} ms; unconsumed:\n  ${seen}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  async quiet(pred: Predicate | string, ms: number): Promise<boolean> {
    const p = matcher(pred);
    const before = this.log.length;
    await new Promise((r) => setTimeout(r, ms));
    return !this.log.slice(before).some(p) && !this.pending.some(p);
  }
}
