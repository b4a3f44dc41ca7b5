// Save → visible-in-container latency through the whole kx daemon (`kx watch`: chokidar, batching, sync, apply),
// beside lsyncd (inotify + rsync, delay 0) in the same run, into the same busybox container. Each edit is timed from
// just before the write until the marker it carries is readable inside the container, seen through the host's view
// of the container's filesystem (/proc/<pid>/root) — see marker-watch.ts. Goal: p50 ≤ 5 ms, p95 ≤ 15 ms.
//
// Run alone with `node bench/latency.ts`; `npm run bench` runs it after the throughput scenarios. Not a test.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BenchContainer } from './bench-container.ts';
import { watchForMarker, type Sighting, type WatchCost } from './marker-watch.ts';
import { KxWatch } from './peers/kx-watch.ts';
import { Lsyncd, ensureLsyncd } from './peers/lsyncd.ts';
import { RsyncModule } from './peers/rsync-module.ts';
import { containerPid, containersByLabel, UsageSampler, type SideUsage } from './support/proc.ts';

/** The goal on the Docker target, whatever the tree size. */
export const TARGET = { p50Ms: 5, p95Ms: 15 } as const;

export interface Sample {
  readonly kind: EditKind;
  /** Write started → marker readable in the container. */
  readonly ms: number;
  /** Which look saw the marker first. */
  readonly via: 'inotify' | 'poll';
  /** kx only: the daemon's own latency of that batch (its first chokidar event → landed). */
  readonly daemonMs?: number;
}

export interface ToolResult {
  readonly tool: 'kx' | 'lsyncd' | 'floor';
  readonly samples: readonly Sample[];
  readonly cost: WatchCost;
  /** kx only: peak RSS and CPU of `kx watch` and of radar's container while the edits ran. */
  readonly usage?: { readonly kx: SideUsage; readonly radar: SideUsage };
}

export interface LatencyOptions {
  /** Edits per tool (at least 10; default 36), after 3 warm-up edits that are not counted. */
  readonly edits?: number;
  readonly spacingMs?: number;
  /** Default true; false measures kx alone (for profiling runs). */
  readonly lsyncd?: boolean;
  /** The daemon's command before `watch --status-port N`; default: this repo's kx. */
  readonly kxCommand?: readonly string[];
  /** Progress lines (default: stderr). */
  readonly say?: (line: string) => void;
}

const stderrSay = (line: string): void => void process.stderr.write(`bench: ${line}\n`);

/** Runs the benchmark and prints its table to stdout (progress to stderr). */
export async function runLatencyBench(opts: LatencyOptions = {}): Promise<ToolResult[]> {
  const edits = Math.max(opts.edits ?? 36, 10);
  const spacingMs = opts.spacingMs ?? 300;
  const withLsyncd = opts.lsyncd ?? true;
  const say = opts.say ?? stderrSay;
  if (withLsyncd) ensureLsyncd();
  const cleanup = new Cleanup();
  try {
    const work = await mkdtemp(join(tmpdir(), 'kx-latency-'));
    cleanup.add(() => rm(work, { recursive: true, force: true }));
    const container = new BenchContainer(['/app', '/app2', '/probe']);
    cleanup.add(() => container.close());
    await container.start();
    const dirs = { kx: join(work, 'kx-src'), lsyncd: join(work, 'lsyncd-src'), kxHome: join(work, 'kx-home'), lsyncdWork: join(work, 'lsyncd') };
    for (const d of Object.values(dirs)) await mkdir(d, { recursive: true });
    writeProject(dirs.kx);
    writeProject(dirs.lsyncd);
    const results: ToolResult[] = [];

    // What measuring itself costs: edits written straight into the container, no sync tool in between.
    say('latency floor (writes straight into the container)');
    writeProject(container.hostPath('/probe'));
    results.push(await measure('floor', container.hostPath('/probe'), container.hostPath('/probe'), edits, spacingMs));

    say(`latency of kx watch, ${edits} edits ${spacingMs} ms apart`);
    const kx = new KxWatch({ local: dirs.kx, remote: '/app', selector: container.label, home: dirs.kxHome, ...(opts.kxCommand && { command: opts.kxCommand }) });
    cleanup.add(() => kx.close());
    await kx.start();
    const [radarId] = await containersByLabel(kx.radarLabel);
    const radarPids = radarId ? [await containerPid(radarId)] : [];
    const kxUse = new UsageSampler(() => [kx.pid]);
    const radarUse = new UsageSampler(() => radarPids);
    kxUse.begin();
    radarUse.begin();
    const kxResult = await measure('kx', dirs.kx, container.hostPath('/app'), edits, spacingMs, async () => (await kx.row())?.latencyMs);
    results.push({ ...kxResult, usage: { kx: kxUse.end(), radar: radarUse.end() } });
    kxUse.close();
    radarUse.close();
    await kx.close();

    if (withLsyncd) {
      say(`latency of lsyncd (delay 0, rsync daemon on 127.0.0.1), ${edits} edits ${spacingMs} ms apart`);
      const module = new RsyncModule(container.hostPath('/app2'), dirs.lsyncdWork);
      cleanup.add(() => module.close());
      await module.start();
      const lsyncd = new Lsyncd(dirs.lsyncd, module.url, dirs.lsyncdWork);
      cleanup.add(() => lsyncd.close());
      await lsyncd.start();
      results.push(await measure('lsyncd', dirs.lsyncd, container.hostPath('/app2'), edits, spacingMs));
    }
    printLatency(results);
    // Tails move with what else runs on the machine: say how busy it was.
    console.log(`machine: ${availableParallelism()} CPUs, load average ${loadavg()[0].toFixed(1)} (1 min) at the end of the run`);
    if (process.env.KX_BENCH_LATENCY_JSON) writeFileSync(process.env.KX_BENCH_LATENCY_JSON, JSON.stringify(results, null, 1));
    return results;
  } finally {
    await cleanup.run();
  }
}

// --- edits ----------------------------------------------------------------------------------------------------

export type EditKind = 'in-place' | 'new file' | 'rename';
const KINDS: readonly EditKind[] = ['in-place', 'new file', 'rename'];
const WARMUP = 3;
const TIMEOUT_MS = 20_000;

/** A small project: the three files the edits touch and 200 others, so the tree is not trivially empty. */
export function writeProject(root: string): void {
  for (const d of ['src', 'notes', 'lib']) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, 'src', 'app.js'), source('initial'));
  writeFileSync(join(root, 'src', 'main.css'), source('initial'));
  writeFileSync(join(root, 'notes', 'README.md'), 'notes\n');
  for (let i = 0; i < 200; i++) writeFileSync(join(root, 'lib', `mod-${i}.js`), source(`mod-${i}`));
}

/** About 2 KiB of source text carrying the marker on its first line. */
function source(marker: string): string {
  return `// ${marker}\n${'export const filler = "0123456789abcdefghijklmnopqrstuvwxyz";\n'.repeat(36)}`;
}

/**
 * One edit as editors make them, all synchronous like an editor's save: in-place (truncate + write, VS Code's way),
 * a new file, or write-temp-then-rename into place (vim's writebackup, JetBrains' safe write). Returns the path
 * relative to the root where the marker will be.
 */
function edit(root: string, kind: EditKind, i: number, marker: string): string {
  switch (kind) {
    case 'in-place':
      writeFileSync(join(root, 'src', 'app.js'), source(marker));
      return 'src/app.js';
    case 'new file':
      writeFileSync(join(root, 'notes', `note-${i}.md`), source(marker));
      return `notes/note-${i}.md`;
    case 'rename': {
      const temp = join(root, 'src', `main.css.${i}.tmp`);
      writeFileSync(temp, source(marker));
      renameSync(temp, join(root, 'src', 'main.css'));
      return 'src/main.css';
    }
  }
}

export async function measure(
  tool: ToolResult['tool'],
  local: string,
  target: string,
  edits: number,
  spacingMs: number,
  daemonLatency?: () => Promise<number | undefined>,
): Promise<ToolResult> {
  const cost: WatchCost = { looks: 0, lookMs: 0 };
  const samples: Sample[] = [];
  const id = randomBytes(3).toString('hex');
  for (let i = 0; i < WARMUP + edits; i++) {
    const kind = KINDS[i % KINDS.length];
    const marker = `kx-bench-marker-${tool}-${id}-${i}`;
    const rel = kind === 'in-place' ? 'src/app.js' : kind === 'new file' ? `notes/note-${i}.md` : 'src/main.css';
    const counted = i >= WARMUP ? cost : { looks: 0, lookMs: 0 };
    const watch = watchForMarker(join(target, rel), marker, TIMEOUT_MS, counted);
    const t0 = performance.now();
    edit(local, kind, i, marker);
    let seen: Sighting;
    try {
      seen = await watch.seen;
    } catch (err) {
      throw new Error(`${tool}: edit ${i} (${kind}): ${(err as Error).message}`, { cause: err });
    }
    await sleep(spacingMs);
    const daemonMs = await daemonLatency?.();
    if (i >= WARMUP) samples.push({ kind, ms: seen.at - t0, via: seen.via, ...(daemonMs !== undefined && { daemonMs }) });
  }
  return { tool, samples, cost };
}

// --- report ---------------------------------------------------------------------------------------------------

/** Nearest-rank percentile of an ascending list. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export interface Stats {
  p50: number;
  p95: number;
  max: number;
  mean: number;
}

export function stats(values: readonly number[]): Stats {
  const s = [...values].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p95: percentile(s, 95), max: s[s.length - 1] ?? NaN, mean: s.reduce((a, b) => a + b, 0) / (s.length || 1) };
}

const ms = (n: number): string => (Number.isFinite(n) ? `${n.toFixed(1)} ms` : '-');

export function printLatency(results: readonly ToolResult[]): void {
  const head = ['latency: save → visible', 'edits', 'p50', 'p95', 'max', 'mean', 'p50 in-place', 'p50 new file', 'p50 rename'];
  const rows: string[][] = [];
  const byTool = new Map(results.map((r) => [r.tool, stats(r.samples.map((s) => s.ms))]));
  for (const r of results) {
    const st = byTool.get(r.tool)!;
    const kind = (k: EditKind): string => ms(stats(r.samples.filter((s) => s.kind === k).map((s) => s.ms)).p50);
    const label = r.tool === 'floor' ? 'floor (no sync tool)' : r.tool === 'lsyncd' ? 'lsyncd (delay 0)' : 'kx watch';
    rows.push([label, String(r.samples.length), ms(st.p50), ms(st.p95), ms(st.max), ms(st.mean), kind('in-place'), kind('new file'), kind('rename')]);
  }
  const kx = byTool.get('kx');
  const ls = byTool.get('lsyncd');
  const q = (a: number, b: number): string => (b > 0 ? `×${(a / b).toFixed(2)}` : '-');
  if (kx && ls) rows.push(['kx/lsyncd', '', q(kx.p50, ls.p50), q(kx.p95, ls.p95), q(kx.max, ls.max), q(kx.mean, ls.mean), '', '', '']);
  const all = [head, ...rows];
  const widths = head.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  const line = (r: readonly string[]): string => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  console.log('');
  console.log(line(head));
  for (const r of rows) console.log(line(r));

  const kxResult = results.find((r) => r.tool === 'kx');
  if (kx && kxResult) {
    const daemon = kxResult.samples.flatMap((s) => (s.daemonMs === undefined ? [] : [s.daemonMs]));
    if (daemon.length > 0) {
      const d = stats(daemon);
      console.log(`kx's own view (first chokidar event → batch landed, from kx get): p50 ${ms(d.p50)}, p95 ${ms(d.p95)}, max ${ms(d.max)}`);
    }
    const ok = (v: number, limit: number): string => `${ms(v)} ${v <= limit ? '≤' : '>'} ${limit} ms: ${v <= limit ? 'met' : 'MISSED'}`;
    console.log(`target: p50 ${ok(kx.p50, TARGET.p50Ms)}; p95 ${ok(kx.p95, TARGET.p95Ms)}`);
  }
  const costs = results
    .filter((r) => r.tool !== 'floor' && r.samples.length > 0)
    .map((r) => {
      const n = r.samples.length;
      const polled = r.samples.filter((x) => x.via === 'poll').length;
      return `${r.tool} ${(r.cost.looks / n).toFixed(0)} reads/edit, ${(r.cost.lookMs / n).toFixed(2)} ms/edit, ${polled}/${n} first seen by the poll`;
    });
  if (costs.length > 0) console.log(`measuring (inotify on the target dir + 1 ms poll, reads of one small file): ${costs.join('; ')}`);
}

// --- cleanup --------------------------------------------------------------------------------------------------

/** Closers run last-in first-out, once, on the way out or on SIGINT/SIGTERM. */
export class Cleanup {
  readonly #closers: (() => Promise<unknown>)[] = [];
  #ran: Promise<void> | null = null;
  readonly #onSignal = (signal: NodeJS.Signals): void => {
    stderrSay(`${signal}, cleaning up`);
    void this.run().finally(() => process.exit(130));
  };

  constructor() {
    process.once('SIGINT', this.#onSignal);
    process.once('SIGTERM', this.#onSignal);
  }

  add(close: () => Promise<unknown>): void {
    this.#closers.push(close);
  }

  run(): Promise<void> {
    this.#ran ??= (async () => {
      process.off('SIGINT', this.#onSignal);
      process.off('SIGTERM', this.#onSignal);
      for (const close of this.#closers.reverse()) await close().catch((err) => stderrSay(`cleanup: ${(err as Error).message}`));
    })();
    return this.#ran;
  }
}

if (import.meta.main) {
  try {
    await runLatencyBench();
  } catch (err) {
    stderrSay((err as Error).message);
    process.exitCode = 1;
  }
}
