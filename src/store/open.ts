import { MemoryStore } from './memory.js';
import { PostgresStore } from './postgres.js';
import { SqliteStore } from './sqlite.js';
import type { HistoryStore } from './store.js';

/** The stores `--store` can name. */
export const STORE_KINDS = ['memory', 'sqlite'] as const;

export type StoreKind = (typeof STORE_KINDS)[number];

/** For configuration parsing: `--store` and WEBIM_STORE arrive as plain strings. */
export function isStoreKind(text: string): text is StoreKind {
  return (STORE_KINDS as readonly string[]).includes(text);
}

export interface OpenStoreOptions {
  /** Where durable stores keep their files; the memory store ignores it. */
  dataDir: string;
  /** fsync every commit: survives power loss, not only a killed process. */
  fsync?: boolean;
  /** A PostgreSQL URL (`--database`): when set, history goes there whatever the kind says. */
  database?: string;
}

/**
 * Builds the store the configuration asks for. It does not call init(), so
 * that the caller decides when to touch the disk and how to report a failure.
 */
export function openStore(kind: StoreKind, opts: OpenStoreOptions): HistoryStore {
  if (opts.database) return new PostgresStore({ url: opts.database });
  switch (kind) {
    case 'memory':
      return new MemoryStore();
    case 'sqlite':
      return new SqliteStore({ dir: opts.dataDir, fsync: opts.fsync ?? false });
    default: {
      // Reachable only from untyped callers that skipped isStoreKind.
      const unknownKind: never = kind;
      throw new Error(`unknown store kind: ${String(unknownKind)}`);
    }
  }
}
