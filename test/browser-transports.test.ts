/**
 * Every transport from the browser (issue #5): `?transport=websocket`,
 * `sockjs` and `comet` each chat with people on the other ones, and a
 * "legacy" page, stripped of what IE6-7 lack (WebSocket, EventSource, JSON,
 * the ES5 array methods, Object.keys, bind, trim, postMessage, FormData and
 * CORS: helpers/old-ie.ts), still logs in and chats.
 */
import t, { type Test } from 'tap';
import {
  inOffsetOrder,
  inPage,
  launchBrowser,
  onlineIds,
  enterChat,
  type OpenOptions,
  type Person,
  say,
  serverFor,
  until,
  waitForBodies,
} from './helpers/browser.js';
import { oldIeScript } from './helpers/old-ie.js';

const browser = await launchBrowser(t);

/** Runs before any page script: takes away what IE6-7 lack (helpers/old-ie.ts), CORS and postMessage included. */
const LEGACY = oldIeScript('ie67');

/** typeof of each feature LEGACY removes, as the page sees it now (runs in the page: ES3 only). */
function featuresInPage(): Record<string, string> {
  const w = globalThis as unknown as Record<string, unknown>;
  const none: unknown[] = [];
  const probe = none as unknown as Record<string, unknown>;
  return {
    WebSocket: typeof w.WebSocket,
    EventSource: typeof w.EventSource,
    JSON: typeof w.JSON,
    jsonBeforePage: String(w.__jsonBeforePage),
    forEach: typeof probe.forEach,
    map: typeof probe.map,
    filter: typeof probe.filter,
    indexOf: typeof probe.indexOf,
    some: typeof probe.some,
    every: typeof probe.every,
    reduce: typeof probe.reduce,
    keys: typeof (Object as unknown as Record<string, unknown>).keys,
    bind: typeof (Function.prototype as unknown as Record<string, unknown>).bind,
    trim: typeof (String.prototype as unknown as Record<string, unknown>).trim,
  };
}

if (browser) {
  const server = serverFor;
  const enter = (t: Test, url: string, name: string, opts: OpenOptions = {}): Promise<Person> => enterChat(t, browser, url, name, opts);
  const text = (p: Person, testid: string) => p.page.getByTestId(testid).textContent();

  /** Each person says one line; every page then shows all of them, in one order, with the same offsets. */
  const everyoneChats = async (t: Test, people: Person[]): Promise<void> => {
    const ids = people.map((p) => p.id);
    for (const p of people) await until(() => onlineIds(p.page), (on) => ids.every((id) => on.includes(id)), `everyone online for ${p.name}`);
    const lines: string[] = [];
    for (const p of people) {
      const line = `${p.name} here, over ${(await text(p, 'transport')) ?? '?'}`;
      lines.push(line);
      await say(p.page, line);
      await waitForBodies(p.page, [line]); // one at a time: the order is known
    }
    const views: string[] = [];
    for (const p of people) {
      const shown = await waitForBodies(p.page, lines, 20000);
      t.same(shown.map((m) => m.body), lines, `${p.name} sees every line once, in order`);
      t.same(shown.map((m) => m.from), ids, `${p.name} sees who sent each`);
      t.ok(inOffsetOrder(shown), 'in offset order');
      views.push(JSON.stringify(shown.map((m) => [m.id, m.offset])));
    }
    t.ok(views.every((v) => v === views[0]), 'every page shows the same ids and offsets');
  };

  t.test('each forced transport chats with the others', async (t) => {
    const url = await server(t);
    const people: Person[] = [];
    for (const transport of ['websocket', 'sockjs', 'comet']) {
      const p = await enter(t, url, `Via-${transport}`, { query: `?transport=${transport}` });
      t.equal(await text(p, 'transport'), transport, `?transport=${transport} is used`);
      t.equal(await text(p, 'connection'), 'online', `${transport} is online`);
      people.push(p);
    }
    await everyoneChats(t, people);
    for (const p of people) {
      t.equal(await text(p, 'transport'), p.name.slice(4), `${p.name} stayed on its transport`);
      t.same(p.errors, [], `no page error over ${p.name.slice(4)}`);
    }
    const comet = people[2] as Person;
    t.ok(comet.requests.some((u) => u.includes('/comet/poll')), 'the comet page long-polls');
    t.notOk(comet.requests.some((u) => /\/(ws|sockjs)(\/|$|\?)/.test(new URL(u).pathname)), 'and uses no socket');
  });

  t.test('a legacy page (no WebSocket, JSON, ES5 methods) logs in and chats', async (t) => {
    const url = await server(t);
    const modern = await enter(t, url, 'Modern');
    // As the page is: sockjs.min.js loads and brings its own ES5 shims (bind, forEach, indexOf).
    const legacy = await enter(t, url, 'Legacy', { initScript: LEGACY });
    // Stricter: sockjs-client cannot load, so nothing puts the ES5 methods back; forced onto Comet.
    const bare = await enter(t, url, 'Bare', { initScript: LEGACY, query: '?transport=comet', block: ['**/polyfills/sockjs.min.js'] });

    for (const p of [legacy, bare]) {
      const f = await inPage(p.page, featuresInPage);
      t.equal(f.jsonBeforePage, 'undefined', `${p.name}: JSON was gone before the page ran`);
      t.equal(f.JSON, 'object', `${p.name}: the page put JSON back`);
      t.ok(p.requests.some((u) => new URL(u).pathname === '/polyfills/json3.min.js'), `${p.name} loaded json3`);
      t.equal(f.WebSocket, 'undefined', 'no WebSocket');
      t.equal(f.EventSource, 'undefined', 'no EventSource');
      for (const k of ['map', 'filter', 'some', 'every', 'reduce', 'keys', 'trim']) {
        t.equal(f[k], 'undefined', `${p.name}: ${k} stays missing`);
      }
    }
    const bareFeatures = await inPage(bare.page, featuresInPage);
    t.same([bareFeatures.forEach, bareFeatures.indexOf, bareFeatures.bind], ['undefined', 'undefined', 'undefined'], 'Bare: forEach, indexOf and bind stay missing too');
    t.equal(await text(legacy, 'transport'), 'sockjs', 'with no WebSocket, the legacy page picks SockJS');
    t.equal(await text(bare, 'transport'), 'comet', 'the bare page is on Comet');
    t.equal(await text(legacy, 'connection'), 'online');
    t.equal(await text(bare, 'connection'), 'online');

    await everyoneChats(t, [modern, legacy, bare]);
    for (const p of [modern, legacy, bare]) t.same(p.errors, [], `no page error for ${p.name}`);
  });
}
