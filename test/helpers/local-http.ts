/**
 * HTTP requests and WebSockets from a chosen loopback address (127.0.0.2,
 * 127.0.0.3, ...: Linux answers the whole 127/8 on lo), for tests of what
 * a server believes about the client's address. fetch cannot pick its
 * source address; node:http and ws can. Each request uses a connection of
 * its own, so the address is the one asked for.
 */
import { request } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import WebSocket from 'ws';
import { Inbox, type Msg } from './client.js';

export interface LocalReply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

export interface LocalInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Source address of the connection; default 127.0.0.1. */
  from?: string;
}

export function httpFrom(url: string, init: LocalInit = {}): Promise<LocalReply> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: init.method ?? 'GET', headers: init.headers, localAddress: init.from ?? '127.0.0.1', agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(init.body);
  });
}

export interface LocalSocket {
  ws: WebSocket;
  inbox: Inbox;
  closed: Promise<number>;
}

/** Opens a WebSocket from `from`; rejects with the status when the upgrade is refused. */
export function wsFrom(url: string, from: string, headers: Record<string, string> = {}, origin?: string): Promise<LocalSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { localAddress: from, headers, ...(origin === undefined ? {} : { origin }) });
    const inbox = new Inbox();
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    ws.on('message', (data) => inbox.push(JSON.parse(String(data)) as Msg));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    ws.once('error', reject);
    ws.once('open', () => resolve({ ws, inbox, closed }));
  });
}
