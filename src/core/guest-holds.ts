/**
 * A guest's name stays its holder's (docs/protocol.md, "Identity"): a
 * guest login of a name that is in use is refused unless it carries the
 * token a login of that identity returned. A name is in use while its
 * identity is online on any node and until `--guest-hold` has passed since
 * it was last used (a login, or the end of its last connection on a node).
 * After that the identity is retired: its tokens stop proving it, and the
 * next guest of the name is a new generation with an id of its own
 * (src/auth/guest.ts), so nothing of the old identity reaches it.
 *
 * The holds live in the store, so they outlive restarts and every node of a
 * cluster sees the same ones; each change is a compare-and-set on what the
 * login read, so two logins of one name on two nodes cannot both take it.
 */
import { guestGenerationId, guestId, parseGuestId } from '../auth/guest.js';
import { ProtocolError } from '../errors.js';
import type { GuestHold, HistoryStore } from '../store/store.js';

type HoldStore = Pick<HistoryStore, 'guestHold' | 'swapGuestHold' | 'touchGuestHold'>;

/** A name login that took the name: its id, and how to give the name back if the login then fails. */
export interface TakenName {
  id: string;
  /** Undoes the take when the client never got `login` (so that a retry is not refused for the name it never held). */
  release(): Promise<void>;
}

/** Another login may win the compare-and-set between our read and write; past this many, the name is plainly busy. */
const TAKE_TRIES = 3;

export class GuestHolds {
  constructor(
    private readonly store: HoldStore,
    private readonly holdMs: number,
    /** Whether a user id is online on any node. */
    private readonly isOnline: (id: string) => boolean,
    private readonly clock: () => number = Date.now,
  ) {}

  /** A guest login by name alone: the id it gets, or `name_taken` while the name is held. */
  async take(name: string): Promise<TakenName> {
    const base = guestId(name);
    for (let i = 0; i < TAKE_TRIES; i++) {
      const hold = await this.store.guestHold(base);
      const now = this.clock();
      if (hold && this.inUse(base, hold, now)) throw held();
      const next = { generation: hold ? hold.generation + 1 : 1, lastUsed: now };
      if (await this.store.swapGuestHold(base, hold, next)) {
        return { id: guestGenerationId(base, next.generation), release: () => this.untake(base, next.generation) };
      }
    }
    throw held();
  }

  /** Whether a guest token's id is still its name's holder (not retired); marks it used when it is. */
  async proves(id: string): Promise<boolean> {
    const { base, generation } = parseGuestId(id);
    const hold = await this.store.guestHold(base);
    if (!hold || hold.generation !== generation || !this.inUse(base, hold, this.clock())) return false;
    // Best effort: a store that cannot write now (a full disk) still lets a returning guest in; the end of its use is marked later.
    await this.touch(id).catch(() => undefined);
    return true;
  }

  /** The identity was used now: its last connection on this node ended. */
  touch(id: string): Promise<void> {
    const { base, generation } = parseGuestId(id);
    return this.store.touchGuestHold(base, generation, this.clock());
  }

  private inUse(base: string, hold: GuestHold, now: number): boolean {
    return now - hold.lastUsed < this.holdMs || this.isOnline(guestGenerationId(base, hold.generation));
  }

  /**
   * Back to the generation before, as long unused, so that the next login
   * of the name takes `generation` again. Nobody else can hold `generation`
   * meanwhile: its only token was never sent. The compare is on what is
   * read here, since the failed login's own end of connection may have
   * touched the hold. A failed undo leaves the name held until the hold
   * ends: the safe side.
   */
  private async untake(base: string, generation: number): Promise<void> {
    try {
      const hold = await this.store.guestHold(base);
      if (hold?.generation === generation) await this.store.swapGuestHold(base, hold, { generation: generation - 1, lastUsed: 0 });
    } catch {
      // As above: the name stays held.
    }
  }
}

function held(): ProtocolError {
  return new ProtocolError('name_taken', 'that name belongs to a guest who used it recently: pick another name, or come back from the browser you used it in');
}
