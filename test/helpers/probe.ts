/**
 * A bare WebSocket client for hostile-input tests: it sends text or binary
 * frames exactly as given (no JSON round trip, so duplicate keys, `1e999`
 * and 10,000-level nesting reach the server as written) and keeps every
 * frame it receives, in order, with a cursor for "what came since".
 */
import WebSocket from 'ws';
import type { Msg } from './client.js';

export class Probe {
  readonly received: Msg[] = [];
  closedCode: number | undefined;
  private wake: (() => void) | undefined;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.received.push(JSON.parse(String(data)) as Msg);
      this.wake?.();
    });
    ws.on('close', (code) => {
      this.closedCode = code;
      this.wake?.();
    });
  }

  static open(baseUrl: string, opts: WebSocket.ClientOptions = {}): Promise<Probe> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(baseUrl.replace(/^http/, 'ws') + '/ws', opts);
      ws.once('open', () => resolve(new Probe(ws)));
      ws.once('error', reject);
    });
  }

  get closed(): boolean {
    return this.closedCode !== undefined;
  }

  send(data: string | Buffer): void {
    this.ws.send(data, { binary: Buffer.isBuffer(data) });
  }

  /**
   * Waits until `done(frames since index from)` holds or the socket closes;
   * resolves with those frames, or rejects after `timeoutMs`.
   */
  async until(from: number, done: (since: Msg[]) => boolean, timeoutMs = 5000): Promise<Msg[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const since = this.received.slice(from);
      if (done(since) || this.closed) return since;
      const left = deadline - Date.now();
      if (left <= 0) {
        const seen = since.map((m) => JSON.stringify(m).slice(0, 200)).join('\n  ');
        throw new Error(`no expected frame within ${timeoutMs} ms; received:\n  ${seen}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  /** Logs in (with the token of an earlier login of the name, if given) and resolves with the `login` answer. */
  async login(name: string, token?: string): Promise<Msg> {
    const from = this.received.length;
    this.send(JSON.stringify(token === undefined ? { cmd: 'login', name } : { cmd: 'login', name, token }));
    const got = await this.until(from, (s) => s.some((m) => m.cmd === 'login' || m.cmd === 'error'));
    const answer = got.find((m) => m.cmd === 'login' || m.cmd === 'error');
    if (answer?.cmd !== 'login') throw new Error(`login of ${name} refused: ${JSON.stringify(answer)}`);
    return answer;
  }

  close(): void {
    this.ws.terminate();
  }
}
