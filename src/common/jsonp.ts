/**
 * JSONP answers (docs/protocol.md section 4), for the endpoints a script tag
 * reads: Comet and the upload result old IE asks for. A callback is a
 * dotted name of at most four parts, never anything a script could run
 * otherwise; the answer is `/**\/NAME(JSON);` as JavaScript that is never
 * sniffed as anything else.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';

const CALLBACK = /^[A-Za-z_$][A-Za-z0-9_$]{0,63}(\.[A-Za-z_$][A-Za-z0-9_$]{0,63}){0,3}$/;

/** The request's callback; `bad` when one was given that is no name (or given twice: refused rather than guessed). */
export function callbackParam(req: FastifyRequest): { value?: string; bad: boolean } {
  const v = (req.query as Record<string, unknown>).callback;
  if (v === undefined) return { bad: false };
  if (typeof v !== 'string' || !CALLBACK.test(v)) return { bad: true };
  return { value: v, bad: false };
}

/** JSON may hold U+2028 and U+2029 raw, but a script before ES2019 reads them as line ends. */
function scriptSafe(json: string): string {
  return json.replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/** Sends `json` as a call of `callback`, always with status 200: a script tag cannot read a status. */
export function sendJsonp(reply: FastifyReply, callback: string, json: string): FastifyReply {
  return reply
    .code(200)
    .type('application/javascript; charset=utf-8')
    .header('X-Content-Type-Options', 'nosniff')
    .send(`/**/${callback}(${scriptSafe(json)});`);
}
