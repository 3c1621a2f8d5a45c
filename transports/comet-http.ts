/**
 * How the Comet transport (comet.ts) reads its requests and writes its
 * answers, for every kind of browser that reaches it: JSON for XHR, a
 * script for JSONP (always status 200: a script tag cannot read a status),
 * status 200 too for XDomainRequest when the client says so with `xdr=1`
 * (IE8-9 see no body but a 2xx one), and a small HTML page for a form
 * posted into a hidden iframe (IE6-8 offer to download anything else a
 * frame loads).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { callbackParam, sendJsonp } from '../src/common/jsonp.js';

export { callbackParam };

function one(v: unknown): string | undefined {
  if (Array.isArray(v)) return typeof v[0] === 'string' ? v[0] : undefined;
  return typeof v === 'string' ? v : undefined;
}

export function query(req: FastifyRequest, name: string): string | undefined {
  return one((req.query as Record<string, unknown>)[name]);
}

/** The client's number of a send request (`b`), which makes its repeats harmless; undefined when it has none. */
export function batchNumber(req: FastifyRequest): number | undefined {
  const b = query(req, 'b');
  return b !== undefined && /^[1-9]\d{0,14}$/.test(b) ? Number(b) : undefined;
}

/** A form posted into a hidden iframe: answered as a page, never as JSON or a script. */
export function isFramePost(req: FastifyRequest): boolean {
  return req.method === 'POST' && batchNumber(req) !== undefined && /^application\/x-www-form-urlencoded/i.test(req.headers['content-type'] ?? '');
}

/** Sends a JSON answer in the form the request can read. */
export function answer(req: FastifyRequest, reply: FastifyReply, status: number, json: string): void {
  if (reply.sent) return;
  const callback = callbackParam(req).value;
  if (callback !== undefined) {
    void sendJsonp(reply, callback, json);
  } else if (isFramePost(req)) {
    // The page only has to load: the client learns the outcome from its poll (`received`), since a frame of another
    // origin cannot be read. The JSON is kept inside for a frame of the same origin and for people debugging.
    const safe = json.replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');
    void reply.code(status).type('text/html; charset=utf-8').send(`<!DOCTYPE html><html><body>${safe}</body></html>`);
  } else {
    void reply.code(query(req, 'xdr') === '1' ? 200 : status).type('application/json; charset=utf-8').send(json);
  }
}

export function fail(req: FastifyRequest, reply: FastifyReply, status: number, error: string): void {
  answer(req, reply, status, JSON.stringify({ error }));
}

/**
 * Reads and drops what a refused client is still sending, within bounds, so
 * that a proxy in front sees a whole exchange and relays our 413 instead of
 * turning a reset connection into a 502.
 */
export function drain(req: FastifyRequest, maxBytes: number, maxMs: number): Promise<void> {
  const raw = req.raw;
  if (raw.readableEnded || raw.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    let seen = 0;
    const done = () => {
      clearTimeout(timer);
      raw.off('data', onData);
      raw.off('end', done);
      raw.off('close', done);
      resolve();
    };
    const onData = (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > maxBytes) done();
    };
    const timer = setTimeout(done, maxMs);
    raw.on('data', onData);
    raw.once('end', done);
    raw.once('close', done);
    raw.resume();
  });
}
