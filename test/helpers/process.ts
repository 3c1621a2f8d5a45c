import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/webim.js', import.meta.url));

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  port: number;
  /** Lines the server logged so far (pino JSON). */
  lines: string[];
}

/** Starts `webim start` as a child process and resolves once it logs that it is ready. */
export function spawnServer(args: string[], env: NodeJS.ProcessEnv = {}, cwd?: string): Promise<ServerProcess> {
  const child = spawn(process.execPath, [BIN, 'start', '--host', '127.0.0.1', '--port', '0', ...args], {
    env: { ...process.env, ...env },
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      // A server that never became ready must not outlive the test that started it.
      child.kill('SIGKILL');
      reject(new Error(`server did not start in 10 s: ${stderr}`));
    }, 10000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}: ${stderr}`));
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      lines.push(line);
      let rec: { msg?: string; port?: number };
      try {
        rec = JSON.parse(line) as { msg?: string; port?: number };
      } catch {
        return; // not a log record: keep it in `lines` only
      }
      if (rec.msg === 'webim is ready' && typeof rec.port === 'number') {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        resolve({ child, url: `http://127.0.0.1:${rec.port}`, port: rec.port, lines });
      }
    });
  });
}

export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}
