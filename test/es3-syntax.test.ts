/**
 * The browser code webim writes itself (public/**\/*.js, polyfills/**\/*.js)
 * must run in IE6-8: it parses as ECMAScript 3 with acorn, uses no
 * reserved word as a property name (`a.default`, `{ class: 1 }`: syntax
 * errors in old IE), and has no trailing comma before `]` (IE6-8 count an
 * extra element). Package polyfills served from node_modules are not ours
 * and are not checked here.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Options, parse } from 'acorn';
import t from 'tap';
import { CLIENT_PARTS } from '../src/http/client-bundle.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * ES3 as old IE parses it. acorn's `allowReserved: false` only refuses
 * reserved words as identifiers; `'never'` also refuses them as property
 * names after a dot and as object literal keys, which is what IE6-8 choke on.
 */
const ES3: Options = { ecmaVersion: 3, sourceType: 'script', allowReserved: 'never', locations: true };

function jsFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return []; // no such directory: nothing of ours there
  }
  const out: string[] = [];
  for (const name of names.sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...jsFiles(path));
    else if (name.endsWith('.js')) out.push(path);
  }
  return out;
}

/** Parses as old IE would; returns the problems found (empty when the code is fine). */
function es3Problems(source: string): string[] {
  const problems: string[] = [];
  let previous = '';
  try {
    parse(source, {
      ...ES3,
      onToken: (token) => {
        const label = token.type.label;
        if (previous === ',' && label === ']') problems.push(`trailing comma before ] at line ${token.loc?.start.line ?? '?'}`);
        previous = label;
      },
    });
  } catch (err) {
    problems.push((err as Error).message);
  }
  return problems;
}

t.test('the checker itself refuses what old IE refuses', async (t) => {
  const refused: Record<string, string> = {
    'reserved word after a dot': 'var a = {}; a.default = 1;',
    'keyword after a dot': 'var a = {}; a["x"] = a.class;',
    'future reserved word after a dot': 'var a = {}; a.int = 1;',
    'reserved word as an object key': 'var o = { default: 1 };',
    'keyword as an object key': 'var o = { "a": 1, class: 2 };',
    'trailing comma in an object literal': 'var o = { a: 1, };',
    'trailing comma in an array literal': 'var a = [1, 2,];',
    'a getter': 'var o = { get a() { return 1; } };',
    'let': 'let x = 1;',
    'an arrow function': 'var f = () => 1;',
    'a template literal': 'var s = `x`;',
    'a reserved word as a variable': 'var enum = 1;',
  };
  for (const [what, code] of Object.entries(refused)) {
    t.not(es3Problems(code).length, 0, `refuses ${what}: ${code}`);
  }
  const accepted = 'var o = { "default": 1, "class": 2 }; o["default"] = o["class"]; var a = [1, 2]; function f(x) { return x; }';
  t.same(es3Problems(accepted), [], 'accepts quoted keys and bracket access');
});

t.test('every browser file webim writes is ES3', async (t) => {
  const files = [...jsFiles(join(ROOT, 'public')), ...jsFiles(join(ROOT, 'polyfills'))];
  t.ok(files.length > 0, `found ${files.length} files to check`);
  const names = files.map((f) => relative(ROOT, f));
  const expected = [...CLIENT_PARTS.map((part) => `public/webim/${part}`), 'public/app.js'];
  for (const name of expected) t.ok(names.includes(name), `${name} is among them`);
  for (const file of files) {
    const source = readFileSync(file, 'utf8');
    t.ok(source.trim().length > 0, `${relative(ROOT, file)} is not empty`);
    t.same(es3Problems(source), [], `${relative(ROOT, file)} parses as ES3 with no reserved-word property`);
  }
});
