/** The slice of a pino logger the core uses, so tests can pass a silent one. */
export interface Log {
  error(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

export const silentLog: Log = {
  error() {},
  warn() {},
  info() {},
  debug() {},
};
