/**
 * One signed, timed call to the application: POST of a JSON body with the
 * signature headers, aborted after `--hook-timeout`. Anything but a 2xx
 * answer with a JSON body is a HookFailure of a kind that the metrics
 * count (HookStats) and the hook's failure policy handles.
 *
 * The signature (docs/api.md, "Hooks"): an HMAC-SHA256, under
 * `--hook-secret`, of the call's Unix time in seconds, a dot, and the exact
 * body. The time is signed with the body so that a call recorded on the way
 * cannot be played again later: the application refuses a time more than
 * five minutes from its own clock, and may remember the call's id
 * (`X-Webim-Id`) for those five minutes to refuse a repeat within them.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const TIMESTAMP_HEADER = 'x-webim-timestamp';
export const SIGNATURE_HEADER = 'x-webim-signature';
export const ID_HEADER = 'x-webim-id';
/** How far a call's time may be from the receiver's clock. */
export const MAX_SKEW_SECONDS = 300;

export function signature(secret: string, timestamp: number, body: string): string {
  return 'sha256=' + createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
}

/** What the application does with a call (test/helpers/hook-app.ts and the examples do the same). */
export function verifyCall(secret: string, timestamp: string | undefined, sig: string | undefined, body: string, nowSeconds: number): boolean {
  if (timestamp === undefined || sig === undefined || !/^\d{1,12}$/.test(timestamp)) return false;
  if (Math.abs(nowSeconds - Number(timestamp)) > MAX_SKEW_SECONDS) return false;
  const expected = Buffer.from(signature(secret, Number(timestamp), body));
  const given = Buffer.from(sig);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export const HOOK_NAMES = ['login', 'publish', 'offline'] as const;
export type HookName = (typeof HOOK_NAMES)[number];

/** Why a call did not give an answer the hook could use. */
export const FAILURE_KINDS = ['timeout', 'network', 'status', 'garbage'] as const;
export type FailureKind = (typeof FAILURE_KINDS)[number];

export class HookStats {
  readonly failures = new Map<HookName, Map<FailureKind, { n: number }>>(
    HOOK_NAMES.map((h) => [h, new Map(FAILURE_KINDS.map((k) => [k, { n: 0 }]))]),
  );
  /** Offline events waiting to be sent now. */
  offlineQueued = 0;
  /** Offline events dropped: the queue was full, or every retry failed. */
  offlineDropped = 0;
  /** Seconds a call took, answered or not; a no-op unless /metrics is on (it sets this). */
  observe: (hook: HookName, seconds: number) => void = () => undefined;

  failed(hook: HookName, kind: FailureKind): void {
    const cell = this.failures.get(hook)?.get(kind);
    if (cell) cell.n++;
  }
}


export class HookFailure extends Error {
  /** Set once the metrics have counted it. */
  counted = false;
  constructor(readonly kind: FailureKind, message: string) {
    super(message);
    this.name = 'HookFailure';
  }
}

export class HookCaller {
  constructor(
    private readonly secret: string,
    private readonly timeoutMs: number,
    private readonly stats: HookStats,
  ) {}

  /** The application's answer as parsed JSON; throws HookFailure (counted) when there is none. */
  async call(hook: HookName, url: string, payload: object): Promise<unknown> {
    const started = performance.now();
    try {
      return await this.send(url, JSON.stringify({ hook, ...payload }));
    } catch (err) {
      const failure = err instanceof HookFailure ? err : new HookFailure('network', String(err));
      this.stats.failed(hook, failure.kind);
      failure.counted = true;
      throw failure;
    } finally {
      this.stats.observe(hook, (performance.now() - started) / 1000);
    }
  }

  private async send(url: string, body: string): Promise<unknown> {
    const timestamp = Math.floor(Date.now() / 1000);
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          [TIMESTAMP_HEADER]: String(timestamp),
          [SIGNATURE_HEADER]: signature(this.secret, timestamp, body),
          [ID_HEADER]: randomBytes(12).toString('base64url'),
        },
        body,
        signal: AbortSignal.timeout(this.timeoutMs),
        redirect: 'error',
      });
    } catch (err) {
      const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
      throw new HookFailure(timedOut ? 'timeout' : 'network', String(err));
    }
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      throw new HookFailure('timeout', `reading the answer: ${String(err)}`);
    }
    if (res.status < 200 || res.status > 299) throw new HookFailure('status', `HTTP ${res.status}`);
    try {
      return text === '' ? {} : (JSON.parse(text) as unknown);
    } catch {
      throw new HookFailure('garbage', 'the answer is not JSON');
    }
  }
}
