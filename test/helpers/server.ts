import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Config, defaultConfig } from '../../src/config.js';
import { createServer, type WebimServer } from '../../src/server.js';

export interface TestServer {
  server: WebimServer;
  url: string;
  port: number;
  close(): Promise<void>;
}

/** A real server on a loopback port with the memory store unless told otherwise. */
export async function startServer(overrides: Partial<Config> = {}): Promise<TestServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'webim-test-'));
  const config = defaultConfig({
    port: 0,
    host: '127.0.0.1',
    store: 'memory',
    logLevel: 'silent',
    dataDir,
    shutdownGrace: 200,
    ...overrides,
  });
  const server = await createServer(config);
  const { port } = await server.listen();
  return {
    server,
    url: `http://127.0.0.1:${port}`,
    port,
    async close() {
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
