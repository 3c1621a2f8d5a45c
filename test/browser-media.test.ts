/**
 * Emoji, images and looks, in chromium (issue #5): an emoji choice is sent
 * at once and shown with its code; an image chosen in the `upload` input
 * goes through POST /upload and reaches the other person as an image
 * message; screenshots of the login page and the chat view (desktop and
 * phone sizes) are kept under test-artifacts/ for people to look at.
 */
import { mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';
import t, { type Test } from 'tap';
import {
  enterChat,
  launchBrowser,
  login,
  noPageErrors,
  type OpenOptions,
  type Person,
  say,
  serverFor,
  shownMessages,
  until,
  waitForBodies,
} from './helpers/browser.js';

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const byte of buf) c = (CRC_TABLE[(c ^ byte) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** A truecolour PNG of `width` x `height`: a diagonal gradient, so that it is not one flat colour. */
function makePng(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8 bits, RGB, deflate, no filter method, no interlace
  const raw = Buffer.alloc(height * (1 + width * 3));
  for (let y = 0; y < height; y++) {
    const row = y * (1 + width * 3);
    for (let x = 0; x < width; x++) raw.set([(x * 255) / width, (y * 255) / height, 160], row + 1 + x * 3);
  }
  return Buffer.concat([PNG_SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

/** Width and height from a PNG's IHDR, or undefined when the bytes are no PNG. */
function pngSize(bytes: Buffer): { width: number; height: number } | undefined {
  if (bytes.length < 24 || !bytes.subarray(0, 8).equals(PNG_SIGNATURE) || bytes.toString('ascii', 12, 16) !== 'IHDR') return undefined;
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
}

const browser = await launchBrowser(t);

if (browser) {
  const server = serverFor;
  const enter = (t: Test, url: string, name: string, opts: OpenOptions = {}): Promise<Person> => enterChat(t, browser, url, name, opts);
  const noErrors = noPageErrors;

  t.test('an emoji chosen in the picker is sent at once and shown with its code', async (t) => {
    const url = await server(t);
    const alice = await enter(t, url, 'Emma');
    const bob = await enter(t, url, 'Ben');
    await alice.page.getByTestId('emoji-toggle').click();
    const choice = alice.page.locator('[data-testid="emoji"][data-code="thumbsup"]');
    await choice.waitFor({ state: 'visible' });
    t.ok((await alice.page.getByTestId('emoji').count()) > 5, 'the picker offers several emoji');
    const glyph = (await choice.textContent()) ?? '';
    t.ok(glyph.length > 0, 'the choice shows its glyph');
    await choice.click();
    for (const p of [alice, bob]) {
      const shown = await until(() => shownMessages(p.page), (s) => s.length === 1, `${p.name} sees the emoji message`);
      t.equal(shown[0]?.code, 'thumbsup', 'message-body carries data-code');
      t.equal(shown[0]?.body, glyph, 'and shows the glyph');
      t.equal(shown[0]?.from, alice.id);
    }
    t.notOk(await alice.page.getByTestId('emoji').first().isVisible(), 'the picker closes after a choice');
    noErrors(t, [alice, bob]);
  });

  t.test('an uploaded image reaches the other person as an image message', async (t) => {
    const url = await server(t);
    const alice = await enter(t, url, 'Iris');
    const bob = await enter(t, url, 'Ivan');
    const image = makePng(40, 30);
    t.same(pngSize(image), { width: 40, height: 30 }, 'the generated PNG is well formed');
    const uploads: number[] = [];
    alice.page.on('response', (r) => {
      if (new URL(r.url()).pathname === '/upload') uploads.push(r.status());
    });
    await alice.page.getByTestId('upload').setInputFiles({ name: 'gradient.png', mimeType: 'image/png', buffer: image });

    for (const p of [alice, bob]) {
      const shown = await until(() => shownMessages(p.page), (m) => m.length === 1, `${p.name} sees the image message`);
      const m = shown[0];
      t.match(m?.url, /^\/uploads\/[A-Za-z0-9_-]{16}\.png$/, 'the message carries the URL the server issued');
      t.equal(m?.from, alice.id, 'sent by Iris');
      t.ok(m?.inner.includes('img'), 'shown as an image');
      const img = p.page.getByTestId('message-body').locator('img');
      const width = await until(
        () => img.evaluate((el: { complete: boolean; naturalWidth: number }) => (el.complete ? el.naturalWidth : 0)),
        (w) => w > 0,
        `${p.name}'s image to load`,
      );
      t.equal(width, 40, 'the thumbnail (no bigger than the image) loaded');
      t.match(await img.getAttribute('src'), /_thumb\.png$/, 'the thumbnail is shown');
    }
    t.same(uploads, [200], 'one upload, accepted');
    const issued = (await shownMessages(bob.page))[0]?.url ?? '';
    const served = await fetch(`${url}${issued}`);
    t.equal(served.status, 200);
    t.match(served.headers.get('content-type'), /^image\/png/);
    t.same(pngSize(Buffer.from(await served.arrayBuffer())), { width: 40, height: 30 }, 'the stored image is the one uploaded');
    t.equal(await alice.page.getByTestId('upload').inputValue(), '', 'the upload input is reset');
    noErrors(t, [alice, bob]);
  });

  t.test('screenshots of the login page and the chat view', async (t) => {
    const url = await server(t);
    mkdirSync(ARTIFACTS, { recursive: true });
    const shots = ['login-1280x800.png', 'chat-1280x800.png', 'login-375x740.png', 'chat-375x740.png'];
    for (const f of shots) rmSync(`${ARTIFACTS}${f}`, { force: true });

    const desk = await enter(t, url, 'Desk', { noLogin: true });
    await desk.page.getByTestId('login-name').waitFor({ state: 'visible' });
    await desk.page.screenshot({ path: `${ARTIFACTS}login-1280x800.png` });
    const phone = await enter(t, url, 'Phone', { noLogin: true, viewport: { width: 375, height: 740 } });
    await phone.page.getByTestId('login-name').waitFor({ state: 'visible' });
    await phone.page.screenshot({ path: `${ARTIFACTS}login-375x740.png` });

    desk.id = await login(desk.page, 'Desk');
    phone.id = await login(phone.page, 'Phone');
    await say(desk.page, 'Hello from a wide screen');
    await desk.page.getByTestId('emoji-toggle').click();
    await desk.page.locator('[data-testid="emoji"][data-code="wave"]').click();
    await say(phone.page, 'And hello from a phone, with a longer line that has to wrap on a narrow screen');
    const lines = ['Hello from a wide screen', 'And hello from a phone, with a longer line that has to wrap on a narrow screen'];
    for (const p of [desk, phone]) await waitForBodies(p.page, lines);
    await until(() => shownMessages(phone.page), (m) => m.length === 3, 'three messages on the phone');
    await desk.page.screenshot({ path: `${ARTIFACTS}chat-1280x800.png` });
    await phone.page.screenshot({ path: `${ARTIFACTS}chat-375x740.png` });

    for (const f of shots) {
      const bytes = readFileSync(`${ARTIFACTS}${f}`);
      t.ok(statSync(`${ARTIFACTS}${f}`).size > 1000, `${f} is written and not empty`);
      const [w, h] = (/(\d+)x(\d+)/.exec(f) ?? []).slice(1).map(Number);
      t.same(pngSize(bytes), { width: w, height: h }, `${f} is a ${w}x${h} PNG`);
    }
    const overflow = await phone.page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth');
    t.equal(overflow, 0, 'the chat fits a 375 px wide screen with no sideways scrolling');
    noErrors(t, [desk, phone]);
  });
}
