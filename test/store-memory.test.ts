import t from 'tap';
import { MemoryStore } from '../src/store/memory.js';
import { isStoreKind, openStore } from '../src/store/open.js';
import { StoreUnavailableError } from '../src/errors.js';
import { msg, storeSuite } from './store-suite.js';

storeSuite(t, 'memory', async () => {
  const store = new MemoryStore();
  await store.init();
  return { store, cleanup: async () => undefined };
});

t.test('memory: openStore builds it, and a closed store refuses appends', async (tt) => {
  const store = openStore('memory', { dataDir: '/nonexistent' });
  tt.equal(store.kind, 'memory');
  await store.init();
  tt.equal((await store.append(msg('room:a', 'alice', 'x'))).message.offset, 1);
  await store.close();
  await tt.rejects(store.append(msg('room:a', 'alice', 'y')), StoreUnavailableError);
});

t.test('memory: getUser returns the saved profile', async (tt) => {
  const store = new MemoryStore();
  await store.init();
  tt.equal(await store.getUser('alice'), undefined);
  await store.saveUser({ id: 'alice', name: 'Alice', avatar: 'a1' }, 'guest');
  await store.saveUser({ id: 'alice', name: 'Alice B', avatar: 'a2' }, 'guest');
  tt.same(await store.getUser('alice'), { id: 'alice', name: 'Alice B', avatar: 'a2' });
});

t.test('store kinds parse from configuration text', async (tt) => {
  tt.equal(isStoreKind('memory'), true);
  tt.equal(isStoreKind('sqlite'), true);
  tt.equal(isStoreKind('postgres'), false);
  tt.equal(isStoreKind(''), false);
});
