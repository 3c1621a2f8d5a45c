/**
 * The chat-equivalent protocol every peer speaks, in JSON text messages:
 * `{"join":R}` (answered `{"joined":R}`) and `{"room":R,"body":B}`, which
 * goes to every member of R as `{"room":R,"body":B}`. Socket.IO keeps its
 * own rooms and takes only the broadcast's text from here; the ws and
 * sockjs peers keep their members with PeerRooms and write each broadcast
 * their own way, which is what they are measured on.
 */

export interface PeerCommand {
  join?: string;
  room?: string;
  body?: string;
}

/** One message per broadcast, the same bytes to every member: `{"room":R,"body":B}`. */
export function broadcastText(room: string, body: string): string {
  return JSON.stringify({ room, body });
}

/** One connection's side of the rooms: its commands, and its leaving. */
export interface PeerMember {
  command(text: string): void;
  leave(): void;
}

/** The rooms of a peer, by name, with the members (`M`: the peer's own handle of a connection) of each. */
export class PeerRooms<M> {
  private readonly rooms = new Map<string, Set<M>>();

  /**
   * Takes `member`'s commands: a join is answered through `reply`; a room message goes to `deliver` with its room's
   * members (none: nothing is sent). `leave` takes the member out of every room it joined.
   */
  member(member: M, reply: (text: string) => void, deliver: (members: ReadonlySet<M>, text: string) => void): PeerMember {
    const joined: Set<M>[] = [];
    return {
      command: (text) => {
        let cmd: PeerCommand;
        try {
          cmd = JSON.parse(text) as PeerCommand;
        } catch {
          return;
        }
        if (typeof cmd.join === 'string') {
          const set = this.rooms.get(cmd.join) ?? new Set<M>();
          this.rooms.set(cmd.join, set);
          set.add(member);
          joined.push(set);
          reply(JSON.stringify({ joined: cmd.join }));
        } else if (typeof cmd.room === 'string' && typeof cmd.body === 'string') {
          const members = this.rooms.get(cmd.room);
          if (members) deliver(members, broadcastText(cmd.room, cmd.body));
        }
      },
      leave: () => {
        for (const set of joined) set.delete(member);
      },
    };
  }
}
