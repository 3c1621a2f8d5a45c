/**
 * A site's backend as webim's hooks see it (docs/api.md, "Hooks"), for the
 * tests: a real HTTP server on a loopback port that checks every call's
 * signature and time as an application must (a call that does not verify
 * gets 401 and is counted), and answers
 * - login: from the site's session cookie (`site=<session>`), or refuses;
 * - publish: refuses bodies with "spam", stars out "darn";
 * - offline: records the event.
 * Each hook can be told to misbehave (slow, 500, not JSON, wrong shape),
 * so that the failure policies can be seen at work.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Test } from 'tap';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, verifyCall } from '../../src/hooks/caller.js';

export type Misbehaviour = 'slow' | 'error' | 'garbage' | 'shape' | undefined;

export interface HookCall {
  hook: string;
  [field: string]: unknown;
}

export interface HookApp {
  url: string;
  secret: string;
  /** Sessions the "site" knows: cookie value -> its user. */
  sessions: Map<string, { id: string; name: string; avatar?: string }>;
  /** Every call that verified and was answered as the site means to (not the misbehaving ones), in order. */
  calls: HookCall[];
  /** Calls refused for a bad signature or time. */
  refused: number;
  /** How each hook misbehaves now (none by default). */
  misbehave: Record<'login' | 'publish' | 'offline', Misbehaviour>;
  /** Offline calls answered 500 before the next one is taken (to see retries). */
  failOffline: number;
  close(): Promise<void>;
}

async function bodyOf(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function sessionOf(cookie: unknown): string | undefined {
  if (typeof cookie !== 'string') return undefined;
  return /(?:^|;\s*)site=([^;]+)/.exec(cookie)?.[1];
}

function answer(app: HookApp, call: HookCall): object {
  if (call.hook === 'login') {
    const headers = (call.headers ?? {}) as Record<string, string>;
    const user = app.sessions.get(sessionOf(headers.cookie) ?? '');
    if (user) return { result: 'accept', user };
    return { result: 'reject', reason: 'log in on the site first' };
  }
  if (call.hook === 'publish') {
    const body = String(call.body);
    if (body.includes('spam')) return { result: 'reject', reason: 'no spam here' };
    if (body.includes('darn')) return { result: 'replace', body: body.replaceAll('darn', 'd**n') };
    return { result: 'accept' };
  }
  return { ok: true };
}

/** Starts the app; closed at the end of the test. */
export async function startHookApp(t: Test, secret = 'hook secret of the test site'): Promise<HookApp> {
  let server: Server | undefined = undefined;
  const app: HookApp = {
    url: '',
    secret,
    sessions: new Map(),
    calls: [],
    refused: 0,
    misbehave: { login: undefined, publish: undefined, offline: undefined },
    failOffline: 0,
    close: () => new Promise((resolve) => (server ? server.close(() => resolve()) : resolve())),
  };
  server = createServer((req, res) => {
    void (async () => {
      const body = await bodyOf(req);
      const ok = verifyCall(secret, req.headers[TIMESTAMP_HEADER] as string | undefined, req.headers[SIGNATURE_HEADER] as string | undefined, body, Date.now() / 1000);
      if (!ok) {
        app.refused++;
        res.writeHead(401).end();
        return;
      }
      const call = JSON.parse(body) as HookCall;
      const hook = call.hook as 'login' | 'publish' | 'offline';
      if (hook === 'offline' && app.failOffline > 0) {
        app.failOffline--;
        res.writeHead(500).end();
        return;
      }
      const bad = app.misbehave[hook];
      if (bad === 'slow') await new Promise((r) => setTimeout(r, 1500));
      if (bad === 'error') return void res.writeHead(500).end('{"result":"accept"}');
      if (bad === 'garbage') return void res.writeHead(200, { 'content-type': 'application/json' }).end('<html>not json');
      if (bad === 'shape') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"result":42,"user":"nobody"}');
      app.calls.push(call);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer(app, call)));
    })().catch(() => res.writeHead(500).end());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  app.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
  t.teardown(() => app.close());
  return app;
}
