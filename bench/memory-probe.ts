// Where `kx watch`'s memory at rest goes: the memory case's setup (a tree synced by one daemon into two containers),
// then, at rest, the daemon's /proc status and smaps_rollup, its mappings grouped by kind, its threads, and V8's own
// figures (process.memoryUsage, heap statistics, heap spaces) read through the inspector, opened by SIGUSR1 on a
// port the daemon picks (--inspect-port=0, in KX_BENCH_NODE_FLAGS). Optionally a heap snapshot.
//   KX_BENCH_NODE_FLAGS="--max-semi-space-size=8 --inspect-port=0" node bench/memory-probe.ts [FILES] [SNAPSHOT_FILE]
// (the checkout's kx.ts is run as is: add the semi-space flag the package's bin would add itself).
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Cleanup } from './latency.ts';
import { twoContainers } from './memory.ts';
import { ensureRadarImage } from './support/radar-image.ts';

const files = Number(process.argv[2] ?? 10_000);
const snapshotFile = process.argv[3];
const restS = Number(process.env.KX_PROBE_REST_S ?? 15);
const say = (line: string): void => void process.stderr.write(`${line}\n`);

/** Anonymous and file-backed resident memory, grouped: the mappings V8 and malloc make are anonymous. */
function mappings(pid: number): Record<string, number> {
  const text = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  const groups: Record<string, number> = {};
  let name = '';
  let size = 0;
  for (const line of text.split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      name = head[1] || '[anon]';
      const [a, b] = line.split(' ')[0].split('-').map((h) => parseInt(h, 16));
      size = (b - a) / 1024;
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (!rss) continue;
    const kb = Number(rss[1]);
    if (kb === 0) continue;
    const key = name === '[anon]' ? `anon ${size >= 65536 ? '>=64M' : size >= 1024 ? '1-64M' : size === 256 ? '256K' : '<1M'}` : name.includes('/') ? `file ${name.split('/').pop()}` : name;
    groups[key] = (groups[key] ?? 0) + kb;
  }
  return Object.fromEntries(Object.entries(groups).sort((x, y) => y[1] - x[1]).map(([k, v]) => [k, Math.round(v / 1024)]));
}

function threads(pid: number): string[] {
  const out: string[] = [];
  for (const t of readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean)) out.push(`child ${t}`);
  return out;
}

async function inspect(log: string, pid: number, expression: string, snapshot?: string): Promise<unknown> {
  process.kill(pid, 'SIGUSR1');
  let url: string | undefined;
  for (let i = 0; i < 100 && url === undefined; i++) {
    url = /ws:\/\/127\.0\.0\.1:\d+\/[0-9a-f-]+/.exec(readFileSync(log, 'utf8'))?.[0];
    if (url === undefined) await sleep(100);
  }
  if (url === undefined) throw new Error('no inspector url in the log');
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = reject;
  });
  let next = 1;
  const chunks: string[] = [];
  const waiting = new Map<number, (r: unknown) => void>();
  ws.onmessage = (e: MessageEvent): void => {
    const m = JSON.parse(String(e.data)) as { id?: number; method?: string; params?: { chunk: string }; result?: unknown };
    if (m.method === 'HeapProfiler.addHeapSnapshotChunk') chunks.push(m.params!.chunk);
    if (m.id !== undefined) waiting.get(m.id)?.(m.result);
  };
  const call = (method: string, params: object = {}): Promise<unknown> =>
    new Promise((resolve) => {
      const id = next++;
      waiting.set(id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });
  const r = (await call('Runtime.evaluate', { expression, returnByValue: true })) as { result: { value: unknown } };
  if (snapshot) {
    await call('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
    writeFileSync(snapshot, chunks.join(''));
  }
  ws.close();
  return r.result.value;
}

const EXPRESSION = `(() => {
  const v8 = process.getBuiltinModule('v8');
  const mb = (n) => Math.round(n / 1048576 * 10) / 10;
  const mu = process.memoryUsage();
  const hs = v8.getHeapStatistics();
  return {
    memoryUsage: Object.fromEntries(Object.entries(mu).map(([k, v]) => [k, mb(v)])),
    heap: { total: mb(hs.total_heap_size), used: mb(hs.used_heap_size), physical: mb(hs.total_physical_size), malloced: mb(hs.malloced_memory), peakMalloced: mb(hs.peak_malloced_memory), external: mb(hs.external_memory), contexts: hs.number_of_native_contexts, detached: hs.number_of_detached_contexts },
    spaces: Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, { size: mb(s.space_size), used: mb(s.space_used_size), physical: mb(s.physical_space_size) }])),
    resources: process.resourceUsage().maxRSS,
  };
})()`;

await ensureRadarImage(say);
const cleanup = new Cleanup();
try {
  const s = await twoContainers(cleanup, files, say);
  await sleep(restS * 1000);
  const pid = s.kx.pid;
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const pick = (k: string): string => new RegExp(`${k}:\\s+(.*)`).exec(status)?.[1] ?? '';
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const report = {
    files,
    initialS: s.initialS,
    peak: s.peak.kx.rssMb,
    cpuS: s.peak.kx.cpuS,
    status: Object.fromEntries(['VmRSS', 'VmHWM', 'RssAnon', 'RssFile', 'VmData', 'Threads'].map((k) => [k, pick(k)])),
    rollup: Object.fromEntries(rollup.split('\n').slice(1).filter(Boolean).map((l) => l.split(/:\s+/) as [string, string]).filter(([k]) => ['Rss', 'Anonymous', 'Private_Dirty', 'Shared_Clean', 'Private_Clean'].includes(k))),
    mappings: mappings(pid),
    children: threads(pid),
    taskNames: readdirSync(`/proc/${pid}/task`).map((t) => readFileSync(`/proc/${pid}/task/${t}/comm`, 'utf8').trim()).join(','),
  };
  say(JSON.stringify(report));
  // Radar's side, from the host: its container's main process, read the same way (no inspector: it listens in the
  // container). With KX_PROBE_GDB, also what glibc's malloc_trim hands back.
  const [radarPid] = s.radarPids;
  if (radarPid !== undefined) {
    const radarStatus = readFileSync(`/proc/${radarPid}/status`, 'utf8');
    const rpick = (k: string): string => new RegExp(`${k}:\\s+(.*)`).exec(radarStatus)?.[1] ?? '';
    say(`radar: ${JSON.stringify({ status: Object.fromEntries(['VmRSS', 'VmHWM', 'RssAnon', 'RssFile', 'VmData', 'Threads'].map((k) => [k, rpick(k)])), mappings: mappings(radarPid), taskNames: readdirSync(`/proc/${radarPid}/task`).map((t) => readFileSync(`/proc/${radarPid}/task/${t}/comm`, 'utf8').trim()).join(',') })}`);
    if (process.env.KX_PROBE_GDB) {
      const gdb = spawnSync('gdb', ['-p', String(radarPid), '-batch', '-ex', 'call (int)malloc_trim(0)'], { encoding: 'utf8' });
      say(`radar gdb: ${gdb.stdout.split('\n').filter((l) => l.startsWith('$')).join(' ')} ${gdb.stderr.split('\n').slice(-3).join(' ')}`);
      await sleep(1000);
      say(`radar after malloc_trim: ${/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${radarPid}/status`, 'utf8'))![1]} kB; mappings ${JSON.stringify(mappings(radarPid))}`);
    }
  }
  say(JSON.stringify(await inspect(s.kx.log, pid, EXPRESSION, snapshotFile)));
  const rss = (): string => /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1];
  say(`rss after the inspector (and the snapshot's full collection if any): ${rss()} kB`);
  // With --expose-gc in KX_BENCH_NODE_FLAGS: what V8's last-resort collection (it releases pooled pages) leaves.
  const gcMs = await inspect(s.kx.log, pid, `(() => { const t = performance.now(); if (typeof gc === 'function') gc({ type: 'major', execution: 'sync', flavor: 'last-resort' }); return performance.now() - t; })()`);
  await sleep(2000);
  say(`rss after a last-resort gc (${Number(gcMs).toFixed(0)} ms): ${rss()} kB; mappings ${JSON.stringify(mappings(pid))}`);
  // glibc's part: malloc_stats (to the daemon's stderr, its log) and what malloc_trim hands back (needs gdb).
  if (process.env.KX_PROBE_GDB) {
    const gdb = spawnSync('gdb', ['-p', String(pid), '-batch', '-ex', 'call (void)malloc_stats()', '-ex', 'call (int)malloc_trim(0)'], { encoding: 'utf8' });
    say(`gdb: ${gdb.stdout.split('\n').filter((l) => l.startsWith('$')).join(' ')}`);
    await sleep(1000);
    say(`rss after malloc_trim: ${rss()} kB; mappings ${JSON.stringify(mappings(pid))}`);
    const log = readFileSync(s.kx.log, 'utf8');
    say(log.slice(log.lastIndexOf('Arena 0:')));
  }
} finally {
  await cleanup.run();
}
