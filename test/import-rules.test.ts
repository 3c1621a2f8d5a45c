/**
 * The import rules of docs/architecture.md, checked by dependency-cruiser
 * with the project's .dependency-cruiser.cjs: no cycle in src/, transports/
 * and bin/ (type-only imports count), the core imports no transport, a
 * transport imports of src/ only the interface the core offers it and the
 * shared utilities, and the shared utilities depend on neither side. A
 * second test runs the same rules on a small tree made to break them, so
 * that a rule that stopped matching would fail here too.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CRUISER = join(ROOT, 'node_modules/.bin/depcruise');
const CONFIG = join(ROOT, '.dependency-cruiser.cjs');

interface Violation {
  rule: { name: string };
  from: string;
  to: string;
  cycle?: Array<{ name: string }>;
}

async function violations(cwd: string, folders: string[]): Promise<string[]> {
  const { stdout } = await promisify(execFile)(CRUISER, [...folders, '--config', CONFIG, '--output-type', 'json'], { cwd, maxBuffer: 64 * 1024 * 1024 });
  const report = JSON.parse(stdout) as { summary: { violations: Violation[] } };
  return report.summary.violations.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}${v.cycle ? ` (cycle ${v.cycle.map((c) => c.name).join(' -> ')})` : ''}`);
}

t.test('src/, transports/ and bin/ keep the import rules', async (t) => {
  const found = await violations(ROOT, ['src', 'transports', 'bin']);
  t.same(found, [], found.length > 0 ? `violations:\n  ${found.join('\n  ')}` : 'no cycle, no import across the rules');
});

t.test('the rules catch a type-only cycle and a transport that reaches into the core', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'webim-imports-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const folder of ['src/core', 'src/common', 'transports']) mkdirSync(join(dir, folder), { recursive: true });
  cpSync(join(ROOT, 'tsconfig.json'), join(dir, 'tsconfig.json'));
  writeFileSync(join(dir, 'src/core/a.ts'), "import { b } from './b.js';\nexport const a = (): number => b;\n");
  writeFileSync(join(dir, 'src/core/b.ts'), "import type { a } from './a.js';\nexport const b = 1;\nexport type A = typeof a;\n");
  writeFileSync(join(dir, 'src/core/transport.ts'), 'export interface Transport { send(frame: string): void }\n');
  writeFileSync(join(dir, 'src/common/util.ts'), "import { a } from '../core/a.js';\nexport const u = a;\n");
  writeFileSync(join(dir, 'transports/good.ts'), "import type { Transport } from '../src/core/transport.js';\nexport type T = Transport;\n");
  writeFileSync(join(dir, 'transports/bad.ts'), "import { a } from '../src/core/a.js';\nexport const t = a;\n");
  writeFileSync(join(dir, 'src/core/c.ts'), "import { t } from '../../transports/bad.js';\nexport const c = t;\n");
  const found = (await violations(dir, ['src', 'transports'])).join('\n');
  t.match(found, /no-circular: src\/core\/(a|b)\.ts/, 'a cycle through a type-only import');
  t.match(found, /transports-use-the-port-only: transports\/bad\.ts -> src\/core\/a\.ts/, 'a transport importing the core');
  t.notMatch(found, /transports\/good\.ts/, 'a transport importing the interface is fine');
  t.match(found, /core-imports-no-transport: src\/core\/c\.ts -> transports\/bad\.ts/, 'the core importing a transport');
  t.match(found, /shared-stands-alone: src\/common\/util\.ts -> src\/core\/a\.ts/, 'a shared utility importing the core');
});
