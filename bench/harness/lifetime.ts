/**
 * How every bench process ends, whichever way it ends: the run finished,
 * failed, hit its deadline or was interrupted. A bench forks servers and
 * load generators and writes scratch directories; none of them may
 * outlive it, or the next bench on the machine measures the leftovers.
 */
import { type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** What a bench set up and must take down: child processes, scratch directories and any step of its own. */
export class Teardown {
  private readonly children: ChildProcess[] = [];
  private readonly dirs: string[] = [];
  private readonly steps: Array<() => void> = [];

  /** Kills `child` at the end if it is still running; returns it. */
  track<T extends ChildProcess>(child: T): T {
    this.children.push(child);
    return child;
  }

  /** A fresh directory under the system's temporary one, removed at the end. */
  tempDir(prefix: string): string {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    this.dirs.push(dir);
    return dir;
  }

  /** Runs `step` at the end, after the children are killed and the directories removed. */
  add(step: () => void): void {
    this.steps.push(step);
  }

  /** Safe to run twice: a deadline or a signal may come while the normal end is under way. */
  run(): void {
    // SIGKILL: a child that stopped answering would not heed anything gentler, and the bench is leaving anyway.
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const dir of this.dirs) rmSync(dir, { recursive: true, force: true });
    for (const step of this.steps) step();
  }
}

export interface MainOptions {
  /** Run after `main` however it ends (and before a deadline's or a signal's exit). */
  teardown?: Teardown;
  /**
   * Gives up after `ms`: `giveUp` says so (and may print what was measured), then the teardown runs and the
   * process exits 1. Unref'd, so it never keeps a finished bench alive.
   */
  deadline?: { ms: number; giveUp: () => void };
  /** On SIGINT and SIGTERM: the teardown, then exit 1. */
  signals?: boolean;
  /**
   * 'always': exit once `main` has settled, with the exit code it left, for benches whose clients hold keep-alive
   * sockets and timers (sockjs-client, socket.io-client) that would keep the process up. 'on-error': exit 1 at once
   * on failure (a server child, whose IPC channel would keep it up). Unset: set the exit code and let the process end.
   */
  exit?: 'always' | 'on-error';
}

/** The end of every bench entry point: runs `main`, prints its failure, and ends the process as `options` say. */
export function runMain(main: () => Promise<void>, options: MainOptions = {}): void {
  const { teardown, deadline, exit } = options;
  const timer =
    deadline === undefined
      ? undefined
      : setTimeout(() => {
          deadline.giveUp();
          teardown?.run();
          process.exit(1);
        }, deadline.ms);
  timer?.unref();
  if (options.signals === true) {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        teardown?.run();
        process.exit(1);
      });
    }
  }
  main()
    .catch((err: unknown) => {
      console.error(err);
      process.exitCode = 1;
      if (exit === 'on-error') process.exit(1);
    })
    .finally(() => {
      teardown?.run();
      clearTimeout(timer);
      if (exit === 'always') process.exit();
    });
}
