// How many inotify watches the daemon's watchers need: one per directory they watch (pkg/daemon/tree-watch.ts on Linux), i.e. every
// directory of each spec's local tree that the spec's ignore rules and root ignore files leave in.

import { opendir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SpecConfig } from '../config/types.ts';
import { IGNORE_FILE_NAMES, IgnoreMatcher, parseIgnoreFile } from '../sync/ignore.ts';
import type { IgnoreRuleSet } from '../sync/types.ts';

/** Directories the specs' watchers would watch, counting each local tree once; stops counting past `cap`. */
export async function watchedDirectories(specs: readonly SpecConfig[], cap = Number.MAX_SAFE_INTEGER): Promise<number> {
  const byRoot = new Map<string, SpecConfig>();
  for (const s of specs) if (!byRoot.has(s.local)) byRoot.set(s.local, s);
  let total = 0;
  for (const spec of byRoot.values()) {
    total += await countTree(spec, cap - total);
    if (total > cap) break;
  }
  return total;
}

async function countTree(spec: SpecConfig, cap: number): Promise<number> {
  const sets: IgnoreRuleSet[] = spec.ignore.length > 0 ? [{ base: '', patterns: [...spec.ignore] }] : [];
  for (const name of IGNORE_FILE_NAMES) {
    const text = await readFile(join(spec.local, name), 'utf8').catch(() => null);
    if (text !== null) sets.push({ base: '', patterns: parseIgnoreFile(text) });
  }
  const matcher = new IgnoreMatcher(sets);
  let count = 0;
  const queue: string[] = [''];
  while (queue.length > 0 && count <= cap) {
    const rel = queue.pop()!;
    const dir = await opendir(rel === '' ? spec.local : join(spec.local, rel)).catch(() => null);
    if (!dir) continue;
    count++;
    for await (const entry of dir) {
      if (!entry.isDirectory()) continue;
      const child = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (!matcher.ignores(child, true)) queue.push(child);
    }
  }
  return count;
}
