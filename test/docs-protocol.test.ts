/**
 * docs/protocol.md names exactly what the server speaks: every error code
 * and `bye` code of src/errors.ts, every command the validator accepts and
 * every message the server sends, and nothing else, in the four tables the
 * document marks for this test. A change that adds a command, an event or
 * a code then fails here until the document describes it. The first test
 * feeds the check a document with a name missing and one made up, so that
 * a check that stopped seeing either fails too.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { decode } from '../src/core/validate.js';
import { ByeCodes, ErrorCodes, ProtocolError } from '../src/errors.js';
import { codeNames, tableAfter } from './helpers/markdown.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DOC = join(ROOT, 'docs', 'protocol.md');

/** The marker comments in docs/protocol.md above the tables this test reads. */
const TABLES = {
  commands: 'docs-protocol.test.ts: client commands',
  messages: 'docs-protocol.test.ts: server messages',
  errors: 'docs-protocol.test.ts: error codes',
  bye: 'docs-protocol.test.ts: bye codes',
} as const;
type Table = keyof typeof TABLES;

/** Whether the validator takes `cmd` as a command: anything but unknown_cmd (a bare frame lacks fields). */
function accepted(cmd: string): boolean {
  try {
    decode({ cmd }, { maxTextLength: 4096 });
    return true;
  } catch (err) {
    return !(err instanceof ProtocolError && err.code === 'unknown_cmd');
  }
}

/** The `case '...'` labels of the validator's switch: the commands it decodes. */
function validatorCases(): string[] {
  const src = readFileSync(join(ROOT, 'src', 'core', 'validate.ts'), 'utf8');
  const body = src.slice(src.indexOf('export function decode('));
  return [...body.matchAll(/case '([a-z_]+)':/g)].map((m) => m[1] as string);
}

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sources(path));
    else if (name.endsWith('.ts')) out.push(path);
  }
  return out;
}

/**
 * The `cmd` of every frame the server builds: each `cmd: '<name>'` literal
 * in src/ and transports/, less the client commands the server handles
 * (the validator, `Extract<Command, { cmd: ... }>` types, and the admin's
 * notice, which it passes through `decode` like a member's `send`).
 */
function serverMessages(): Set<string> {
  const out = new Set<string>();
  for (const file of [...sources(join(ROOT, 'src')), ...sources(join(ROOT, 'transports'))]) {
    if (file.endsWith(join('core', 'validate.ts'))) continue;
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(Extract<Command, \{ |decode\(\{ )?cmd: '([a-z_]+)'/g)) if (m[1] === undefined) out.add(m[2] as string);
  }
  return out;
}

/** The names of each marked table (first column), or why it cannot be read. */
function documented(doc: string): Record<Table, string[]> | string {
  const out: Partial<Record<Table, string[]>> = {};
  for (const [table, marker] of Object.entries(TABLES) as Array<[Table, string]>) {
    const rows = tableAfter(doc, marker);
    if (!rows) return `no table after "<!-- ${marker} -->"`;
    out[table] = rows.flatMap((r) => codeNames(r[0] ?? ''));
  }
  return out as Record<Table, string[]>;
}

/** What the code has that the document lacks, and what the document names that the code lacks. */
function compare(doc: string): string[] {
  const names = documented(doc);
  if (typeof names === 'string') return [names];
  const problems: string[] = [];
  const expect: Record<Table, string[]> = {
    commands: validatorCases(),
    messages: [...serverMessages()],
    errors: Object.keys(ErrorCodes),
    bye: Object.keys(ByeCodes),
  };
  for (const table of Object.keys(TABLES) as Table[]) {
    for (const name of expect[table]) if (!names[table].includes(name)) problems.push(`${table}: \`${name}\` is not in docs/protocol.md`);
    for (const name of names[table]) if (!expect[table].includes(name)) problems.push(`${table}: docs/protocol.md names \`${name}\`, which the server does not have`);
  }
  for (const cmd of names.commands) if (!accepted(cmd)) problems.push(`commands: the validator refuses \`${cmd}\` as unknown`);
  return problems;
}

t.test('what the check reads from the code', async (t) => {
  t.same(validatorCases().sort(), ['history', 'join', 'leave', 'login', 'logout', 'online', 'ping', 'send', 'status', 'typing']);
  for (const cmd of validatorCases()) t.ok(accepted(cmd), `the validator takes ${cmd}`);
  t.notOk(accepted('teleport'), 'and refuses a command it does not have');
  const sent = serverMessages();
  for (const cmd of ['login', 'message', 'ack', 'error', 'bye', 'presence']) t.ok(sent.has(cmd), `the server sends ${cmd}`);
  t.notOk(sent.has('send'), 'a client command the server only handles is no server message');
});

t.test('the check finds a code the document lacks and a name the server lacks', async (t) => {
  const doc = readFileSync(DOC, 'utf8');
  t.same(compare(doc.replace('| `server_busy` |', '| `teleported` |')), [
    'errors: `server_busy` is not in docs/protocol.md',
    'errors: docs/protocol.md names `teleported`, which the server does not have',
  ]);
  t.same(compare(doc.replace('| `typing` |', '| `teleport` |')), [
    'commands: `typing` is not in docs/protocol.md',
    'commands: docs/protocol.md names `teleport`, which the server does not have',
    'commands: the validator refuses `teleport` as unknown',
  ]);
  t.same(compare(doc.replace(TABLES.bye, 'a marker of another name')), [`no table after "<!-- ${TABLES.bye} -->"`]);
});

t.test('docs/protocol.md names every command, message, error and bye code, and no other', async (t) => {
  t.same(compare(readFileSync(DOC, 'utf8')), []);
});
