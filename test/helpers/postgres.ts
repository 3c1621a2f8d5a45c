/**
 * A fresh PostgreSQL database per test file: created on the server of
 * WEBIM_TEST_POSTGRES (default postgres://postgres@127.0.0.1:5432/test,
 * which must be allowed to CREATE DATABASE), dropped in teardown.
 *
 * Where PostgreSQL cannot be reached, a test under CI (CI set) fails: CI
 * starts it (.ci/run), so a missing one is a broken environment, not a
 * reason to pass. Elsewhere the test is skipped with the reason printed.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Test } from 'tap';

/** The server and database the test databases are created from. */
export const POSTGRES_ADMIN_URL = process.env.WEBIM_TEST_POSTGRES || 'postgres://postgres@127.0.0.1:5432/test';

/** `url` with another database name. */
export function databaseUrl(name: string, base = POSTGRES_ADMIN_URL): string {
  const url = new URL(base);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Runs one statement on the admin database (CREATE or DROP DATABASE) with a connection of its own. */
export async function admin(sql: string, url = POSTGRES_ADMIN_URL): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/**
 * Creates an empty database `webim_test_<pid>_<random>` and returns its
 * URL; `t.teardown` drops it (closing whatever connections are still
 * open). Resolves to undefined after failing (CI) or skipping (elsewhere)
 * `t` when PostgreSQL cannot be reached: then the caller adds no tests.
 */
export async function createTestDatabase(t: Test): Promise<string | undefined> {
  const name = `webim_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  try {
    await admin(`CREATE DATABASE ${name}`);
  } catch (err) {
    const reason = `PostgreSQL at ${POSTGRES_ADMIN_URL} cannot create a test database (${describe(err)}; set WEBIM_TEST_POSTGRES)`;
    if (process.env.CI) {
      t.fail(`${reason}: CI must have it (.ci/run starts PostgreSQL)`);
    } else {
      console.log(`# skipping the PostgreSQL tests: ${reason}`);
      t.plan(0, reason);
    }
    return undefined;
  }
  t.teardown(() => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  return databaseUrl(name);
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  return err.message || (err as NodeJS.ErrnoException).code || err.name;
}
