/**
 * Browser end-to-end helpers: launches Debian's chromium through
 * playwright-core (no downloaded browser), opens one empty context per
 * person, logs in through the page's own form and reads what the page
 * shows through the data-testid hooks of UI.md.
 *
 * Where no chromium is found, a test file fails loudly under CI (env CI
 * set) and is skipped elsewhere, with the reason printed.
 */
import { existsSync } from 'node:fs';
import { type Browser, type BrowserContext, type CDPSession, chromium, type Locator, type Page } from 'playwright-core';
import type { Test } from 'tap';
import { startServer } from './server.js';

export const CHROMIUM_ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Where chromium is (env WEBIM_CHROMIUM, else /usr/bin/chromium), or why there is none. */
export function findChromium(): { path: string } | { reason: string } {
  const fromEnv = process.env.WEBIM_CHROMIUM;
  if (fromEnv) return existsSync(fromEnv) ? { path: fromEnv } : { reason: `WEBIM_CHROMIUM=${fromEnv} does not exist` };
  if (existsSync('/usr/bin/chromium')) return { path: '/usr/bin/chromium' };
  return { reason: 'no /usr/bin/chromium and WEBIM_CHROMIUM is not set' };
}

/**
 * One chromium for the whole test file, closed at its end; undefined when
 * there is none (the file then has a failure under CI, a skip elsewhere).
 */
export async function launchBrowser(t: Test): Promise<Browser | undefined> {
  const found = findChromium();
  if ('reason' in found) {
    const why = `browser tests need chromium: ${found.reason} (apt-get install chromium, or set WEBIM_CHROMIUM)`;
    if (process.env.CI) {
      console.error(`FAIL: ${why}`);
      t.fail(why);
    } else {
      console.log(`# skipping: ${why}`);
      t.plan(0, why); // the whole file is reported as skipped, with the reason
    }
    return undefined;
  }
  const browser = await chromium.launch({ executablePath: found.path, args: CHROMIUM_ARGS, timeout: 30000 });
  t.teardown(() => browser.close());
  return browser;
}

export interface Person {
  name: string;
  /** The user id the page shows in `me`'s data-user. */
  id: string;
  context: BrowserContext;
  page: Page;
  /** Uncaught errors of the page and of every frame in it, iframes included (playwright's `pageerror` covers them all). */
  errors: string[];
  /** alert/confirm/prompt texts the page tried to show (all dismissed). */
  dialogs: string[];
  /** Every URL the page and its frames requested. */
  requests: string[];
}

export interface OpenOptions {
  /** Query string with its `?`, such as `?transport=comet`. */
  query?: string;
  viewport?: { width: number; height: number };
  /** Runs in the page before any of its own scripts. */
  initScript?: string;
  /** URL patterns (playwright globs) whose requests fail, as if the file could not load. */
  block?: string[];
  /** Stop at the login form (default: log in). */
  noLogin?: boolean;
  /** Called with the page before it loads anything, to watch its requests from the first. */
  onPage?: (page: Page) => void;
}

/** A new empty context with one page on the chat, logged in as `name` unless told otherwise. */
export async function openChat(browser: Browser, baseUrl: string, name: string, opts: OpenOptions = {}): Promise<Person> {
  const context = await browser.newContext({ viewport: opts.viewport ?? { width: 1280, height: 800 } });
  context.setDefaultTimeout(15000);
  if (opts.initScript !== undefined) await context.addInitScript(opts.initScript);
  for (const pattern of opts.block ?? []) await context.route(pattern, (route) => route.abort());
  const page = await context.newPage();
  const person: Person = { name, id: '', context, page, errors: [], dialogs: [], requests: [] };
  page.on('pageerror', (err) => person.errors.push(err.message));
  page.on('request', (req) => person.requests.push(req.url()));
  page.on('dialog', (d) => {
    person.dialogs.push(d.message());
    void d.dismiss().catch(() => undefined);
  });
  opts.onPage?.(page);
  await page.goto(`${baseUrl}/${opts.query ?? ''}`);
  if (!opts.noLogin) person.id = await login(page, name);
  return person;
}

/** Logs in through the form; resolves to the own user id once the chat view shows it. */
export async function login(page: Page, name: string): Promise<string> {
  await page.getByTestId('login-name').fill(name);
  await page.getByTestId('login-submit').click();
  const me = page.getByTestId('me');
  try {
    await until(() => me.textContent(), (text) => text === name, `"${name}" shown as logged in`);
  } catch (err) {
    const refused = await page.getByTestId('login-error').textContent().catch(() => null);
    throw new Error(`${(err as Error).message}; login-error says: ${JSON.stringify(refused)}`);
  }
  await page.getByTestId('conversation').filter({ visible: true }).waitFor();
  const id = await me.getAttribute('data-user');
  if (!id) throw new Error(`no data-user on "me" after ${name} logged in`);
  return id;
}

/** Polls `read` until `ok` holds; the error names `what` and the last value seen. */
export async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, what: string, timeoutMs = 10000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let failure: unknown;
  for (;;) {
    try {
      last = await read();
      failure = undefined;
      if (ok(last)) return last;
    } catch (err) {
      failure = err;
    }
    if (Date.now() > deadline) {
      const seen = failure !== undefined ? String(failure) : JSON.stringify(last);
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last seen: ${seen}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The conversation on screen (UI.md: only the visible one counts). */
export function conversation(page: Page): Locator {
  return page.getByTestId('conversation').filter({ visible: true });
}

export async function channelShown(page: Page): Promise<string | null> {
  return conversation(page).getAttribute('data-channel');
}

/** What the page functions below use of the DOM (the compilation has no DOM lib). */
interface PageElement {
  readonly tagName: string;
  readonly textContent: string | null;
  getAttribute(name: string): string | null;
  querySelector(selector: string): PageElement | null;
  getElementsByTagName(tag: string): ArrayLike<PageElement>;
  getClientRects(): ArrayLike<unknown>;
}
declare const document: { querySelectorAll(selector: string): ArrayLike<PageElement> };

const sessions = new WeakMap<Page, Promise<CDPSession>>();

/**
 * Runs `fn` in the page and brings back its (JSON-like) result through the
 * DevTools protocol. page.evaluate cannot do this on a "legacy" page:
 * playwright's own in-page helper needs Function.prototype.bind and JSON,
 * which that page has removed. `fn` must itself do without them: plain
 * loops, no ES5 array methods.
 */
export async function inPage<T>(page: Page, fn: () => T): Promise<T> {
  let session = sessions.get(page);
  if (!session) {
    session = page.context().newCDPSession(page);
    sessions.set(page, session);
  }
  const answer = await (await session).send('Runtime.evaluate', { expression: `(${fn.toString()})()`, returnByValue: true });
  if (answer.exceptionDetails) throw new Error(`in-page function failed: ${answer.exceptionDetails.exception?.description ?? answer.exceptionDetails.text}`);
  // the protocol types a by-value result as `any`: it is whatever fn returned, as JSON
  return answer.result.value as T;
}

export interface ShownMessage {
  id: string;
  offset: number;
  from: string;
  body: string;
  /** data-code of the body (emoji), else null. */
  code: string | null;
  /** data-url of the body (image), else null. */
  url: string | null;
  /** Tag names of the elements inside message-body, lower case. */
  inner: string[];
}

/** The messages of the visible conversation, in page order. */
export async function shownMessages(page: Page): Promise<ShownMessage[]> {
  return inPage(page, () => {
    const out: ShownMessage[] = [];
    const convs = document.querySelectorAll('[data-testid="conversation"]');
    let conv: PageElement | undefined;
    for (let i = 0; i < convs.length; i++) {
      const c = convs[i] as PageElement;
      if (c.getClientRects().length > 0) conv = c;
    }
    const nodes = conv ? conv.getElementsByTagName('*') : [];
    for (let i = 0; i < nodes.length; i++) {
      const m = nodes[i] as PageElement;
      if (m.getAttribute('data-testid') !== 'message') continue;
      const body = m.querySelector('[data-testid="message-body"]');
      const inner: string[] = [];
      const all = body ? body.getElementsByTagName('*') : [];
      for (let j = 0; j < all.length; j++) inner.push((all[j] as PageElement).tagName.toLowerCase());
      out.push({
        id: m.getAttribute('data-id') ?? '',
        offset: Number(m.getAttribute('data-offset')),
        from: m.getAttribute('data-from') ?? '',
        body: body ? (body.textContent ?? '') : '',
        code: body ? body.getAttribute('data-code') : null,
        url: body ? body.getAttribute('data-url') : null,
        inner,
      });
    }
    return out;
  });
}

/** Waits until the visible conversation shows a message with each of these bodies; resolves to all shown. */
export async function waitForBodies(page: Page, bodies: readonly string[], timeoutMs = 10000): Promise<ShownMessage[]> {
  return until(
    () => shownMessages(page),
    (shown) => bodies.every((b) => shown.some((m) => m.body === b)),
    `messages ${JSON.stringify(bodies)}`,
    timeoutMs,
  );
}

/** Types a message into the composer and sends it with Enter. */
export async function say(page: Page, text: string): Promise<void> {
  const composer = page.getByTestId('composer');
  await composer.fill(text);
  await composer.press('Enter');
}

/** The data-user of every `user` entry, in list order. */
export async function onlineIds(page: Page): Promise<string[]> {
  const entries = await page.getByTestId('users').getByTestId('user').all();
  const ids: string[] = [];
  // A short timeout: an entry removed between the count and its read (someone leaving, which is what tests wait for)
  // made getAttribute wait its default 15 s, past until()'s 10 s; failing fast lets until() read the list again.
  // Not evaluateAll: the legacy page test strips the ES5 array methods Playwright's in-page code needs for it.
  for (const e of entries) ids.push((await e.getAttribute('data-user', { timeout: 1000 })) ?? '');
  return ids;
}

/** Opens the private chat with `peer` by clicking its `user` entry; resolves to the channel shown. */
export async function openPrivate(page: Page, peerId: string): Promise<string> {
  await page.getByTestId('users').locator(`[data-testid="user"][data-user="${peerId}"]`).click();
  const channel = await until(() => channelShown(page), (c) => c !== null && c.startsWith('dm:'), `a dm conversation with ${peerId}`);
  return channel ?? '';
}

/** The channel name of the private conversation of two users (docs/protocol.md 3.1). */
export function dmChannel(a: string, b: string): string {
  return a < b ? `dm:${a}:${b}` : `dm:${b}:${a}`;
}

/** Offsets are strictly increasing in page order. */
export function inOffsetOrder(shown: readonly ShownMessage[]): boolean {
  return shown.every((m, i) => i === 0 || (shown[i - 1] as ShownMessage).offset < m.offset);
}

/** A fresh server for one test, so that it sees only its own messages; closed at the test's end. */
export async function serverFor(t: Test): Promise<string> {
  const s = await startServer();
  t.teardown(() => s.close());
  return s.url;
}

/** openChat, with the person's context closed at the test's end. */
export async function enterChat(t: Test, browser: Browser, url: string, name: string, opts: OpenOptions = {}): Promise<Person> {
  const p = await openChat(browser, url, name, opts);
  t.teardown(() => p.context.close());
  return p;
}

export function noPageErrors(t: Test, people: readonly Person[]): void {
  for (const p of people) t.same(p.errors, [], `no page error for ${p.name}`);
}
