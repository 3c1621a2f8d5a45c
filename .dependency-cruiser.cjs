/**
 * Import rules of webim (docs/architecture.md), checked by
 * test/import-rules.test.ts on every `npm test`:
 * - no import cycle anywhere in src/, transports/ and bin/, type-only
 *   imports included;
 * - the chat core (src/, but for the composition root) never imports a
 *   transport;
 * - a transport imports from src/ only the interface the core offers it
 *   (src/core/transport.ts), the error codes (src/errors.ts, the one place
 *   for them) and the shared utilities in src/common/;
 * - only the composition root (src/server.ts and bin/) imports both the
 *   core and transport implementations.
 */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A cycle makes two modules one: neither can be read, tested or changed alone.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'core-imports-no-transport',
      severity: 'error',
      comment: 'The core never knows which transport carried a message; only src/server.ts wires transports in.',
      from: { path: '^src/', pathNot: '^src/server\\.ts$' },
      to: { path: '^transports/' },
    },
    {
      name: 'transports-use-the-port-only',
      severity: 'error',
      comment: 'A transport moves bytes: it may use the interface the core offers it and the shared utilities, nothing else of src/.',
      from: { path: '^transports/' },
      to: { path: '^src/', pathNot: ['^src/core/transport\\.ts$', '^src/errors\\.ts$', '^src/common/'] },
    },
    {
      name: 'shared-stands-alone',
      severity: 'error',
      comment: 'What both sides may use depends on neither.',
      from: { path: ['^src/common/', '^src/errors\\.ts$', '^src/core/transport\\.ts$'] },
      to: { path: ['^transports/', '^src/(?!common/)'] },
    },
  ],
  options: {
    includeOnly: '^(src|transports|bin)/',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
