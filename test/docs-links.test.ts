/**
 * Every relative link of the project's Markdown (README, docs/, SECURITY.md
 * and the rest; node_modules aside) leads to a file inside the repository,
 * and every anchor to a heading that exists: a reader who clones webim can
 * follow each one. Web links are not followed (the machines that run the
 * tests have no network). The first test feeds the check broken links, so
 * that a check that stopped finding them fails too.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { anchors, brokenLinks, links, markdownFiles, slug } from './helpers/markdown.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

t.test('the check finds a dead file, a dead anchor and a link out of the repository', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'webim-links-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'docs'));
  writeFileSync(join(root, 'docs', 'a.md'), '# A page\n\n## Where `login` goes\n\nText.\n');
  writeFileSync(
    join(root, 'README.md'),
    [
      '# Readme',
      '[fine](docs/a.md) [fine anchor](docs/a.md#where-login-goes) [self](#readme) [web](https://example.com/x)',
      '[dead file](docs/b.md)',
      '[dead anchor](docs/a.md#nowhere)',
      '[outside](../elsewhere/NOTES.md)',
      '`[in code](docs/none.md)`',
      '```',
      '[in a fence](docs/none.md)',
      '```',
      '[ref]: docs/missing.md',
      '<img src="docs/gone.png">',
    ].join('\n'),
  );
  const problems = brokenLinks(root, markdownFiles(root));
  t.equal(problems.length, 5, problems.join('\n'));
  t.match(problems[0], /README\.md:3: docs\/b\.md: no such file/);
  t.match(problems[1], /README\.md:4: docs\/a\.md#nowhere: no heading/);
  t.match(problems[2], /README\.md:5: \.\.\/elsewhere\/NOTES\.md: leads out of the repository/);
  t.match(problems[3], /README\.md:10: docs\/missing\.md: no such file/);
  t.match(problems[4], /README\.md:11: docs\/gone\.png: no such file/);
});

t.test("GitHub's anchors: punctuation dropped, repeats numbered", async (t) => {
  t.equal(slug('3.1 Channels and offsets'), '31-channels-and-offsets');
  t.equal(slug('`login` and `bye`'), 'login-and-bye');
  t.equal(slug('Talking to it: [the protocol](docs/protocol.md)'), 'talking-to-it-the-protocol');
  t.same([...anchors('# A\n## B\n## B\n```\n# not a heading\n```\n<a id="x"></a>\n')], ['a', 'b', 'b-1', 'x']);
  t.same(
    links('[a](x.md "title") ![b](y.png) [c](<z.md>)').map((l) => l.target),
    ['x.md', 'y.png', 'z.md'],
  );
});

t.test("every relative link of the project's Markdown resolves inside the repository", async (t) => {
  const files = markdownFiles(ROOT);
  t.ok(files.includes('README.md') && files.some((f) => f.startsWith('docs')), `found ${files.length} Markdown files`);
  t.same(brokenLinks(ROOT, files), [], 'no broken link');
});
