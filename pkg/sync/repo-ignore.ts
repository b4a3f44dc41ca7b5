// The ignore rules a synced folder inherits from the git work tree it lies in, as git applies them to its files:
// .git/info/exclude, then each .gitignore from the work tree's top down to the folder's parent (deeper wins). The
// folder's own ignore files are the scanner's business (it reads them in every directory it enters).
//
// A pattern is relative to the directory of its file, so each is rewritten relative to the synced folder: one
// without a slash matches at any depth and stays as it is; an anchored one (`/build`, `services/*/dist/`) has its
// leading segments matched against the folder's path below that directory and keeps the rest (anchored), or is
// dropped when it cannot match beneath the folder. The result is plain rule sets over the folder (base ''), which
// the receiver applies too, so that nothing the sender leaves out is taken for deleted.
//
// A folder that the work tree itself ignores (a build output, say) was chosen on purpose: no inherited rule applies.

import { lstatSync, readFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { IgnoreMatcher, parseIgnoreFile } from './ignore.ts';
import type { IgnoreRuleSet } from './types.ts';

/** The inherited rule sets for the folder at root (absolute), lowest precedence first; [] outside a work tree. */
export function repoIgnoreRules(root: string): IgnoreRuleSet[] {
  const top = workTreeTop(root);
  if (top === null || top === root) return [];
  // Directories from the work tree's top down to root's parent, each with the .gitignore it holds.
  const chain: string[] = [];
  for (let dir = dirname(root); ; dir = dirname(dir)) {
    chain.unshift(dir);
    if (dir === top) break;
  }
  const files: { dir: string; patterns: string[] }[] = [];
  const exclude = readText(join(top, '.git', 'info', 'exclude'));
  if (exclude !== null) files.push({ dir: top, patterns: parseIgnoreFile(exclude) });
  for (const dir of chain) {
    const text = readText(join(dir, '.gitignore'));
    if (text !== null) files.push({ dir, patterns: parseIgnoreFile(text) });
  }
  if (files.length === 0) return [];

  const inTree = (p: string): string => relative(top, p).split(sep).join('/');
  const matcher = new IgnoreMatcher(files.map((f) => ({ base: f.dir === top ? '' : inTree(f.dir), patterns: f.patterns })));
  if (matcher.ignores(inTree(root), true)) return [];

  const sets: IgnoreRuleSet[] = [];
  for (const f of files) {
    const prefix = relative(f.dir, root).split(sep);
    const patterns = f.patterns.flatMap((p) => rebase(p, prefix));
    if (patterns.length > 0) sets.push({ base: '', patterns });
  }
  return sets;
}

/**
 * One gitignore pattern of a directory D, rewritten for the folder D/prefix: the patterns (zero, one or more,
 * same polarity) that match the same paths beneath the folder, relative to it.
 */
export function rebase(pattern: string, prefix: readonly string[]): string[] {
  let body = pattern.replace(/(?<!\\)\s+$/, '');
  let negate = '';
  if (body.startsWith('!')) {
    negate = '!';
    body = body.slice(1);
  }
  let dirOnly = '';
  if (body.endsWith('/')) {
    dirOnly = '/';
    body = body.replace(/\/+$/, '');
  }
  if (body === '') return [];
  const anchored = body.startsWith('/');
  if (anchored) body = body.slice(1);
  // git: a pattern with a slash anywhere but at its end is relative to its file's directory; one without is not.
  if (!anchored && !body.includes('/')) return [`${negate}${body}${dirOnly}`];
  const rests = new Set<string>();
  matchPrefix(body.split('/'), 0, prefix, 0, rests);
  return [...rests].map((rest) => `${negate}/${rest}${dirOnly}`);
}

/** Collects into out what remains of segs once segs[i..] has consumed prefix[j..] entirely. */
function matchPrefix(segs: readonly string[], i: number, prefix: readonly string[], j: number, out: Set<string>): void {
  if (j === prefix.length) {
    // A pattern used up exactly at the folder names the folder itself (handled by the caller's ignored check).
    if (i < segs.length) out.add(segs.slice(i).join('/'));
    return;
  }
  if (i === segs.length) return; // matches an ancestor of the folder: the caller's ignored check covers it
  const seg = segs[i];
  if (seg === '**') {
    matchPrefix(segs, i + 1, prefix, j, out); // ** as nothing
    matchPrefix(segs, i, prefix, j + 1, out); // ** takes one more directory
    return;
  }
  if (segmentRegExp(seg).test(prefix[j])) matchPrefix(segs, i + 1, prefix, j + 1, out);
}

/** One path segment of a gitignore glob (`*`, `?`, `[...]`, backslash escapes) as a regular expression. */
function segmentRegExp(seg: string): RegExp {
  let re = '';
  for (let k = 0; k < seg.length; k++) {
    const c = seg[k];
    if (c === '\\' && k + 1 < seg.length) re += escapeRe(seg[++k]);
    else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = seg.indexOf(']', k + 2);
      if (end < 0) re += '\\[';
      else {
        const inner = seg.slice(k + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\');
        re += `[${inner}]`;
        k = end;
      }
    } else re += escapeRe(c);
  }
  return new RegExp(`^${re}$`);
}

function escapeRe(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** The directory holding `.git` (a directory, or a file in worktrees and submodules) at or above dir; or null. */
function workTreeTop(dir: string): string | null {
  for (let d = dir; ; d = dirname(d)) {
    try {
      lstatSync(join(d, '.git'));
      return d;
    } catch {
      // not here
    }
    if (dirname(d) === d) return null;
  }
}

function readText(path: string): string | null {
  try {
    const st = lstatSync(path);
    return st.isFile() ? readFileSync(path, 'utf8') : null; // a symlinked ignore file is not followed, as in git
  } catch {
    return null;
  }
}
