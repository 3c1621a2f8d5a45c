/**
 * The server's frames that several parts of the core build: each is
 * serialized once, here, and the same string goes to every connection it
 * is for (and, for a stored message, to the other nodes over the bus).
 */
import type { StoredMessage, UserInfo } from '../types.js';

export type PresenceEvent = 'online' | 'offline' | 'status' | 'join' | 'leave';

export function presenceFrame(event: PresenceEvent, user: UserInfo, room?: string): string {
  return JSON.stringify(room === undefined ? { cmd: 'presence', event, user } : { cmd: 'presence', event, user, room });
}

export function messageFrame(message: StoredMessage): string {
  return JSON.stringify({ cmd: 'message', ...message });
}

/** `left` without a `reason` answers the user's own `leave`; with one, the room was deleted or the membership ended. */
export function leftFrame(room: string, reason?: 'deleted' | 'removed'): string {
  return JSON.stringify(reason === undefined ? { cmd: 'left', room } : { cmd: 'left', room, reason });
}
