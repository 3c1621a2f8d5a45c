import t from 'tap';
import { SmallSet } from '../src/core/small-set.js';

function of<T>(...items: T[]): SmallSet<T> {
  const s = new SmallSet<T>();
  for (const item of items) s.add(item);
  return s;
}

t.test('holds each member once, like a Set', async (t) => {
  const s = of('a', 'b', 'a');
  t.equal(s.size, 2);
  t.ok(s.has('a'));
  t.notOk(s.has('c'));
  t.equal(s.add('b'), s, 'add returns the set');
  t.equal(s.size, 2, 'adding a member again changes nothing');
  t.same([...s], ['a', 'b'], 'in insertion order');
  t.equal(s.delete('a'), true);
  t.equal(s.delete('a'), false, 'a second delete finds nothing');
  t.same([...s], ['b']);
  t.equal(s.delete('b'), true);
  t.equal(s.size, 0);
  t.same([...s], []);
});

t.test('past sixteen members it keeps working as a Set', async (t) => {
  const s = new SmallSet<number>();
  for (let i = 0; i < 40; i++) s.add(i);
  s.add(7);
  t.equal(s.size, 40);
  t.ok(s.has(39));
  t.equal(s.delete(20), true);
  t.equal(s.delete(20), false);
  t.notOk(s.has(20));
  t.equal(s.size, 39);
  t.same([...s].slice(0, 3), [0, 1, 2], 'still in insertion order');
});

t.test('a loop over the members goes on over what it started with when one leaves', async (t) => {
  const s = of('a', 'b', 'c');
  const seen: string[] = [];
  for (const m of s) {
    seen.push(m);
    if (m === 'a') s.delete('b');
  }
  t.same(seen, ['a', 'b', 'c'], 'a connection closing mid-broadcast does not make the loop skip the next one');
  t.same([...s], ['a', 'c']);
});
