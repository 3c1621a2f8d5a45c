/**
 * Backend hooks (docs/api.md, "Hooks"): webim asks the application before
 * it acts. `login`: who is this connection, for a login without a token
 * (the site's session cookie can say). `publish`: may this message be
 * stored, or stored with another body. `offline`: a message now waits for
 * a user who is online on no node (src/hooks/offline-queue.ts).
 *
 * A call that fails (timeout, network, an answer that is no 2xx JSON of the
 * right shape) is logged, counted, and handled by its hook's policy:
 * `closed` refuses with `server_busy` (a client resends a refused message
 * with the same cid, so nothing is lost or doubled), `open` goes on as if
 * there were no hook.
 */
import { isUserId } from '../auth/tokens.js';
import { isValidAvatar } from '../avatars.js';
import { validName } from '../core/validate.js';
import { ProtocolError, StartupError } from '../errors.js';
import type { Log } from '../log.js';
import type { Sender, StoredMessage, Target } from '../types.js';
import { HookCaller, HookFailure, HookStats } from './caller.js';
import { OfflineQueue } from './offline-queue.js';


export interface HookSettings {
  hookUrl: string;
  hookLoginUrl: string;
  hookPublishUrl: string;
  hookOfflineUrl: string;
  hooks: readonly string[];
  hookSecret: string;
  hookTimeout: number;
  hookLoginFail: 'closed' | 'open';
  hookPublishFail: 'closed' | 'open';
  hookPublishOn: readonly string[];
  hookForwardHeaders: readonly string[];
  hookOfflineQueue: number;
}

export interface LoginQuestion {
  name: string | undefined;
  avatar: string | undefined;
  transport: string;
  ip: string;
  headers: Record<string, string>;
}

/** What the application said of a login: this user, or no with a reason; undefined: go on as if no hook (fail open). */
export type LoginVerdict = { user: { id: string; name?: string; avatar?: string } } | { reject: string } | undefined;

export interface PublishQuestion {
  channel: string;
  from: Sender;
  to: Target;
  type: string;
  body: string;
  cid: string;
}

/** The body to store (the sender's, or the application's replacement). */
export type PublishVerdict = { body: string };

const BUSY = 'the application that vouches for this chat did not answer in time';

function urlOf(settings: HookSettings, hook: 'login' | 'publish' | 'offline', own: string): string {
  if (own !== '') return own;
  return settings.hooks.includes(hook) ? settings.hookUrl : '';
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function optionalString(v: unknown): v is string | undefined {
  return v === undefined || typeof v === 'string';
}

export class Hooks {
  readonly stats = new HookStats();
  private readonly caller: HookCaller;
  private readonly loginUrl: string;
  private readonly publishUrl: string;
  private readonly offline: OfflineQueue | undefined;
  private readonly forward: readonly string[];

  constructor(private readonly settings: HookSettings, private readonly log: Log) {
    this.caller = new HookCaller(settings.hookSecret, settings.hookTimeout, this.stats);
    this.loginUrl = urlOf(settings, 'login', settings.hookLoginUrl);
    this.publishUrl = urlOf(settings, 'publish', settings.hookPublishUrl);
    const offlineUrl = urlOf(settings, 'offline', settings.hookOfflineUrl);
    this.offline = offlineUrl === '' ? undefined : new OfflineQueue(this.caller, offlineUrl, settings.hookOfflineQueue, this.stats, log);
    this.forward = settings.hookForwardHeaders.map((h) => h.toLowerCase());
    if (this.any && settings.hookSecret === '') throw new StartupError('a hook is on (--hook-url): set --hook-secret (WEBIM_HOOK_SECRET) too, so the application can tell webim\'s calls from anyone else\'s');
  }

  /** Whether any hook is on (then `--hook-secret` is needed). */
  get any(): boolean {
    return this.loginUrl !== '' || this.publishUrl !== '' || this.offline !== undefined;
  }

  /** Whether the offline hook is on (else nothing need look at stored messages for it). */
  get offlineOn(): boolean {
    return this.offline !== undefined;
  }

  get loginOn(): boolean {
    return this.loginUrl !== '';
  }

  /** The request headers of a connection the login hook may see; undefined when it is off (nothing is kept). */
  forwarded(headers: Readonly<Record<string, string | string[] | undefined>> | undefined): Record<string, string> | undefined {
    if (!this.loginOn || headers === undefined) return undefined;
    const out: Record<string, string> = {};
    for (const name of this.forward) {
      const v = headers[name];
      if (v !== undefined) out[name] = Array.isArray(v) ? v.join(', ') : v;
    }
    return out;
  }

  async login(question: LoginQuestion): Promise<LoginVerdict> {
    let answer: unknown;
    try {
      answer = await this.caller.call('login', this.loginUrl, question);
      if (!isRecord(answer)) throw new HookFailure('garbage', 'not an object');
      if (answer.result === 'reject') {
        if (!optionalString(answer.reason)) throw new HookFailure('garbage', 'reason is not a string');
        return { reject: answer.reason ?? 'refused by the application' };
      }
      const user = answer.user;
      if (answer.result !== 'accept' || !isRecord(user) || typeof user.id !== 'string' || !optionalString(user.name) || !optionalString(user.avatar)) {
        throw new HookFailure('garbage', 'expected result accept with user { id, name?, avatar? }, or reject');
      }
      // What a login would refuse from a client (a token's claims are held to the same): garbage too.
      const name = user.name === undefined ? undefined : validName(user.name);
      if (!isUserId(user.id) || (user.name !== undefined && name === undefined) || (user.avatar !== undefined && !isValidAvatar(user.avatar))) {
        throw new HookFailure('garbage', 'a user id, name or avatar a login would refuse');
      }
      return { user: { id: user.id, ...(name === undefined ? {} : { name }), ...(user.avatar === undefined ? {} : { avatar: user.avatar }) } };
    } catch (err) {
      return this.failed('login', this.settings.hookLoginFail, err);
    }
  }

  /** Whether the publish hook is asked about a message of this channel. */
  publishOn(channel: string): boolean {
    if (this.publishUrl === '') return false;
    return this.settings.hookPublishOn.includes(channel.startsWith('room:') ? 'room' : 'dm');
  }

  /**
   * The body to store; throws `rejected` when the application refuses the
   * message. A replacement that `storable` refuses (too long, empty, an
   * image URL webim did not issue) is an answer of the wrong shape.
   */
  async publish(question: PublishQuestion, storable: (body: string) => boolean): Promise<PublishVerdict> {
    let answer: unknown;
    try {
      answer = await this.caller.call('publish', this.publishUrl, question);
      if (!isRecord(answer)) throw new HookFailure('garbage', 'not an object');
      if (answer.result === 'accept') return { body: question.body };
      if (answer.result === 'reject' && optionalString(answer.reason)) throw new ProtocolError('rejected', answer.reason ?? 'refused by the application');
      if (answer.result === 'replace' && typeof answer.body === 'string' && storable(answer.body)) return { body: answer.body };
      throw new HookFailure('garbage', 'expected result accept, reject with reason, or replace with body');
    } catch (err) {
      if (err instanceof ProtocolError) throw err;
      this.failed('publish', this.settings.hookPublishFail, err);
      return { body: question.body };
    }
  }

  /** A message was stored; `isOnline` tells who of its private channel's users is online on some node. */
  stored(message: StoredMessage, recipients: readonly string[], isOnline: (id: string) => boolean): void {
    if (!this.offline) return;
    for (const user of recipients) if (user !== message.from.id && !isOnline(user)) this.offline.push(user, message);
  }

  close(): void {
    this.offline?.close();
  }

  /** A failed call: logged; `open` goes on (undefined), `closed` refuses the login or message with server_busy. */
  private failed(hook: 'login' | 'publish', policy: 'closed' | 'open', err: unknown): undefined {
    const kind = err instanceof HookFailure ? err.kind : 'network';
    // An answer of the wrong shape is found here, after the call: counted here.
    if (!(err instanceof HookFailure && err.counted)) this.stats.failed(hook, kind);
    this.log.warn({ hook, kind, err: String(err), policy }, 'hook call failed');
    if (policy === 'open') return undefined;
    throw new ProtocolError('server_busy', BUSY);
  }
}
