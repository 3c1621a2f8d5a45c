/**
 * Every error code webim speaks, in one place: the protocol's `error` codes
 * (docs/protocol.md section 3), the `bye` codes, and the HTTP status each maps to
 * when it has to travel as an HTTP answer (Comet, uploads, the server API).
 * Tests assert on these codes, never on the human text.
 */

export const ErrorCodes = {
  bad_json: { status: 400, message: 'the message is not valid JSON' },
  bad_request: { status: 400, message: 'the message is malformed' },
  unknown_cmd: { status: 400, message: 'unknown command' },
  not_logged_in: { status: 401, message: 'log in first' },
  name_taken: { status: 409, message: 'that name is in use by someone online' },
  unauthorized: { status: 401, message: 'the token is missing, bad or expired' },
  forbidden: { status: 403, message: 'not allowed' },
  not_found: { status: 404, message: 'no such room or channel' },
  too_large: { status: 413, message: 'too large' },
  rate_limited: { status: 429, message: 'too many messages, slow down' },
  server_busy: { status: 503, message: 'the server cannot take this now, try again' },
  /** The application's publish hook refused the message (docs/api.md, "Hooks"); its reason is the message. */
  rejected: { status: 403, message: 'the application refused this message' },
  internal: { status: 500, message: 'internal error' },
  /**
   * Server API only, never sent in an `error` frame: creating a room that
   * exists, or an idempotency key reused for another channel's message.
   */
  conflict: { status: 409, message: 'it exists already' },
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export function isErrorCode(code: string): code is ErrorCode {
  return Object.prototype.hasOwnProperty.call(ErrorCodes, code);
}

/**
 * Why the server ends a connection on purpose: the `code` of a `bye`,
 * whether the client should reconnect, the human reason, and the close
 * code a WebSocket client sees (RFC 6455 section 7.4; 4001 is webim's own).
 */
export const ByeCodes = {
  shutdown: { reconnect: true, reason: 'the server is shutting down', close: 1001 },
  logout: { reconnect: false, reason: 'logged out', close: 1000 },
  kicked: { reconnect: false, reason: 'removed by an administrator', close: 4001 },
  rate_limited: { reconnect: false, reason: 'too many messages', close: 1008 },
  too_many_connections: { reconnect: false, reason: 'too many connections from your address', close: 1008 },
  slow_consumer: { reconnect: true, reason: 'the connection could not keep up with its messages', close: 1013 },
  heartbeat_timeout: { reconnect: true, reason: 'no answer to the heartbeat', close: 1001 },
  too_large: { reconnect: false, reason: 'message too large', close: 1009 },
  /** The host application ended the session through the server API (docs/api.md), with a reason of its own. */
  disconnected: { reconnect: false, reason: 'disconnected by the site', close: 4002 },
  /** As `disconnected`, but the site asks the client to come back (after a change of rights, say). */
  force_reconnect: { reconnect: true, reason: 'the site asked the client to reconnect', close: 4003 },
} as const;

export type ByeCode = keyof typeof ByeCodes;

/** An error that carries a protocol code, thrown inside the core and turned into an `error` reply. */
export class ProtocolError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message?: string) {
    super(message ?? ErrorCodes[code].message);
    this.name = 'ProtocolError';
    this.code = code;
  }
}

/** Raised by a store that cannot write now (disk full, read-only): sends get `server_busy`. */
export class StoreUnavailableError extends Error {
  readonly code = 'server_busy' as const;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}

/** Why `webim start` cannot start (a database it cannot reach); the command prints the message alone and exits 1. */
export class StartupError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StartupError';
  }
}
