/**
 * How a command that failed is answered: a ProtocolError with its own code,
 * a store that cannot write now with `server_busy` (the client keeps the
 * message and sends it again), anything else with `internal`, logged. The
 * connection stays open in every case (docs/protocol.md section 1).
 */
import { ProtocolError, StoreUnavailableError } from '../errors.js';
import type { Log } from '../log.js';
import type { Connection } from './connection.js';

export function answerFailure(conn: Connection, err: unknown, log: Log, ref?: string): void {
  if (err instanceof ProtocolError) {
    conn.error(err.code, err.message, ref);
  } else if (err instanceof StoreUnavailableError) {
    log.warn({ err }, 'store unavailable');
    conn.error('server_busy', undefined, ref);
  } else {
    log.error({ err, ref }, 'command failed');
    conn.error('internal', undefined, ref);
  }
}
