/**
 * The webim server as a bench runs it: the same createServer as
 * `webim start`, with the same flags, in a child process forked with IPC
 * (and `--expose-gc` where the bench measures memory) so that the bench
 * can ask it about itself (serve-bench.ts answers) without sharing its
 * event loop or its CPU accounting. Its RSS the bench reads from
 * /proc/<pid>/status. The peers of bench/compare/peers/ are the same kind
 * of child, answering the same questions.
 */
import { parseConfig } from '../../src/config.js';
import { createServer } from '../../src/server.js';
import { runMain } from './lifetime.js';
import { serveBench } from './serve-bench.js';

async function main(): Promise<void> {
  const server = await createServer(parseConfig(process.argv.slice(2)));
  const { port } = await server.listen();
  serveBench(port, () => server.close());
}

runMain(main, { exit: 'on-error' });
