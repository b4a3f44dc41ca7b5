// Measures how far apart kx's watcher (pkg/daemon/tree-watch.ts) reports the events of one editor save, for the save
// patterns editors use. The Folder's batch delay must exceed the largest gap so one save is one batch.
// Run: npx node test/local/measure-save-gaps.ts
import { TreeWatch } from '../../pkg/daemon/tree-watch.ts';
import { mkdtempSync, writeFileSync, renameSync, truncateSync, appendFileSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as fsp from 'node:fs/promises';

const dir = mkdtempSync(join(tmpdir(), 'kx-gaps-'));
const file = join(dir, 'a.txt');
writeFileSync(file, 'start\n');
const patterns: Record<string, () => void | Promise<void>> = {
  // The same patterns as an editor doing async I/O performs them: each step a separate event-loop turn.
  'async write-temp-then-rename': async () => {
    const h = await fsp.open(join(dir, 'a.txt.tmp~'), 'w');
    await h.write(`x${Math.random()}\n`);
    await h.sync();
    await h.close();
    await fsp.rename(join(dir, 'a.txt.tmp~'), file);
  },
  'async truncate-then-write': async () => {
    const h = await fsp.open(file, 'r+');
    await h.truncate(0);
    await h.sync();
    await h.write(`y${Math.random()}\n`, 0);
    await h.close();
  },
  'write-temp-then-rename': () => {
    writeFileSync(join(dir, '.a.txt.tmp'), `x${Math.random()}\n`);
    renameSync(join(dir, '.a.txt.tmp'), file);
  },
  'truncate-then-write': () => {
    truncateSync(file, 0);
    appendFileSync(file, `y${Math.random()}\n`);
  },
  'vim-backup-rename': () => {
    renameSync(file, `${file}~`);
    writeFileSync(file, `z${Math.random()}\n`);
    unlinkSync(`${file}~`);
  },
};
let times: number[] = [];
const watcher = new TreeWatch(dir, () => false, {
  change: (rel, removed) => {
    times.push(performance.now());
    if (process.env.DEBUG) console.log(removed ? 'removed' : 'changed', rel);
  },
  error: (m) => console.error(m),
});
await watcher.start();
for (const [name, save] of Object.entries(patterns)) {
  const gaps: number[] = [];
  const firsts: number[] = [];
  let events = 0;
  for (let i = 0; i < 40; i++) {
    times = [];
    const t0 = performance.now();
    await save();
    await sleep(150);
    if (times.length > 0) firsts.push(times[0] - t0);
    events += times.length;
    for (let j = 1; j < times.length; j++) gaps.push(times[j] - times[j - 1]);
  }
  firsts.sort((a, b) => a - b);
  console.log(`${name}: ${(events / 40).toFixed(2)} events per save, first event after p50 ${firsts[20]?.toFixed(2)} ms, max ${firsts.at(-1)?.toFixed(2)} ms`);
  gaps.sort((a, b) => a - b);
  const q = (p: number) => (gaps.length ? gaps[Math.min(gaps.length - 1, Math.floor(p * gaps.length))].toFixed(2) : '-');
  console.log(`  gaps: ${gaps.length}, p50 ${q(0.5)} ms, p95 ${q(0.95)} ms, max ${q(1)} ms`);
}
await watcher.close();
rmSync(dir, { recursive: true, force: true });
