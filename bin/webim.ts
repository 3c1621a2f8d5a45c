#!/usr/bin/env node
/**
 * The `webim` command (PROTOCOL.md section 8).
 *   webim start [flags]     run the chat server
 *   webim help [--markdown] list every flag of `start` (the README table)
 */
import { ConfigError, parseConfig, settingsMarkdown, settings, envName } from '../src/config.js';
import { createServer } from '../src/server.js';

function usage(): string {
  const lines = ['usage: webim <command> [flags]', '', 'commands:', '  start        run the chat server', '  help         this text (--markdown: the configuration table)', '', 'flags of start (environment fallback in brackets):'];
  for (const def of Object.values(settings)) {
    lines.push(`  --${def.flag.padEnd(24)} ${def.help} [${envName(def.flag)}; default ${JSON.stringify(def.def)}]`);
  }
  return lines.join('\n');
}

async function start(argv: string[]): Promise<void> {
  const config = parseConfig(argv);
  const server = await createServer(config);
  const addr = await server.listen();
  server.app.log.info({ ...addr, store: config.store, dataDir: config.dataDir }, 'webim is ready');
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    server.app.log.info({ signal }, 'shutting down');
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        server.app.log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

async function main(args: string[]): Promise<void> {
  const [command = 'help', ...rest] = args;
  switch (command) {
    case 'start':
      return start(rest);
    case 'help':
    case '--help':
    case '-h':
      console.log(rest.includes('--markdown') ? settingsMarkdown() : usage());
      return;
    default:
      throw new ConfigError(`unknown command "${command}"`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof ConfigError) {
    console.error(`webim: ${err.message}\n\n${usage()}`);
    process.exit(2);
  }
  console.error(err);
  process.exit(1);
});
