import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { type Config, defaultConfig } from '../../src/config.js';
import { createServer, type WebimServer } from '../../src/server.js';
import { SqliteStore } from '../../src/store/sqlite.js';

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

/**
 * The SQLite store's own connection, for the fault tests: pragmas such as
 * max_page_count and query_only apply to the connection that sets them.
 */
export function serverDb(store: unknown): Database.Database {
  if (!(store instanceof SqliteStore)) throw new Error('the server is not on the SQLite store');
  // Private by design (nothing but these tests may reach around the store); read through a cast rather than widen its API.
  const db = (store as unknown as { db?: Database.Database }).db;
  if (!db) throw new Error('the store is not open');
  return db;
}
