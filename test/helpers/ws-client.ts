import WebSocket from 'ws';
import { type ChatClient, type Connect, Inbox, type Msg, type Predicate } from './client.js';

export function wsConnect(baseUrl: string): Connect {
  const url = baseUrl.replace(/^http/, 'ws') + '/ws';
  return (opts = {}) =>
    new Promise((resolve, reject) => {
      const headers = opts.cookie === undefined ? undefined : { cookie: opts.cookie };
      const ws = new WebSocket(url, { ...(opts.origin ? { origin: opts.origin } : {}), ...(headers ? { headers } : {}) });
      const inbox = new Inbox();
      const closed = new Promise<number | undefined>((r) => ws.once('close', (code) => r(code)));
      ws.on('message', (data) => inbox.push(JSON.parse(String(data)) as Msg));
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
      ws.once('open', () => {
        const client: ChatClient = {
          transport: 'websocket',
          send: (msg) => ws.send(JSON.stringify(msg)),
          sendRaw: (text) => ws.send(text),
          next: (pred?: Predicate | string, timeoutMs?: number) => inbox.next(pred, timeoutMs),
          quiet: (pred, ms) => inbox.quiet(pred, ms),
          log: inbox.log,
          closed,
          close: () => ws.close(),
        };
        resolve(client);
      });
    });
}
