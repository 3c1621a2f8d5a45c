/**
 * Presence at scale (`--presence-limit`, docs/choices.md "Presence at
 * scale"). docs/protocol.md tells every logged-in user about every login, and
 * puts everyone online in each `login` answer: O(n) frames per login, so n
 * logins cost O(n²) frames (1,000 logins: a million presence frames). Above
 * the limit the server stops that broadcast and sends capped lists marked
 * as partial; clients that want the whole list ask with `online`. At or
 * below the limit nothing differs from docs/protocol.md, byte for byte.
 */
import type { UserInfo } from '../types.js';
import type { OnlineUser } from './online.js';

/** Users in a capped list: enough for a sidebar, small enough that n logins cost O(n), not O(n²). */
export const PARTIAL_LIST_SIZE = 100;

export interface UserList {
  users: UserInfo[];
  /** Set only when `users` is a sample: how many there are in all. */
  total?: number;
}

export class PresenceLimit {
  /** @param limit users online (or members of a room online) up to which presence is sent in full; 0: no limit. */
  constructor(private readonly limit: number) {}

  /** Whether a count of users is still small enough for full presence. */
  full(count: number): boolean {
    return this.limit === 0 || count <= this.limit;
  }

  /**
   * The users of `all` (of which there are `count`), `self` first when the
   * list is capped (docs/protocol.md: the login answer's `online` includes the
   * user who logs in, `joined.members` the joiner).
   */
  list(all: Iterable<OnlineUser>, count: number, self?: OnlineUser): UserList {
    const users: UserInfo[] = [];
    if (this.full(count)) {
      for (const u of all) users.push(u.info);
      return { users };
    }
    if (self) users.push(self.info);
    for (const u of all) {
      if (users.length >= PARTIAL_LIST_SIZE) break;
      if (u !== self) users.push(u.info);
    }
    return { users, total: count };
  }
}
