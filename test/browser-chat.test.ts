/**
 * The browser UI end to end (issue #5), in chromium: two people chat over
 * WebSocket, HTML in a message stays text, private messages stay private,
 * and the online list follows people who leave.
 */
import t, { type Test } from 'tap';
import {
  channelShown,
  dmChannel,
  inOffsetOrder,
  launchBrowser,
  onlineIds,
  enterChat,
  noPageErrors,
  openPrivate,
  type Person,
  say,
  serverFor,
  shownMessages,
  until,
  waitForBodies,
} from './helpers/browser.js';

const browser = await launchBrowser(t);

if (browser) {
  const server = serverFor;
  const enter = (t: Test, url: string, name: string): Promise<Person> => enterChat(t, browser, url, name);
  const noErrors = noPageErrors;

  t.test('two people chat over WebSocket', async (t) => {
    const url = await server(t);
    const alice = await enter(t, url, 'Alice');
    const bob = await enter(t, url, 'Bob');
    for (const p of [alice, bob]) {
      t.equal(await p.page.getByTestId('transport').textContent(), 'websocket', `${p.name}'s page chose WebSocket`);
      t.equal(await p.page.getByTestId('connection').textContent(), 'online');
      t.equal(await channelShown(p.page), 'room:lobby', 'the lobby is on screen after login');
    }
    t.not(alice.id, bob.id, 'two different users');
    await until(() => onlineIds(alice.page), (ids) => ids.includes(bob.id), 'Bob in Alice\'s online list');

    await say(alice.page, 'hello Bob');
    await waitForBodies(bob.page, ['hello Bob']);
    await say(bob.page, 'hi Alice');
    await waitForBodies(alice.page, ['hi Alice']);
    await say(alice.page, 'how are you?');
    const expected = ['hello Bob', 'hi Alice', 'how are you?'];
    const seen = [];
    for (const p of [alice, bob]) {
      const shown = await waitForBodies(p.page, expected);
      t.same(shown.map((m) => m.body), expected, `${p.name} sees the three messages once each, in order`);
      t.same(shown.map((m) => m.from), [alice.id, bob.id, alice.id], 'data-from names each sender');
      t.same(shown.map((m) => m.offset), [1, 2, 3], 'data-offset counts from 1');
      t.ok(inOffsetOrder(shown), 'shown in offset order');
      t.ok(shown.every((m) => m.id !== ''), 'every message carries its server id');
      seen.push(shown.map((m) => m.id));
    }
    t.same(seen[0], seen[1], 'both pages show the same server messages');
    t.equal(await alice.page.getByTestId('composer').inputValue(), '', 'the composer is emptied after sending');
    noErrors(t, [alice, bob]);
  });

  t.test('HTML in a message is shown as text, never run', async (t) => {
    const url = await server(t);
    const alice = await enter(t, url, 'Mallory');
    const bob = await enter(t, url, 'Victim');
    const evil = '<img src=x onerror=alert(1)><b>bold</b>';
    await say(alice.page, evil);
    for (const p of [alice, bob]) {
      const [m] = await waitForBodies(p.page, [evil]);
      t.equal(m?.body, evil, `${p.name} sees the exact text`);
      t.same(m?.inner, [], 'no element is created inside message-body');
      t.equal(await p.page.locator('img[src="x"], [data-testid="message-body"] b').count(), 0, 'no <img src=x> or <b> anywhere');
      t.same(p.dialogs, [], 'no alert ran');
    }
    // the send button works as well as Enter, and markup-like text round-trips exactly
    const tricky = '&lt; &amp; "quotes" \'single\' </div><script>alert(2)</script>';
    await alice.page.getByTestId('composer').fill(tricky);
    await alice.page.getByTestId('send').click();
    const shown = await waitForBodies(bob.page, [tricky]);
    t.same(shown.find((m) => m.body === tricky)?.inner, [], 'still text only');
    t.equal(await bob.page.locator('[data-testid="conversation"] script').count(), 0, 'no script element in the conversation');
    t.same(bob.dialogs, [], 'no alert ran');
    noErrors(t, [alice, bob]);
  });

  t.test('private messages stay private', async (t) => {
    const url = await server(t);
    const alice = await enter(t, url, 'Ann');
    const bob = await enter(t, url, 'Bill');
    const carol = await enter(t, url, 'Cleo');
    await until(() => onlineIds(alice.page), (ids) => ids.includes(bob.id) && ids.includes(carol.id), 'everyone online for Ann');
    const channel = dmChannel(alice.id, bob.id);
    t.equal(await openPrivate(alice.page, bob.id), channel, 'clicking Bill opens dm:<a>:<b>');
    const secret = 'the secret is 42';
    await say(alice.page, secret);
    await waitForBodies(alice.page, [secret]);

    // Bob is in the lobby: the message waits behind an unread badge on Ann's entry
    const badge = bob.page.locator(`[data-testid="user"][data-user="${alice.id}"] [data-testid="unread"]`);
    await until(() => badge.textContent(), (n) => n === '1', 'an unread badge of 1 for Bill');
    t.equal(await openPrivate(bob.page, alice.id), channel, 'Bill opens the same channel');
    const atBob = await waitForBodies(bob.page, [secret]);
    t.same(atBob.map((m) => [m.body, m.from]), [[secret, alice.id]], 'Bill sees the private message from Ann');
    t.equal(await badge.count(), 0, 'the badge goes once the conversation is read');
    await say(bob.page, 'got it');
    await waitForBodies(alice.page, ['got it']);

    // Carol gets later lobby traffic, so she has had every chance to get the private one
    await alice.page.getByTestId('room').filter({ hasText: 'lobby' }).click();
    await say(alice.page, 'lobby after the secret');
    await waitForBodies(carol.page, ['lobby after the secret']);
    const everywhere = async (): Promise<string[]> => {
      const bodies = (await shownMessages(carol.page)).map((m) => m.body);
      return bodies.concat(await carol.page.locator('body').allTextContents());
    };
    for (const peer of [alice.id, bob.id]) {
      t.equal(await openPrivate(carol.page, peer), dmChannel(carol.id, peer), `Cleo's chat with ${peer} is their own channel`);
      t.same(await shownMessages(carol.page), [], 'and it is empty');
    }
    t.notOk((await everywhere()).some((text) => text.includes(secret) || text.includes('got it')), 'Cleo never sees the private messages');
    t.equal(await carol.page.getByTestId('unread').count(), 0, 'and has no unread badge');
    noErrors(t, [alice, bob, carol]);
  });

  t.test('the online list loses people who close the page or log out', async (t) => {
    const url = await server(t);
    const alice = await enter(t, url, 'Ada');
    const bob = await enter(t, url, 'Bert');
    const carol = await enter(t, url, 'Cora');
    const all = [alice.id, bob.id, carol.id];
    const shown = await until(() => onlineIds(bob.page), (ids) => all.every((id) => ids.includes(id)), 'all three online for Bert');
    t.equal(shown.length, 3, 'one entry per user');
    t.equal(shown[0], bob.id, 'oneself first');
    const entry = bob.page.locator(`[data-testid="user"][data-user="${alice.id}"]`);
    t.equal(await entry.getAttribute('data-status'), 'online');
    t.match(await entry.textContent(), /Ada/, 'the entry shows the name');

    await alice.context.close();
    const afterClose = await until(() => onlineIds(bob.page), (ids) => !ids.includes(alice.id), 'Ada gone from Bert\'s list');
    t.same(afterClose.sort(), [bob.id, carol.id].sort(), 'Ada left the list when her page closed');

    await carol.page.getByRole('button', { name: 'Log out' }).click();
    await carol.page.getByTestId('login-name').waitFor({ state: 'visible' });
    const afterLogout = await until(() => onlineIds(bob.page), (ids) => !ids.includes(carol.id), 'Cora gone from Bert\'s list');
    t.same(afterLogout, [bob.id], 'Cora left the list when she logged out');
    t.equal(await carol.page.getByTestId('me').textContent(), '', 'Cora\'s page is back at the login form');
    noErrors(t, [bob, carol]);
  });
}
