/**
 * Image uploads (issue #5): `POST /upload?token=<login token>` with one
 * multipart field `file`. The image is decoded with sharp (so only real
 * PNG, JPEG, GIF and WebP files pass, whatever the client claims),
 * re-encoded without its metadata (no EXIF location leaks), and a
 * thumbnail is made beside it. Files are served under `/uploads/`.
 *
 * An `image` message may carry only a URL issued here.
 *
 * Pages of other origins upload too (issue 22): XHR gets CORS headers
 * from the allowed origins, and old IE, which posts into a hidden iframe
 * it cannot read across origins, adds `key=<its own name for the upload>`
 * and asks `GET /upload/result?token=...&key=...` (JSONP) for the outcome.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import multipart from '@fastify/multipart';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import sharp from 'sharp';
import type { TokenService } from '../auth/tokens.js';
import { type ErrorCode, ErrorCodes } from '../errors.js';
import { claimedOrigin, type OriginCheck } from '../common/origin.js';
import { callbackParam, sendJsonp } from '../common/jsonp.js';
import { UPLOAD_KEY, type UploadOutcome, UploadResults } from './upload-results.js';

const FORMATS: Record<string, string> = { png: 'png', jpeg: 'jpg', gif: 'gif', webp: 'webp' };
const ISSUED = /^\/uploads\/([A-Za-z0-9_-]{16})\.(png|jpg|gif|webp)$/;
/** Decompression bombs: a tiny file may claim a huge canvas. */
const MAX_PIXELS = 40_000_000;

export interface UploadOptions {
  dir: string;
  maxBytes: number;
  thumbSize: number;
  tokens: TokenService;
  originAllowed: OriginCheck;
}

/** Knows which image URLs this server issued. */
export class UploadRegistry {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  issued(url: string): boolean {
    const m = ISSUED.exec(url);
    return m !== null && existsSync(join(this.dir, `${m[1]}.${m[2]}`));
  }
}

/** JSON for XHR; for the hidden-iframe form post of old IE, the same JSON inside an HTML page it can read. */
function respond(req: FastifyRequest, reply: FastifyReply, status: number, body: object): FastifyReply {
  const json = JSON.stringify(body);
  if ((req.headers.accept ?? '').includes('application/json')) return reply.code(status).type('application/json; charset=utf-8').send(json);
  const safe = json.replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');
  return reply.code(status).type('text/html; charset=utf-8').send(`<!DOCTYPE html><html><body>${safe}</body></html>`);
}

function refuse(req: FastifyRequest, reply: FastifyReply, code: ErrorCode, message: string): FastifyReply {
  const { status, body } = refusal(code, message);
  return respond(req, reply, status, body);
}

/** Why an upload was refused: it is no image sharp reads, or its canvas is over MAX_PIXELS. */
type Refusal = 'not_an_image' | 'too_many_pixels';

/** The image's header, or why it is refused. */
async function inspect(input: Buffer): Promise<sharp.Metadata | Refusal> {
  try {
    return await sharp(input, { limitInputPixels: MAX_PIXELS }).metadata();
  } catch {
    // Tell a canvas over the limit from a file that is no image. Reading the header without the
    // limit decodes no pixels, so a decompression bomb costs nothing here.
    const header = await sharp(input, { limitInputPixels: false }).metadata().catch(() => undefined);
    const pixels = (header?.width ?? 0) * (header?.height ?? 0);
    return pixels > MAX_PIXELS ? 'too_many_pixels' : 'not_an_image';
  }
}

async function store(input: Buffer, opts: UploadOptions): Promise<{ url: string; thumb: string } | Refusal> {
  const meta = await inspect(input);
  if (typeof meta === 'string') return meta;
  const ext = meta.format ? FORMATS[meta.format] : undefined;
  if (!ext || meta.format === undefined) return 'not_an_image';
  const animated = meta.format === 'gif' || meta.format === 'webp';
  const image = () => sharp(input, { limitInputPixels: MAX_PIXELS, animated }).rotate();
  const format = meta.format as keyof sharp.FormatEnum;
  let full: Buffer;
  let thumb: Buffer;
  try {
    [full, thumb] = await Promise.all([
      image().toFormat(format).toBuffer(),
      image().resize(opts.thumbSize, opts.thumbSize, { fit: 'inside', withoutEnlargement: true }).toFormat(format).toBuffer(),
    ]);
  } catch {
    // All frames of an animation are decoded at once, so together they may pass the limit that the
    // first alone did not; otherwise a sound header sat over broken pixel data: no image (not a 500).
    const frames = animated ? (meta.pages ?? 1) : 1;
    const pixels = (meta.width ?? 0) * (meta.pageHeight ?? meta.height ?? 0) * frames;
    return pixels > MAX_PIXELS ? 'too_many_pixels' : 'not_an_image';
  }
  const id = randomBytes(12).toString('base64url');
  await writeFile(join(opts.dir, `${id}_thumb.${ext}`), thumb);
  // The full image last: once it exists the URL counts as issued.
  await writeFile(join(opts.dir, `${id}.${ext}`), full);
  return { url: `/uploads/${id}.${ext}`, thumb: `/uploads/${id}_thumb.${ext}` };
}

function refusal(code: ErrorCode, message: string): UploadOutcome {
  return { status: ErrorCodes[code].status, body: { error: code, message } };
}

/** Reads the multipart image and stores it: the answer's status and body. */
async function receive(req: FastifyRequest, opts: UploadOptions): Promise<UploadOutcome> {
  if (!req.isMultipart()) return refusal('bad_request', 'send the image as multipart/form-data, field "file"');
  const file = await req.file();
  if (!file || file.fieldname !== 'file') return refusal('bad_request', 'no field "file"');
  let input: Buffer;
  try {
    input = await file.toBuffer();
  } catch (err) {
    if ((err as { code?: string }).code === 'FST_REQ_FILE_TOO_LARGE') return refusal('too_large', `images are limited to ${opts.maxBytes} bytes`);
    throw err;
  }
  const saved = await store(input, opts);
  if (saved === 'too_many_pixels') return refusal('bad_request', `images are limited to ${MAX_PIXELS / 1_000_000} megapixels (width times height)`);
  if (saved === 'not_an_image') return refusal('bad_request', 'not a PNG, JPEG, GIF or WebP image');
  return { status: 200, body: saved };
}

function param(req: FastifyRequest, name: string): string | undefined {
  const v = (req.query as Record<string, unknown>)[name];
  return typeof v === 'string' ? v : undefined;
}

export default async function uploads(app: FastifyInstance, opts: UploadOptions): Promise<void> {
  const results = new UploadResults();
  /** Origins as on every transport (by Referer where there is no Origin: old IE's form post, a script tag). */
  const checkOrigin = async (req: FastifyRequest, reply: FastifyReply) => {
    const origin = req.headers.origin;
    const claimed = claimedOrigin(req.headers);
    if (claimed !== undefined && !opts.originAllowed(claimed, req)) return refuse(req, reply, 'forbidden', 'this page\'s origin may not upload here');
    if (origin !== undefined) void reply.header('Access-Control-Allow-Origin', origin).header('Vary', 'Origin');
    return undefined;
  };

  await app.register(multipart, { limits: { fileSize: opts.maxBytes, files: 1, fields: 4, parts: 5 } });
  await app.register(fastifyStatic, {
    root: opts.dir,
    prefix: '/uploads/',
    decorateReply: false,
    index: false,
    list: false,
    setHeaders: (res) => {
      res.setHeader('X-Content-Type-Options', 'nosniff');
      res.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
    },
  });

  app.get('/upload/result', { onRequest: checkOrigin }, async (req, reply) => {
    const token = param(req, 'token');
    const key = param(req, 'key') ?? '';
    const callback = callbackParam(req);
    if (callback.bad) return reply.code(400).type('application/json; charset=utf-8').send({ error: 'bad_request' });
    void reply.header('Cache-Control', 'no-store');
    const who = token !== undefined ? await opts.tokens.verify(token) : undefined;
    const outcome = !who
      ? { status: 401, body: { error: 'unauthorized', message: 'log in first' } }
      : !UPLOAD_KEY.test(key)
        ? { status: 400, body: { error: 'bad_request', message: 'no upload key' } }
        : (results.get(who.id, key) ?? { status: 404, body: { error: 'not_found', message: 'no upload with that key (yet)' } });
    const json = JSON.stringify(outcome.body);
    if (callback.value !== undefined) return sendJsonp(reply, callback.value, json);
    return reply.code(outcome.status).type('application/json; charset=utf-8').send(json);
  });

  app.post('/upload', { onRequest: checkOrigin }, async (req, reply) => {
    const token = (req.query as Record<string, unknown>).token;
    const who = typeof token === 'string' ? await opts.tokens.verify(token) : undefined;
    if (!who) return refuse(req, reply, 'unauthorized', 'log in first: the upload needs your login token');
    const outcome = await receive(req, opts);
    const key = param(req, 'key');
    // Kept before the answer leaves, so that the page that cannot read it finds it when it asks.
    if (key !== undefined && UPLOAD_KEY.test(key)) results.put(who.id, key, outcome);
    if (outcome.status === 200) req.log.info({ user: who.id, url: (outcome.body as { url: string }).url }, 'image uploaded');
    return respond(req, reply, outcome.status, outcome.body);
  });
}
