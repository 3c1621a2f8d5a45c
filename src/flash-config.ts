/**
 * The settings of `webim flash-policy` (docs/protocol.md section 8), in a table
 * of their own: the standalone policy listener is a separate process, often
 * started as root or with CAP_NET_BIND_SERVICE for port 843, and shares no
 * setting with the chat server. Parsing, environment fallbacks
 * (`WEBIM_` + the flag) and help text come from src/config.ts.
 */
import { domainsProblem, portsProblem } from './common/flash-policy.js';
import { int, list, parseSettings, type SettingValues, str } from './config.js';

export const flashSettings = {
  port: int('port', 843, 'port of the policy listener (843 is where Flash asks first)', 0, 65535),
  host: str('host', '0.0.0.0', 'address to listen on'),
  allowDomains: list('allow-domains', 'comma-separated domains (host patterns such as `*.example.com`) the policy allows', {
    def: ['*'],
    shownDefault: '*',
    check: domainsProblem,
  }),
  allowPorts: list('allow-ports', 'comma-separated ports or ranges (`8080-8090`) the policy allows', {
    def: ['8080'],
    shownDefault: '8080',
    // Unlike `webim start`, there is no own port to fall back on.
    check: (ports) => (ports.length === 0 ? 'needs at least one port' : portsProblem(ports)),
  }),
} as const;

export type FlashConfig = SettingValues<typeof flashSettings>;

/** Flags first, then the environment, then the defaults; a bad value throws ConfigError. */
export function parseFlashConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): FlashConfig {
  return parseSettings(flashSettings, argv, env);
}

