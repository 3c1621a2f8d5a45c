/**
 * Moved to src/core/transport.ts (docs/architecture.md): this re-export
 * keeps transports that still import the old path compiling until they
 * import the interface from the core.
 */
export * from '../src/core/transport.js';
