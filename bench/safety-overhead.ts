// What one-way-safe sync costs on the save path: one edited file synced with syncPaths into an in-process receiver
// tree of N files, in mirror mode (no ancestor) and in safe mode (ancestor checks, ancestor update). Not a test.
//
// Run: node bench/safety-overhead.ts [files=20000] [edits=60]
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHasher } from '../pkg/sync/hash.ts';
import { syncPaths, syncTree, type SafetyOptions } from '../pkg/sync/push.ts';
import type { Manifest } from '../pkg/sync/types.ts';
import { LocalTree } from '../pkg/receiver/local-tree.ts';

const files = Number(process.argv[2] ?? 20_000);
const edits = Number(process.argv[3] ?? 60);
const hasher = await createHasher();
const base = await mkdtemp(join(tmpdir(), 'kx-safety-bench-'));
try {
  const results: string[] = [];
  for (const mode of (process.argv[4] ? [process.argv[4]] : ['mirror', 'safe']) as ('mirror' | 'safe')[]) {
    const src = join(base, `src-${mode}`);
    const dst = join(base, `dst-${mode}`);
    for (let d = 0; d < files / 100; d++) {
      await mkdir(join(src, `d${d}`), { recursive: true });
      for (let f = 0; f < 100; f++) await writeFile(join(src, `d${d}`, `f${f}.js`), `// ${d}/${f}\n`);
    }
    await mkdir(dst);
    const tree = new LocalTree({ root: dst, hasher });
    await tree.start();
    const safety = (ancestor: Manifest | undefined): SafetyOptions => ({ mode, ancestor });
    let r = await syncTree({ root: src, receiver: tree, hasher, rules: [], safety: safety(undefined) });
    const times: number[] = [];
    for (let i = 0; i < edits; i++) {
      const p = `d${i % (files / 100)}/f${i % 100}.js`;
      await writeFile(join(src, p), `// edit ${i}\n`);
      const t0 = performance.now();
      r = await syncPaths({ root: src, receiver: tree, hasher, rules: [], paths: [p], local: r.local, remote: r.remote, safety: safety(r.ancestor) });
      times.push(performance.now() - t0);
    }
    await tree.close();
    times.sort((a, b) => a - b);
    const q = (x: number): string => times[Math.min(times.length - 1, Math.floor(x * times.length))].toFixed(2);
    results.push(`${mode.padEnd(6)}  ${files} files  syncPaths of one edit: p50 ${q(0.5)} ms, p95 ${q(0.95)} ms (${edits} edits)`);
  }
  console.log(results.join('\n'));
} finally {
  await rm(base, { recursive: true, force: true });
}
