import { MemoryStore } from './memory.js';
import { SqliteStore } from './sqlite.js';
import type { HistoryStore } from './store.js';

export type StoreKind = 'memory' | 'sqlite';

export interface OpenStoreOptions {
  /** Where durable stores keep their files; the memory store ignores it. */
  dataDir: string;
  /** fsync every commit: survives power loss, not only a killed process. */
  fsync?: boolean;
}

/**
 * Builds the store the configuration asks for. It does not call init(), so
 * that the caller decides when to touch the disk and how to report a failure.
 */
export function openStore(kind: StoreKind, opts: OpenStoreOptions): HistoryStore {
  switch (kind) {
    case 'memory':
      return new MemoryStore();
    case 'sqlite':
      return new SqliteStore({ dir: opts.dataDir, fsync: opts.fsync ?? false });
    default: {
      // Reached only from untyped callers (a config file, the command line).
      const unknownKind: never = kind;
      throw new Error(`unknown store kind: ${String(unknownKind)}`);
    }
  }
}
