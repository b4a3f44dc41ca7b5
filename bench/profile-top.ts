// Where a profiled `kx watch` spent its time: self time by function and by file from V8 .cpuprofile files (as
// KX_BENCH_CPU_PROF=DIR writes them), largest first.
//   node bench/profile-top.ts FILE.cpuprofile... [--top N]
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile {
  nodes: ProfileNode[];
  samples?: number[];
  timeDeltas?: number[];
  startTime: number;
  endTime: number;
}

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' } } });
if (positionals.length === 0) {
  process.stderr.write('usage: profile-top.ts FILE.cpuprofile... [--top N]\n');
  process.exit(2);
}
const repo = new URL('..', import.meta.url).pathname;

/** Self time (µs) by function and by file over every sample of the profiles. */
function selfTimes(files: readonly string[]): { byFunction: Map<string, number>; byFile: Map<string, number>; totalUs: number } {
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  let totalUs = 0;
  for (const file of files) {
    const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
    const nodes = new Map(p.nodes.map((n) => [n.id, n]));
    const samples = p.samples ?? [];
    const deltas = p.timeDeltas ?? [];
    for (let i = 0; i < samples.length; i++) {
      const n = nodes.get(samples[i]);
      const us = deltas[i] ?? 0;
      if (!n) continue;
      totalUs += us;
      const url = n.callFrame.url.replace(/^file:\/\//, '');
      const where = url ? (url.startsWith(repo) ? relative(repo, url) : url.replace(/.*node_modules\//, '')) : '(native)';
      const fn = `${n.callFrame.functionName || '(anonymous)'} ${where}${url ? `:${n.callFrame.lineNumber + 1}` : ''}`;
      byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
      byFile.set(where, (byFile.get(where) ?? 0) + us);
    }
  }
  return { byFunction, byFile, totalUs };
}

const { byFunction, byFile, totalUs } = selfTimes(positionals);
const top = Number(values.top);
const show = (title: string, m: Map<string, number>): void => {
  process.stdout.write(`\n${title} (of ${(totalUs / 1e6).toFixed(2)} s sampled)\n`);
  for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    process.stdout.write(`${(us / 1e3).toFixed(0).padStart(8)} ms ${((100 * us) / totalUs).toFixed(1).padStart(5)}%  ${k}\n`);
  }
};
show('self time by function', byFunction);
show('self time by file', byFile);
