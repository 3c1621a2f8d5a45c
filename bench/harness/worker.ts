/**
 * The child's side of the bench's processes (load generators, and the
 * servers' IPC in serve-bench.ts): answering the parent, taking its
 * messages by type, leaving with it, and opening many connections a
 * bounded number at a time.
 */

/** Sends `msg` to the bench that forked this process (nothing when run by hand, without IPC). */
export function toParent<T>(msg: T): void {
  process.send?.(msg);
}

type Handlers<T extends { type: string }> = { [K in T['type']]?: (msg: Extract<T, { type: K }>) => void | Promise<void> };

/**
 * Hands each message of the parent to the handler of its `type`. A handler that throws or rejects ends the process
 * with 1, which the parent sees as the exit of the child it waits on; and the process leaves as soon as the parent
 * goes away (done, killed, crashed), without closing handshakes, so that no load generator outlives its bench.
 */
export function onParentMessages<T extends { type: string }>(handlers: Handlers<T>): void {
  const fail = (err: unknown): void => {
    console.error(err);
    process.exit(1);
  };
  // One signature for every handler: each is only ever called with the message of its own type.
  const byType = handlers as Record<string, ((msg: T) => void | Promise<void>) | undefined>;
  process.on('message', (msg: T) => {
    try {
      const result = byType[msg.type]?.(msg);
      if (result instanceof Promise) result.catch(fail);
    } catch (err) {
      fail(err);
    }
  });
  process.on('disconnect', () => process.exit(0));
}

/** Failures counted, the first one's text kept for the report. */
export class Failures {
  count = 0;
  first: string | undefined;

  add(err: unknown): void {
    this.count++;
    this.first ??= String(err);
  }
}

/**
 * Runs `each(i)` for i in 0..count-1 on `concurrency` lanes, each lane taking the next i when its last one settled.
 * Logins go this way: each makes the server tell everyone online, so they cost O(n) each and a stampede would only
 * measure the queue. A failure goes to `failures` and the lane goes on.
 */
export async function inLanes(count: number, concurrency: number, each: (i: number) => Promise<void>, failures = new Failures()): Promise<Failures> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      try {
        await each(i);
      } catch (err) {
        failures.add(err);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return failures;
}
