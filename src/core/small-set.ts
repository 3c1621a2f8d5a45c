/**
 * The part of `Set` that an online user's connections and rooms use, for
 * the few members they hold: a JavaScript Set costs about 150 bytes empty
 * (its hash table), an array of one about 56. Measured for issue 8: two
 * Sets per online user were 0.3 KiB of an idle WebSocket connection's
 * 4.3 KiB of heap. Beyond `SPILL` members it becomes a real Set, so a user
 * in hundreds of rooms still checks membership in constant time.
 */
const SPILL = 16;

export class SmallSet<T> implements Iterable<T> {
  /**
   * Replaced, never changed in place, while it is an array: a loop over
   * the members that makes one leave (a connection closing while a frame
   * goes out to all of them) goes on over what it started with.
   */
  private items: T[] | Set<T> = [];

  get size(): number {
    return Array.isArray(this.items) ? this.items.length : this.items.size;
  }

  has(item: T): boolean {
    return Array.isArray(this.items) ? this.items.includes(item) : this.items.has(item);
  }

  add(item: T): this {
    const items = this.items;
    if (!Array.isArray(items)) items.add(item);
    else if (!items.includes(item)) this.items = items.length < SPILL ? [...items, item] : new Set(items).add(item);
    return this;
  }

  delete(item: T): boolean {
    const items = this.items;
    if (!Array.isArray(items)) return items.delete(item);
    const at = items.indexOf(item);
    if (at < 0) return false;
    this.items = items.filter((_, i) => i !== at);
    return true;
  }

  [Symbol.iterator](): Iterator<T> {
    return this.items[Symbol.iterator]();
  }
}
