/**
 * The project's Markdown read the way a reader follows it: the links of a
 * file (code aside, where nothing is a link), the anchors its headings get,
 * and the tables the documents mark for tests. The link test
 * (test/docs-links.test.ts) and the protocol coverage test
 * (test/docs-protocol.test.ts) build on it.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

export interface Link {
  target: string;
  line: number;
}

/** Folders no reader of the repository browses: installed packages, build output, data of local runs. */
const SKIPPED_DIRS = new Set(['node_modules', 'dist', '.git', 'data', '.tap', 'test-artifacts']);

/** Every `.md` file under `root`, as paths relative to it, sorted. */
export function markdownFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) {
        if (!SKIPPED_DIRS.has(name)) walk(path);
      } else if (name.endsWith('.md')) {
        out.push(relative(root, path));
      }
    }
  };
  walk(root);
  return out.sort();
}

/** Whether each line (split on \n) is part of a fenced code block, its fences included. */
function inFence(lines: readonly string[]): boolean[] {
  let fence: string | null = null;
  return lines.map((line) => {
    const open = /^\s{0,3}(`{3,}|~{3,})/.exec(line);
    if (fence !== null) {
      if (open && (open[1] as string).startsWith(fence)) fence = null;
      return true;
    }
    if (open) fence = open[1] as string;
    return open !== null;
  });
}

function splitLines(markdown: string): string[] {
  return markdown.replace(/\r\n/g, '\n').split('\n');
}

/**
 * The text with fenced blocks and code spans blanked out (line count kept):
 * `[x](y)` inside code is an example, not a link.
 */
export function withoutCode(markdown: string): string {
  const lines = splitLines(markdown);
  const fenced = inFence(lines);
  return lines.map((line, i) => (fenced[i] ? '' : line.replace(/(`+)(?:(?!\1)[\s\S])*?\1/g, (span) => ' '.repeat(span.length)))).join('\n');
}

const INLINE = /!?\[(?:[^[\]]|\[[^\]]*\])*\]\(\s*<?([^\s)>]+)>?(?:\s+(?:"[^"]*"|'[^']*'))?\s*\)/g;
const REFERENCE = /^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/;
const HTML_ATTR = /\b(?:href|src)\s*=\s*["']([^"']+)["']/g;

/** Every link and image target of a Markdown text, with its line (1-based). */
export function links(markdown: string): Link[] {
  const out: Link[] = [];
  withoutCode(markdown)
    .split('\n')
    .forEach((line, i) => {
      for (const m of line.matchAll(INLINE)) out.push({ target: m[1] as string, line: i + 1 });
      for (const m of line.matchAll(HTML_ATTR)) out.push({ target: m[1] as string, line: i + 1 });
      const ref = REFERENCE.exec(line);
      if (ref) out.push({ target: ref[1] as string, line: i + 1 });
    });
  return out;
}

/** The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens. */
export function slug(heading: string): string {
  return heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/<[^>]+>/g, '')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
    .replace(/ /g, '-');
}

/** The anchors a Markdown text offers: its headings' (a repeated one gets -1, -2 ...) and explicit `<a id>`/`<a name>`. */
export function anchors(markdown: string): Set<string> {
  const out = new Set<string>();
  const seen = new Map<string, number>();
  const lines = splitLines(markdown);
  const fenced = inFence(lines);
  for (const [i, line] of lines.entries()) {
    // A `#` line inside a fence is a shell comment, not a heading.
    if (fenced[i]) continue;
    const h = /^\s{0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$/.exec(line);
    if (!h) continue;
    const base = slug(h[1] as string);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  for (const m of withoutCode(markdown).matchAll(/<a\s+(?:id|name)\s*=\s*["']([^"']+)["']/g)) out.add(m[1] as string);
  return out;
}

/**
 * What is wrong with each relative link of the Markdown files `files`
 * (relative to `root`): a target outside `root`, a file that does not
 * exist, or an anchor that no heading of the target has. Web links
 * (http, https, mailto) are not followed.
 */
export function brokenLinks(root: string, files: readonly string[]): string[] {
  const problems: string[] = [];
  const anchorCache = new Map<string, Set<string>>();
  const anchorsOf = (path: string): Set<string> => {
    let set = anchorCache.get(path);
    if (!set) {
      set = anchors(readFileSync(path, 'utf8'));
      anchorCache.set(path, set);
    }
    return set;
  };
  const top = resolve(root);
  for (const file of files) {
    const from = join(top, file);
    for (const { target, line } of links(readFileSync(from, 'utf8'))) {
      const where = `${file}:${line}: ${target}`;
      if (/^(?:https?|mailto):/i.test(target)) continue;
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) {
        problems.push(`${where}: a scheme a reader of the repository cannot follow`);
        continue;
      }
      const hash = target.indexOf('#');
      const pathPart = hash < 0 ? target : target.slice(0, hash);
      const anchor = hash < 0 ? undefined : target.slice(hash + 1);
      let path: string;
      try {
        path = pathPart === '' ? from : resolve(pathPart.startsWith('/') ? top : dirname(from), decodeURI(pathPart).replace(/^\/+/, ''));
      } catch {
        problems.push(`${where}: not a valid URL path`);
        continue;
      }
      if (path !== top && !path.startsWith(top + sep)) {
        problems.push(`${where}: leads out of the repository`);
        continue;
      }
      if (!existsSync(path)) {
        problems.push(`${where}: no such file`);
        continue;
      }
      if (anchor !== undefined && path.endsWith('.md') && !anchorsOf(path).has(decodeURIComponent(anchor))) {
        problems.push(`${where}: no heading of ${relative(top, path)} has the anchor #${anchor}`);
      }
    }
  }
  return problems;
}

/**
 * The rows (cells trimmed, header and separator left out) of the first
 * table after the line holding `marker`; undefined where there is none.
 */
export function tableAfter(markdown: string, marker: string): string[][] | undefined {
  const lines = splitLines(markdown);
  let i = lines.findIndex((l) => l.includes(marker));
  if (i < 0) return undefined;
  i++;
  while (i < lines.length && (lines[i] as string).trim() === '') i++;
  const rows: string[][] = [];
  for (; i < lines.length && (lines[i] as string).trimStart().startsWith('|'); i++) {
    const cells = (lines[i] as string).trim().replace(/^\||\|$/g, '').split(/(?<!\\)\|/).map((c) => c.trim());
    rows.push(cells);
  }
  if (rows.length < 2) return undefined;
  return rows.slice(2);
}

/** The `code`-spanned names in a cell: "`joined` / `left`" gives joined and left. */
export function codeNames(cell: string): string[] {
  return [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1] as string);
}
