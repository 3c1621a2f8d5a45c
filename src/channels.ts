/**
 * Channel names of docs/protocol.md 3.1: `room:<name>` and `dm:<a>:<b>` with the
 * two user ids sorted by UTF-16 code units.
 */

export const ROOM_NAME = /^[a-z0-9_-]{1,32}$/;

export function roomChannel(room: string): string {
  return `room:${room}`;
}

export function dmChannel(a: string, b: string): string {
  return a < b ? `dm:${a}:${b}` : `dm:${b}:${a}`;
}

export type ParsedChannel =
  | { kind: 'room'; room: string }
  | { kind: 'dm'; users: [string, string] };

/** Splits a channel name; undefined for anything that is not a well-formed channel. */
export function parseChannel(channel: string): ParsedChannel | undefined {
  if (channel.startsWith('room:')) {
    const room = channel.slice(5);
    return ROOM_NAME.test(room) ? { kind: 'room', room } : undefined;
  }
  if (channel.startsWith('dm:')) {
    const parts = channel.slice(3).split(':');
    if (parts.length !== 2) return undefined;
    const [a, b] = parts as [string, string];
    if (a === '' || b === '' || a > b) return undefined;
    return { kind: 'dm', users: [a, b] };
  }
  return undefined;
}

/** The distinct users of a `dm:` channel (one for notes to oneself); none for any other channel. */
export function dmParticipants(channel: string): string[] {
  const parsed = parseChannel(channel);
  if (parsed?.kind !== 'dm') return [];
  const [a, b] = parsed.users;
  return a === b ? [a] : [a, b];
}
