// A folder synced from inside a git work tree leaves out what the repo's own ignore files leave out, as git does:
// checked against git itself (`git ls-files --others --exclude-standard` lists exactly the files git does not ignore).

import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createHasher, type Hasher } from '../../pkg/sync/hash.ts';
import { rebase, repoIgnoreRules } from '../../pkg/sync/repo-ignore.ts';
import { scanPaths, scanTree } from '../../pkg/sync/scan.ts';
import { makeTempDir } from './helpers.ts';

let hasher: Hasher;
let repo: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  hasher = await createHasher();
});
beforeEach(async () => {
  ({ dir: repo, cleanup } = await makeTempDir());
  execFileSync('git', ['init', '-q', repo]);
});
afterEach(() => cleanup());

async function files(paths: Record<string, string>): Promise<void> {
  for (const [p, text] of Object.entries(paths)) {
    await mkdir(dirname(join(repo, p)), { recursive: true });
    await writeFile(join(repo, p), text);
  }
}

/** The files beneath folder (relative to it) that git does not ignore. */
function gitKeeps(folder: string): string[] {
  const out = execFileSync('git', ['-C', repo, 'ls-files', '--others', '--exclude-standard', '--', folder], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l !== '').map((l) => l.slice(folder.length + 1)).sort();
}

async function kxKeeps(folder: string): Promise<string[]> {
  const { manifest } = await scanTree(join(repo, folder), { hasher, repoIgnoreFiles: true, hashFiles: false });
  return [...manifest].filter(([, e]) => e.kind === 'file').map(([p]) => p).sort();
}

const layout = {
  '.gitignore': ['*.log', '/top-only.txt', 'services/*/dist/', 'services/api/secret.env', '**/cache/', '!keep.log', 'node_modules/', 'docs/'].join('\n'),
  '.git/info/exclude': 'scratch/\n',
  'services/.gitignore': ['/api/tmp/', '*.bak', '!important.bak'].join('\n'),
  'services/api/.gitignore': 'local.txt\n',
  'services/api/main.ts': 'main',
  'services/api/top-only.txt': 'not the top one, so kept',
  'services/api/debug.log': 'x',
  'services/api/keep.log': 'negated',
  'services/api/secret.env': 'x',
  'services/api/local.txt': 'x',
  'services/api/old.bak': 'x',
  'services/api/important.bak': 'kept',
  'services/api/dist/out.js': 'x',
  'services/api/src/dist/out.js': 'anchored above: kept',
  'services/api/tmp/t.txt': 'x',
  'services/api/src/tmp/t.txt': 'kept',
  'services/api/src/cache/c.bin': 'x',
  'services/api/node_modules/m/index.js': 'x',
  'services/api/scratch/s.txt': 'x',
  'services/api/src/app.ts': 'app',
};

describe('the enclosing git work tree\'s ignore files', () => {
  it('leave out of a subfolder exactly what git leaves out: every .gitignore above it, relative to its own directory, and .git/info/exclude', async () => {
    await files(layout);
    const kept = await kxKeeps('services/api');
    expect(kept).toEqual(gitKeeps('services/api'));
    // What the layout means, spelled out (so that a git that changed its mind would show here too).
    expect(kept).toEqual(['.gitignore', 'important.bak', 'keep.log', 'main.ts', 'src/app.ts', 'src/dist/out.js', 'src/tmp/t.txt', 'top-only.txt']);
  });

  it('apply to a subfolder deeper down and to the paths a batch rescans', async () => {
    await files(layout);
    expect(await kxKeeps('services/api/src')).toEqual(gitKeeps('services/api/src'));
    const changed = await scanPaths(join(repo, 'services/api'), ['debug.log', 'main.ts', 'dist/out.js', 'scratch/s.txt'], { hasher, rules: [], repoIgnoreFiles: true, hashFiles: false });
    expect([...changed].filter(([, e]) => e !== null).map(([p]) => p)).toEqual(['main.ts']);
  });

  it('do not apply to a folder that the repo itself ignores (a build output chosen on purpose), nor outside a work tree', async () => {
    await files({ '.gitignore': 'dist/\n*.map\n', 'dist/app.js': 'x', 'dist/app.js.map': 'x' });
    expect(await kxKeeps('dist')).toEqual(['app.js', 'app.js.map']);
    const { dir: plain, cleanup: done } = await makeTempDir();
    try {
      expect(repoIgnoreRules(plain)).toEqual([]);
    } finally {
      await done();
    }
  });

  it('go to the receiver as plain rules over the folder, so that nothing left out is taken for deleted', async () => {
    await files(layout);
    const { rules } = await scanTree(join(repo, 'services/api'), { hasher, repoIgnoreFiles: true, hashFiles: false });
    expect(rules.slice(0, 3)).toEqual([
      { base: '', patterns: ['scratch/'] },
      { base: '', patterns: ['*.log', '/dist/', '/secret.env', '/**/cache/', '!keep.log', 'node_modules/', 'docs/'] },
      { base: '', patterns: ['/tmp/', '*.bak', '!important.bak'] },
    ]);
  });
});

describe('rebase: one pattern of a directory above, for a folder beneath it', () => {
  it('keeps patterns without a slash, matches anchored ones segment by segment, and drops what cannot apply', () => {
    expect(rebase('*.log', ['a', 'b'])).toEqual(['*.log']);
    expect(rebase('!keep.log', ['a'])).toEqual(['!keep.log']);
    expect(rebase('/a/b/c', ['a', 'b'])).toEqual(['/c']);
    expect(rebase('a/*/dist/', ['a', 'x'])).toEqual(['/dist/']);
    expect(rebase('a/[xy]/dist', ['a', 'z'])).toEqual([]);
    expect(rebase('/other/c', ['a'])).toEqual([]);
    expect(rebase('**/cache', ['a', 'b'])).toEqual(['/**/cache']);
    expect(rebase('a/**/gen', ['a', 'b', 'c'])).toEqual(['/**/gen']);
    expect(rebase('a/b/**', ['a', 'b'])).toEqual(['/**']);
  });
});
