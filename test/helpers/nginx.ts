/**
 * A real nginx for tests, in front of webim nodes, with a configuration
 * printed by `webim nginx-config`: a temp directory holds a whole nginx.conf
 * (pid, logs and temp paths inside it) whose http block includes the
 * generated file. nginx runs in the foreground as a child of the test and
 * is stopped, workers included, in teardown.
 *
 * Where nginx is missing, a test under CI (CI set) fails: CI installs it
 * (.ci/run), so a missing one is a broken environment, not a reason to
 * pass. Elsewhere the test is skipped with the reason printed.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { BIN } from './process.js';

/** nginx's path: $NGINX, else the one on PATH, else Debian's. */
export function findNginx(): string | undefined {
  if (process.env.NGINX) return process.env.NGINX;
  const which = spawnSync('sh', ['-c', 'command -v nginx'], { encoding: 'utf8' });
  const found = which.stdout.trim();
  if (which.status === 0 && found !== '') return found;
  return existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : undefined;
}

/** The nginx to test with; undefined after failing (CI) or skipping (elsewhere) the test. */
export function requireNginx(t: Test): string | undefined {
  const nginx = findNginx();
  if (nginx !== undefined) return nginx;
  const reason = 'nginx not found (not on PATH, no /usr/sbin/nginx; set NGINX=/path/to/nginx)';
  if (process.env.CI) {
    t.fail(`${reason}: CI must have it (.ci/run installs nginx-light)`);
  } else {
    console.log(`# skipping the nginx tests: ${reason}`);
    t.plan(0, reason);
  }
  return undefined;
}

/** A TCP port free on 127.0.0.1 now (the kernel's pick, released at once). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** The environment without WEBIM_ variables, so that generated text depends on the arguments alone. */
export function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('WEBIM_')));
}

/** Runs `webim nginx-config` and returns what it printed; throws with its stderr if it failed. */
export function generateConfig(args: readonly string[], env: NodeJS.ProcessEnv = cleanEnv()): string {
  return execFileSync(process.execPath, [BIN, 'nginx-config', ...args], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export interface Nginx {
  dir: string;
  child: ChildProcess;
  /** What nginx wrote to its error log so far. */
  errorLog(): string;
  stop(): Promise<void>;
}

function nginxConf(dir: string, siteFile: string): string {
  const lines = [
    'daemon off;',
    'master_process on;',
    'worker_processes 1;',
    `pid ${join(dir, 'nginx.pid')};`,
    `error_log ${join(dir, 'error.log')} warn;`,
    // Workers would otherwise switch to nobody, who may not read the temp directory of a root test run.
    ...(process.getuid?.() === 0 ? ['user root;'] : []),
    'events { worker_connections 1024; }',
    'http {',
    '    access_log off;',
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((k) => `    ${k}_temp_path ${join(dir, k)};`),
    `    include ${siteFile};`,
    '}',
  ];
  return lines.join('\n') + '\n';
}

/** Writes the generated site file and a whole nginx.conf around it into a new temp directory. */
export function prepare(site: string): { dir: string; conf: string } {
  const dir = mkdtempSync(join(tmpdir(), 'webim-nginx-'));
  const siteFile = join(dir, 'webim.conf');
  writeFileSync(siteFile, site);
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, nginxConf(dir, siteFile));
  return { dir, conf };
}

/** `nginx -t` on a generated site file: exit status and nginx's own words. */
export function checkConfig(nginx: string, site: string): { ok: boolean; output: string } {
  const { dir, conf } = prepare(site);
  try {
    const r = spawnSync(nginx, ['-t', '-p', `${dir}/`, '-c', conf], { encoding: 'utf8' });
    return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false; // ESRCH: gone
  }
}

function childrenOf(pid: number): number[] {
  const r = spawnSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' });
  return r.stdout.split('\n').map((s) => Number(s.trim())).filter((n) => n > 0);
}

/** Whether something accepts TCP connections on 127.0.0.1:`port` now. */
export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts nginx with the site file and resolves once `port` accepts connections. */
export async function startNginx(nginx: string, site: string, port: number): Promise<Nginx> {
  const { dir, conf } = prepare(site);
  const errorLog = () => (existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8') : '');
  const child = spawn(nginx, ['-p', `${dir}/`, '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let workers: number[] = [];
  // A test process that dies early must not leave nginx holding the port.
  const killAll = () => {
    for (const pid of [...workers, child.pid ?? 0]) if (pid > 0 && alive(pid)) process.kill(pid, 'SIGKILL');
  };
  process.once('exit', killAll);

  const deadline = Date.now() + 5000;
  while (!(await canConnect(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      killAll();
      throw new Error(`nginx did not start on port ${port}: ${stderr}${errorLog()}`);
    }
    await sleep(25);
  }
  workers = child.pid === undefined ? [] : childrenOf(child.pid);

  return {
    dir,
    child,
    errorLog,
    async stop() {
      // Fast shutdown: held polls and streams would keep a graceful one (SIGQUIT) waiting for their timeouts.
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await Promise.race([exited, sleep(5000)]);
      const left = [...workers, child.pid ?? 0].filter((pid) => pid > 0 && alive(pid));
      for (const pid of left) process.kill(pid, 'SIGKILL');
      await Promise.race([exited, sleep(1000)]);
      process.removeListener('exit', killAll);
      rmSync(dir, { recursive: true, force: true });
      if (left.length > 0) throw new Error(`nginx ignored SIGTERM; killed ${left.join(', ')}`);
    },
  };
}
