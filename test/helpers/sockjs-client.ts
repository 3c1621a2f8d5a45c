/**
 * The SockJS implementation of ChatClient: the real sockjs-client 1.x, as a
 * browser would use it, pinned to one of its transports so that each is
 * tested on its own. In Node sockjs-client has the ones that need no DOM:
 * `websocket`, `xhr-streaming` and `xhr-polling` (plus `eventsource`).
 *
 * sockjs-client cannot set an Origin header in Node; origin checks are
 * tested with raw requests (test/sockjs-limits.test.ts).
 */
import SockJS from 'sockjs-client';
import { type ChatClient, type Connect, Inbox, type Msg, type Predicate } from './client.js';

export type SockJSTransportName = 'websocket' | 'xhr-streaming' | 'xhr-polling' | 'eventsource';

export interface SockJSClient extends ChatClient {
  /** The transport sockjs-client settled on (it must be the one asked for). */
  readonly via: string;
  /** The close reason the server sent, once closed. */
  readonly closeReason: Promise<string>;
}

interface CloseInfo {
  code: number;
  reason: string;
}

/** Opens a SockJS connection to `${baseUrl}/sockjs` over exactly `transport`; rejects if it cannot open. */
export function sockjsOpen(baseUrl: string, transport: SockJSTransportName, timeoutMs = 5000): Promise<SockJSClient> {
  return new Promise((resolve, reject) => {
    const sock = new SockJS(`${baseUrl}/sockjs`, undefined, { transports: [transport], timeout: timeoutMs });
    const inbox = new Inbox();
    let opened = false;
    let onClose: (info: CloseInfo) => void = () => {};
    const closedInfo = new Promise<CloseInfo>((r) => (onClose = r));
    const timer = setTimeout(() => {
      if (opened) return;
      sock.close();
      reject(new Error(`sockjs ${transport}: not open within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.onmessage = (e: { data: unknown }) => {
      inbox.push(JSON.parse(String(e.data)) as Msg);
    };
    sock.onclose = (e: { code: number; reason: string }) => {
      clearTimeout(timer);
      onClose({ code: e.code, reason: e.reason });
      if (!opened) reject(new Error(`sockjs ${transport}: closed before open (${e.code} ${e.reason})`));
    };
    sock.onopen = () => {
      opened = true;
      clearTimeout(timer);
      // sockjs-client names the transport it chose; a silent fallback would test the wrong one.
      const via = (sock as unknown as { transport?: string }).transport ?? transport;
      const client: SockJSClient = {
        transport: `sockjs/${transport}`,
        via,
        send: (msg) => sock.send(JSON.stringify(msg)),
        sendRaw: (text) => sock.send(text),
        next: (pred?: Predicate | string, timeout?: number) => inbox.next(pred, timeout),
        quiet: (pred, ms) => inbox.quiet(pred, ms),
        log: inbox.log,
        closed: closedInfo.then((c) => c.code),
        closeReason: closedInfo.then((c) => c.reason),
        close: () => sock.close(),
      };
      resolve(client);
    };
  });
}

/** A `Connect` for the shared scenarios over one SockJS transport. */
export function sockjsConnect(baseUrl: string, transport: SockJSTransportName): Connect {
  return async (opts = {}) => {
    if (opts.origin !== undefined) throw new Error('sockjs-client in Node cannot send an Origin header');
    return sockjsOpen(baseUrl, transport);
  };
}
