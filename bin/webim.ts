#!/usr/bin/env node
/**
 * The `webim` command (docs/protocol.md section 8).
 *   webim start [flags]         run the chat server
 *   webim flash-policy [flags]  run the Flash socket policy listener alone (port 843)
 *   webim nginx-config [flags]  print the nginx configuration for running behind nginx
 *   webim help [--markdown]     list every flag of `start` (the table of docs/configuration.md)
 *   webim help nginx-config --markdown  the table of nginx-config's flags in docs/deploy.md
 */
import { StartupError } from '../src/errors.js';
import { ConfigError, parseConfig, settingsMarkdown, settings, envName, type SettingTable } from '../src/config.js';
import { flashSettings, parseFlashConfig } from '../src/flash-config.js';
import { nginxConfig, nginxSettings, parseNginxConfig } from '../src/nginx-config.js';
import { createPolicyServer } from '../transports/flash-policy-server.js';

function flagLines(table: SettingTable): string[] {
  return Object.values(table).map(
    (def) => `  --${def.flag.padEnd(24)} ${def.help} [${envName(def.flag)}; default ${def.shownDefault ?? JSON.stringify(def.def)}]`,
  );
}

function usage(): string {
  const lines = [
    'usage: webim <command> [flags]',
    '',
    'commands:',
    '  start         run the chat server',
    '  flash-policy  run the Flash socket policy listener on its own (port 843 needs root or CAP_NET_BIND_SERVICE)',
    '  nginx-config  print an nginx configuration (maps, upstreams, server block) for the http context',
    '  help          this text (--markdown: the configuration table of start; nginx-config --markdown: of nginx-config)',
    '',
    'flags of start (environment fallback in brackets):',
    ...flagLines(settings),
    '',
    'flags of flash-policy:',
    ...flagLines(flashSettings),
    '',
    'flags of nginx-config:',
    ...flagLines(nginxSettings),
  ];
  return lines.join('\n');
}

async function start(argv: string[]): Promise<void> {
  const config = parseConfig(argv);
  // Loaded on demand: `webim flash-policy` may run as root and needs none of the chat server (Fastify, SQLite's native module).
  const { createServer } = await import('../src/server.js');
  const server = await createServer(config);
  const addr = await server.listen();
  server.app.log.info({ ...addr, store: server.store.kind, dataDir: config.dataDir }, 'webim is ready');
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

/** The standalone policy listener: a small process that may hold port 843 while the chat server runs unprivileged. */
async function flashPolicy(argv: string[]): Promise<void> {
  const config = parseFlashConfig(argv);
  const listener = createPolicyServer({ domains: config.allowDomains, ports: config.allowPorts });
  let port: number;
  try {
    ({ port } = await listener.listen(config.port, config.host));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    const hint = code === 'EACCES' ? ': ports below 1024 need root, CAP_NET_BIND_SERVICE or a redirect' : '';
    console.error(`webim flash-policy: cannot listen on ${config.host}:${config.port} (${code})${hint}`);
    process.exit(1);
  }
  // Accept errors (such as EMFILE) must not end the listener; they are reported and it goes on.
  listener.server.on('error', (err) => console.error(JSON.stringify({ msg: 'flash policy listener error', err: String(err) })));
  // The one line on stdout: tests and supervisors read the bound port from it.
  console.log(JSON.stringify({ msg: 'flash policy listener ready', port }));
  const stop = (): void => {
    listener.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(`webim flash-policy: close failed: ${String(err)}`);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

async function main(args: string[]): Promise<void> {
  const [command = 'help', ...rest] = args;
  switch (command) {
    case 'start':
      return start(rest);
    case 'flash-policy':
      return flashPolicy(rest);
    case 'nginx-config':
      process.stdout.write(nginxConfig(parseNginxConfig(rest), rest));
      return;
    case 'help':
    case '--help':
    case '-h':
      if (!rest.includes('--markdown')) console.log(usage());
      else console.log(settingsMarkdown(rest.includes('nginx-config') ? nginxSettings : settings));
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
  if (err instanceof StartupError) {
    console.error(`webim: ${err.message}`);
    process.exit(1);
  }
  console.error(err);
  process.exit(1);
});
