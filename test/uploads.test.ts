/**
 * Image uploads: only logged-in users, only real images, bounded size,
 * metadata stripped, a thumbnail beside each, and `image` messages limited
 * to URLs the server issued.
 */
import t from 'tap';
import sharp from 'sharp';
import { startServer } from './helpers/server.js';
import { wsConnect } from './helpers/ws-client.js';
import { login } from './scenarios/chat.js';

async function png(width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 200, g: 40, b: 90 } } }).png().toBuffer();
}

/** CRC-32 of PNG chunks (ISO 3309), bit by bit: a few bytes only. */
function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

/** A small PNG whose header claims a width x height canvas (as a decompression bomb's does); its pixels are never decoded. */
async function pngClaiming(width: number, height: number): Promise<Buffer> {
  const out = Buffer.from(await png(1, 1));
  // IHDR is the first chunk: length at 8, type at 12, width and height at 16 and 20, CRC of type and data at 29.
  out.writeUInt32BE(width, 16);
  out.writeUInt32BE(height, 20);
  out.writeUInt32BE(crc32(out.subarray(12, 29)), 29);
  return out;
}

function form(data: Buffer, name = 'photo.png', type = 'image/png', field = 'file'): FormData {
  const f = new FormData();
  f.append(field, new Blob([data], { type }), name);
  return f;
}

const JSON_ACCEPT = { accept: 'application/json' };

t.test('uploads', async (t) => {
  const s = await startServer({ uploadMaxBytes: 200_000 });
  t.teardown(() => s.close());
  const connect = wsConnect(s.url);
  const { c: alice, me } = await login(connect, 'Alice');
  const { c: bob } = await login(connect, 'Bob');
  const token = encodeURIComponent(me.token as string);
  const post = (body: FormData, query = `?token=${token}`, headers: Record<string, string> = JSON_ACCEPT) =>
    fetch(`${s.url}/upload${query}`, { method: 'POST', body, headers });

  t.test('refuses anyone without a valid login token', async (t) => {
    const none = await post(form(await png(10, 10)), '');
    t.equal(none.status, 401);
    t.same(((await none.json()) as { error: string }).error, 'unauthorized');
    const bad = await post(form(await png(10, 10)), '?token=forged');
    t.equal(bad.status, 401);
  });

  t.test('refuses what is not an image, whatever its name and type say', async (t) => {
    const r = await post(form(Buffer.from('<script>alert(1)</script>'), 'x.png', 'image/png'));
    t.equal(r.status, 400);
    t.match(await r.json(), { error: 'bad_request', message: /not a PNG, JPEG, GIF or WebP image/ });
    const broken = await post(form(await pngClaiming(100, 100)));
    t.equal(broken.status, 400, 'a PNG header over pixel data that does not decode');
    t.match(await broken.json(), { error: 'bad_request', message: /not a PNG, JPEG, GIF or WebP image/ });
  });

  t.test('refuses an image of more than 40 megapixels, saying so', async (t) => {
    const r = await post(form(await pngClaiming(8000, 5001)));
    t.equal(r.status, 400);
    const body = (await r.json()) as { error: string; message: string };
    t.equal(body.error, 'bad_request');
    t.match(body.message, /40 megapixels/, 'the message names the pixel limit');
    t.notMatch(body.message, /not a PNG/, 'and does not call it no image');
  });

  t.test('refuses an image over the size limit with too_large', async (t) => {
    const noise = await sharp(Buffer.from(Array.from({ length: 400 * 400 * 3 }, (_, i) => (i * 7919) % 251)), {
      raw: { width: 400, height: 400, channels: 3 },
    }).png({ compressionLevel: 0 }).toBuffer();
    t.ok(noise.length > 200_000);
    const r = await post(form(noise));
    t.equal(r.status, 413);
    t.equal(((await r.json()) as { error: string }).error, 'too_large');
  });

  t.test('stores the image without metadata, with a thumbnail, and serves both', async (t) => {
    const jpeg = await sharp({ create: { width: 800, height: 400, channels: 3, background: '#3366cc' } })
      .jpeg()
      .withMetadata({ exif: { IFD0: { Copyright: 'secret-location' } } })
      .toBuffer();
    t.ok((await sharp(jpeg).metadata()).exif, 'the upload carries EXIF');
    const r = await post(form(jpeg, 'holiday.jpg', 'image/jpeg'));
    t.equal(r.status, 200);
    const { url, thumb } = (await r.json()) as { url: string; thumb: string };
    t.match(url, /^\/uploads\/[A-Za-z0-9_-]{16}\.jpg$/);
    t.equal(thumb, url.replace('.jpg', '_thumb.jpg'));
    const full = await fetch(s.url + url);
    t.equal(full.status, 200);
    t.equal(full.headers.get('content-type'), 'image/jpeg');
    t.equal(full.headers.get('x-content-type-options'), 'nosniff');
    const stored = await sharp(Buffer.from(await full.arrayBuffer())).metadata();
    t.equal(stored.exif, undefined, 'EXIF is stripped');
    t.same([stored.width, stored.height], [800, 400]);
    const small = await sharp(Buffer.from(await (await fetch(s.url + thumb)).arrayBuffer())).metadata();
    t.same([small.width, small.height], [240, 120], 'the thumbnail fits 240x240');

    alice.send({ cmd: 'send', to: { room: 'lobby' }, type: 'image', body: url, cid: 'img1' });
    t.equal((await alice.next('ack')).cid, 'img1');
    const got = await bob.next((m) => m.cmd === 'message' && m.type === 'image');
    t.equal(got.body, url);
  });

  t.test('an image message must carry a URL this server issued', async (t) => {
    alice.send({ cmd: 'send', to: { room: 'lobby' }, type: 'image', body: '/uploads/AAAAAAAAAAAAAAAA.png', cid: 'img2' });
    const err = await alice.next('error');
    t.equal(err.code, 'bad_request');
    t.equal(err.ref, 'img2');
  });

  t.test('the hidden-iframe form post of old IE gets the JSON inside HTML', async (t) => {
    const r = await post(form(await png(30, 30)), `?token=${token}`, {});
    t.equal(r.status, 200);
    t.match(r.headers.get('content-type') ?? '', /^text\/html/);
    const html = await r.text();
    const json = /<body>(.*)<\/body>/.exec(html)?.[1] ?? '';
    t.match(JSON.parse(json), { url: /^\/uploads\/.+\.png$/ });
  });

  t.test('the uploads folder is not listed and cannot be escaped', async (t) => {
    t.ok([403, 404].includes((await fetch(`${s.url}/uploads/`)).status), 'no directory listing');
    t.not((await fetch(`${s.url}/uploads/..%2f..%2fpackage.json`)).status, 200);
  });
});
