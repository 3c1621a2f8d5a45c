/**
 * Turns a parsed client message into a typed command, or throws the
 * ProtocolError its fault deserves (docs/protocol.md sections 1 and 2). Nothing
 * here touches state: the handlers receive commands that are well-formed.
 */
import { isValidAvatar } from '../avatars.js';
import { parseChannel, ROOM_NAME } from '../channels.js';
import { isEmojiBody } from '../emoji.js';
import { ProtocolError } from '../errors.js';
import type { Frame, MessageType, Target, UserStatus } from '../types.js';

export type Command =
  | { cmd: 'login'; name?: string; avatar?: string; token?: string; cursors: Map<string, number> }
  | { cmd: 'send'; to: Target; type: MessageType; body: string; cid: string }
  | { cmd: 'join'; room: string }
  | { cmd: 'leave'; room: string }
  | { cmd: 'history'; channel: string; before?: number; limit: number }
  | { cmd: 'online'; room?: string }
  | { cmd: 'status'; status: UserStatus }
  | { cmd: 'typing'; to: Target }
  | { cmd: 'ping'; ts?: unknown }
  | { cmd: 'logout' };

export interface Limits {
  maxTextLength: number;
}

const CONTROL = /[\p{Cc}\u2028\u2029]/u;
/**
 * PostgreSQL cannot store U+0000 in text while SQLite can: no client string
 * may carry it, so that every store takes the same messages.
 */
const NUL = '\u0000';
const USER_ID = /^[^\s:\u0000]{1,512}$/u;
/** docs/protocol.md section 2: a `cid` has 1-64 characters. */
const MAX_CID = 64;
const MAX_CURSORS = 1000;
/**
 * No command nests deeper than `login.resume.cursors` (3 levels). A deeper
 * frame is refused before anything echoes it: `ping` sends `ts` back, and
 * JSON.stringify of ~10,000 nested arrays (20 KB, under the size limit)
 * overflows V8's stack, which would surface as `internal`.
 */
const MAX_DEPTH = 16;
const IMAGE_URL = /^\/uploads\/[A-Za-z0-9_-]{8,64}\.(?:png|jpe?g|gif|webp)$/;

function bad(field: string): never {
  throw new ProtocolError('bad_request', `invalid or missing field "${field}"`);
}

function codePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

function string(frame: Frame, field: string, optional: true): string | undefined;
function string(frame: Frame, field: string, optional?: false): string;
function string(frame: Frame, field: string, optional: boolean): string | undefined;
function string(frame: Frame, field: string, optional = false): string | undefined {
  const v = frame[field];
  if (v === undefined && optional) return undefined;
  // Lone surrogates cannot be stored or echoed faithfully: refuse them here.
  if (typeof v !== 'string' || !v.isWellFormed() || v.includes(NUL)) bad(field);
  return v;
}

/** A `cid` the protocol allows: 1-64 code points, well-formed, no NUL. */
function validCid(v: unknown): v is string {
  // Two UTF-16 units per code point at most: a longer string is refused before it is counted.
  if (typeof v !== 'string' || v.length > 2 * MAX_CID || !v.isWellFormed() || v.includes(NUL)) return false;
  const n = codePoints(v);
  return n >= 1 && n <= MAX_CID;
}

/**
 * The `ref` of an `error` answering this frame: the `cid` of a `send` where
 * it is one the protocol allows, else the `cmd` (cut to 64 UTF-16 units),
 * so that what the server echoes is bounded whatever the client sent.
 */
export function errorRef(frame: Frame): string {
  return frame.cmd === 'send' && validCid(frame.cid) ? frame.cid : frame.cmd.slice(0, 64);
}

export function validName(raw: string): string | undefined {
  const name = raw.trim();
  const n = codePoints(name);
  if (n < 1 || n > 32 || CONTROL.test(name)) return undefined;
  return name;
}

function target(frame: Frame): Target {
  const to = frame.to;
  if (typeof to !== 'object' || to === null || Array.isArray(to)) bad('to');
  const t = to as Record<string, unknown>;
  const keys = Object.keys(t);
  if (keys.length !== 1) bad('to');
  if (typeof t.room === 'string') {
    if (!ROOM_NAME.test(t.room)) bad('to.room');
    return { room: t.room };
  }
  if (typeof t.user === 'string') {
    if (!USER_ID.test(t.user) || !t.user.isWellFormed()) bad('to.user');
    return { user: t.user };
  }
  return bad('to');
}

function cursors(frame: Frame): Map<string, number> {
  const out = new Map<string, number>();
  const resume = frame.resume;
  if (resume === undefined || resume === null) return out;
  if (typeof resume !== 'object' || Array.isArray(resume)) bad('resume');
  const c = (resume as Record<string, unknown>).cursors;
  if (c === undefined) return out;
  if (typeof c !== 'object' || c === null || Array.isArray(c)) bad('resume.cursors');
  const entries = Object.entries(c as Record<string, unknown>);
  if (entries.length > MAX_CURSORS) bad('resume.cursors');
  for (const [channel, offset] of entries) {
    if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) bad('resume.cursors');
    // Cursors of channels that are not well-formed are ignored like any foreign channel.
    if (parseChannel(channel)) out.set(channel, offset);
  }
  return out;
}

function body(type: MessageType, raw: string, limits: Limits, cid: string): string {
  switch (type) {
    case 'text':
      if (raw.trim() === '') bad('body');
      if (codePoints(raw) > limits.maxTextLength) {
        throw new ProtocolError('too_large', `text is longer than ${limits.maxTextLength} characters`);
      }
      return raw;
    case 'emoji':
      if (!isEmojiBody(raw)) bad('body');
      return raw;
    case 'image':
      if (!IMAGE_URL.test(raw)) bad('body');
      return raw;
  }
  return bad(`body (${cid})`);
}

function positiveInt(frame: Frame, field: string): number | undefined {
  const v = frame[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) bad(field);
  return v;
}

/** Whether `value` holds objects or arrays more than `max` levels deep; iterative, so any depth is safe to ask about. */
export function nestedDeeper(value: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop() as [unknown, number];
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= max) return true;
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  return false;
}

export function decode(frame: Frame, limits: Limits): Command {
  if (nestedDeeper(frame, MAX_DEPTH)) throw new ProtocolError('bad_request', `nested deeper than ${MAX_DEPTH} levels`);
  switch (frame.cmd) {
    case 'login': {
      const token = string(frame, 'token', true);
      const rawName = string(frame, 'name', token !== undefined);
      let name: string | undefined;
      if (rawName !== undefined) {
        name = validName(rawName);
        if (name === undefined) bad('name');
      }
      const avatar = string(frame, 'avatar', true);
      if (avatar !== undefined && !isValidAvatar(avatar)) bad('avatar');
      return { cmd: 'login', name, avatar, token, cursors: cursors(frame) };
    }
    case 'send': {
      const cid = frame.cid;
      if (!validCid(cid)) bad('cid');
      const to = target(frame);
      const type = frame.type;
      if (type !== 'text' && type !== 'emoji' && type !== 'image') bad('type');
      return { cmd: 'send', to, type, body: body(type, string(frame, 'body'), limits, cid), cid };
    }
    case 'join':
    case 'leave': {
      const room = string(frame, 'room');
      if (!ROOM_NAME.test(room)) bad('room');
      return { cmd: frame.cmd, room };
    }
    case 'history': {
      const channel = string(frame, 'channel');
      if (!parseChannel(channel)) bad('channel');
      const limit = positiveInt(frame, 'limit') ?? 50;
      if (limit > 100) bad('limit');
      return { cmd: 'history', channel, before: positiveInt(frame, 'before'), limit };
    }
    case 'online': {
      const room = string(frame, 'room', true);
      if (room !== undefined && !ROOM_NAME.test(room)) bad('room');
      return { cmd: 'online', room };
    }
    case 'status': {
      const status = frame.status;
      if (status !== 'online' && status !== 'away' && status !== 'busy') bad('status');
      return { cmd: 'status', status };
    }
    case 'typing':
      return { cmd: 'typing', to: target(frame) };
    case 'ping':
      return { cmd: 'ping', ts: frame.ts };
    case 'logout':
      return { cmd: 'logout' };
    default:
      throw new ProtocolError('unknown_cmd', `unknown command "${String(frame.cmd).slice(0, 64)}"`);
  }
}
