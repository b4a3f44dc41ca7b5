// Throughput as users meet it: `kx watch` (Docker target: radar in its container, reached over a socket) beside
// lsyncd (inotify + rsync, delay 0) and rsync one-shot runs (a daemon on 127.0.0.1), each with its own copy of the
// same tree and its own destination, in one run:
//   initial sync of the tree: kx from `kx watch` starting to the last file in the container (its row 'watching');
//     lsyncd from its start to "Startup … finished"; rsync one run into an empty directory; and, for scale, the
//     floor: a local `cp -a` of the tree on the same filesystem;
//   a 1,000-file burst (a `git checkout`: 900 edits + 100 new files): kx and lsyncd from the first write to the last
//     file seen in the destination; rsync one run after the burst (it does not pay for the writes);
//   deleting 100 files and renaming a 100-file directory: the same;
//   1 byte changed in a 200 MiB file: a round not counted, then two in opposite orders (and its bytes on the wire:
//     kx's connection to radar read from the kernel's tcp_info; rsync's through a counting proxy).
// Every destination must equal its source after each step, or the numbers mean nothing.
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, rename, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BenchContainer } from './bench-container.ts';
import { QUICK_TREE, SOURCE_TREE, burst, deletedPaths, flipByte, writeLargeFile, writeTree, type Marked, type TreeShape } from './dataset.ts';
import { Cleanup } from './latency.ts';
import { KxWatch, formatPhases } from './peers/kx-watch.ts';
import { Lsyncd, ensureLsyncd } from './peers/lsyncd.ts';
import { RsyncModule } from './peers/rsync-module.ts';
import { rsyncOnce } from './peers/rsync.ts';
import { absent, byteIs, converged, hasText, type Check } from './support/converge.ts';
import { containerPid, containersByLabel, sideSamplers } from './support/proc.ts';
import { wireDelta, wireOf } from './support/wire.ts';
import { formatBytes, type Row, type SideUsage } from './summary.ts';

const TOOLS = ['kx', 'lsyncd', 'rsync'] as const;
type Tool = (typeof TOOLS)[number];
const CONVERGE_MS = 300_000;

export interface ThroughputOptions {
  readonly quick: boolean;
  readonly say: (line: string) => void;
  /** Where the work directory goes (default the OS's temp directory). */
  readonly dir?: string;
}

export async function runThroughput(opts: ThroughputOptions): Promise<Row[]> {
  const { say } = opts;
  ensureLsyncd();
  const shape: TreeShape = opts.quick ? QUICK_TREE : SOURCE_TREE;
  const bigSize = (opts.quick ? 50 : 200) * 1024 * 1024;
  const burstFiles = 1_000;
  const cleanup = new Cleanup();
  try {
    const work = await mkdtemp(join(opts.dir ?? tmpdir(), 'kx-throughput-'));
    cleanup.add(() => rm(work, { recursive: true, force: true }));
    const src = Object.fromEntries(TOOLS.map((t) => [t, join(work, `src-${t}`)])) as Record<Tool, string>;
    const dest = Object.fromEntries(TOOLS.map((t) => [t, join(work, `dest-${t}`)])) as Record<Tool, string>;
    const scratch = Object.fromEntries(TOOLS.map((t) => [t, join(work, `work-${t}`)])) as Record<Tool, string>;
    for (const d of [...Object.values(src), ...Object.values(dest), ...Object.values(scratch)]) await mkdir(d, { recursive: true });

    say(`throughput: writing the tree (${shape.smallFiles + shape.binaries} files) three times`);
    const tree = await writeTree(src.kx, shape, 42);
    for (const t of ['lsyncd', 'rsync'] as const) execFileSync('cp', ['-a', `${src.kx}/.`, src[t]]);
    const treeLabel = `${(tree.files / 1000).toLocaleString('en')}k files, ${formatBytes(tree.bytes)}`;

    const container = new BenchContainer([], [[dest.kx, '/app']]);
    cleanup.add(() => container.close());
    await container.start();
    // radar's container left running by a kx watch for the next of its home (the default, which bench/run.ts turns
    // off for the other cases), and removed at the end.
    const kxOptions = { local: src.kx, remote: '/app', selector: container.label, home: scratch.kx, env: { KX_RADAR_LINGER: '600' } };
    // Replaced once, by the second `kx watch` of the same home (the initial sync with radar left running).
    let kx = new KxWatch(kxOptions);
    cleanup.add(async () => {
      const left = await containersByLabel(kx.radarLabel).catch(() => []);
      if (left.length > 0) execFileSync('docker', ['rm', '-f', ...left], { stdio: 'ignore' });
    });
    cleanup.add(() => kx.close());
    const radarPids: number[] = [];
    const { kxUse, radarUse } = sideSamplers({ get pid() { return kx.pid; } }, () => radarPids, (c) => cleanup.add(c));
    const module = new RsyncModule(dest.lsyncd, scratch.lsyncd);
    cleanup.add(() => module.close());
    await module.start();
    const lsyncd = new Lsyncd(src.lsyncd, module.url, scratch.lsyncd);
    cleanup.add(() => lsyncd.close());

    const rows: Row[] = [];
    const value: Partial<Record<Tool, number>> = {};
    let kxSide: { kx: SideUsage; radar: SideUsage } | undefined;
    let rsyncSide: { peer: SideUsage; peerServer?: SideUsage } | undefined;
    const beginKx = (): void => {
      kxUse.begin();
      radarUse.begin();
    };
    const endKx = (): void => {
      kxSide = { kx: kxUse.end(), radar: radarUse.end() };
    };
    const rsyncRun = async (): Promise<number> => {
      execFileSync('sync');
      const r = await rsyncOnce(src.rsync, dest.rsync, scratch.rsync);
      value.rsync = r.client.wallS;
      rsyncSide = { peer: { rssMb: r.client.maxRssKb / 1024, cpuS: r.client.cpuS }, ...(r.server && { peerServer: { rssMb: r.server.maxRssKb / 1024, cpuS: r.server.cpuS } }) };
      return r.wireBytes;
    };
    const push = (name: string, goal: Row['goal'], note?: string): void => {
      rows.push({
        case: name,
        unit: 's',
        kx: value.kx ?? NaN,
        ...(value.rsync !== undefined && { rsync: value.rsync }),
        ...(value.lsyncd !== undefined && { lsyncd: value.lsyncd }),
        goal,
        usage: { ...kxSide, ...rsyncSide },
        ...(note && { note }),
      });
      say(`throughput: ${name}: kx ${value.kx?.toFixed(2)} s, lsyncd ${value.lsyncd?.toFixed(2)} s, rsync ${value.rsync?.toFixed(2)} s`);
      for (const k of Object.keys(value) as Tool[]) delete value[k];
      kxSide = undefined;
      rsyncSide = undefined;
    };
    const same = (): void => {
      for (const t of TOOLS) assertSame(src[t], dest[t]);
    };

    // --- initial sync ---
    // What any tool's initial sync costs at the least on this machine: the tree copied within the filesystem by one
    // process, with no network, no checks and no atomic writes (no temp file and rename per file). The copy stays
    // (removing 10,000 files just before a tool's run would be in its time).
    say(`throughput: initial sync of ${treeLabel}: a local cp -a (the floor)`);
    execFileSync('sync');
    const floorAt = performance.now();
    execFileSync('cp', ['-a', src.kx, join(work, 'floor-cp')]);
    const floorS = (performance.now() - floorAt) / 1000;
    const floorNote = `; the floor, a local \`cp -a\` of the tree on the same filesystem (one process, no network, no atomic writes): ${floorS.toFixed(2)} s`;
    say(`throughput: initial sync of ${treeLabel}: rsync`);
    await rsyncRun();
    say('throughput: initial sync: lsyncd');
    execFileSync('sync');
    const t0 = performance.now();
    await lsyncd.start(CONVERGE_MS);
    value.lsyncd = (performance.now() - t0) / 1000;
    say('throughput: initial sync: kx watch');
    execFileSync('sync');
    beginKx();
    const findRadar = (async () => {
      for (let i = 0; i < 3000 && radarPids.length === 0; i++) {
        const [id] = await containersByLabel(kx.radarLabel).catch(() => []);
        if (id) radarPids.push(await containerPid(id));
        else await sleep(100);
      }
    })();
    const spawned = await kx.start(CONVERGE_MS);
    const watchingAt = performance.now();
    value.kx = (watchingAt - spawned) / 1000;
    const phases = await kx.startupPhases(spawned, watchingAt);
    endKx();
    await findRadar;
    const peers = { lsyncd: value.lsyncd, rsync: value.rsync, side: rsyncSide };
    push(`initial sync, ${treeLabel}`, { kind: 'ratio', max: 0.5 }, `kx: from \`kx watch\` starting, radar's container started by it${phases === undefined ? '' : `: ${formatPhases(phases)}`}${floorNote}`);
    same();

    // --- initial sync again, by the next `kx watch` of the same kx home: radar's container left running by the
    // first one (KX_RADAR_LINGER), as a Kubernetes node's radar outlives kx watch. The peers' figures are theirs above.
    // Into a new container (same label) with a new, empty destination, as after `docker compose up` recreated it: not
    // the first destination emptied, since ext4 then writes 10,000 files into freshly freed inodes several times
    // slower (measured: 12.9 s instead of 5.1 s, at the same CPU), which is not kx's doing.
    say('throughput: initial sync again: kx watch stopped, a new container with an empty destination, kx watch started again');
    await kx.close();
    await container.close();
    dest.kx = join(work, 'dest-kx-again');
    await mkdir(dest.kx);
    const container2 = new BenchContainer([], [[dest.kx, '/app']], container.label);
    cleanup.add(() => container2.close());
    await container2.start();
    kx = new KxWatch(kxOptions);
    execFileSync('sync');
    beginKx();
    const again = await kx.start(CONVERGE_MS);
    const againAt = performance.now();
    value.kx = (againAt - again) / 1000;
    const againPhases = await kx.startupPhases(again, againAt);
    endKx();
    const adopted = /serves the docker target at \S+, adopted/.test(await readFile(kx.log, 'utf8'));
    Object.assign(value, { lsyncd: peers.lsyncd, rsync: peers.rsync });
    rsyncSide = peers.side;
    push(`initial sync, ${treeLabel}, ${adopted ? 'radar left running by the last kx watch' : 'again (radar not left running: started anew)'}`, { kind: 'ratio', max: 0.5 },
      `kx: from the second \`kx watch\` starting; lsyncd and rsync: their initial sync above${againPhases === undefined ? '' : `: ${formatPhases(againPhases)}`}${floorNote}`);
    same();

    // --- 1,000-file burst ---
    const timedChange = async (tool: 'kx' | 'lsyncd', change: () => Promise<Check[]>): Promise<void> => {
      execFileSync('sync');
      if (tool === 'kx') beginKx();
      const logFrom = tool === 'kx' ? await logSize(kx.log) : 0;
      const start = performance.now();
      const checks = await change();
      const wrote = performance.now();
      const done = await converged(checks, { timeoutMs: CONVERGE_MS, what: tool });
      value[tool] = (done - start) / 1000;
      // Where the time went: writing the change (the bench's own, which rsync does not pay), then the tail.
      tails[tool] = (done - wrote) / 1000;
      say(`throughput: ${tool}: the change written in ${((wrote - start) / 1000).toFixed(2)} s, in the destination ${tails[tool].toFixed(2)} s after`);
      if (tool === 'kx') {
        endKx();
        await kx.waitWatching(CONVERGE_MS, 1);
        say(`throughput: kx: ${describeBatches(await readFile(kx.log, 'utf8').then((t) => t.slice(logFrom), () => ''))}`);
      }
      // lsyncd may still be finishing its last rsync run: let it, so the next step starts from quiet.
      await sleep(500);
    };
    const tails: Partial<Record<'kx' | 'lsyncd', number>> = {};
    const tailNote = (): string => `after the change was written: kx ${tails.kx?.toFixed(2)} s, lsyncd ${tails.lsyncd?.toFixed(2)} s`;
    const marksIn = (tool: Tool, marks: readonly Marked[]): Check[] => marks.map((m) => hasText(join(dest[tool], m.rel), m.marker));
    say(`throughput: ${burstFiles.toLocaleString('en')}-file burst`);
    for (const tool of ['kx', 'lsyncd'] as const) await timedChange(tool, async () => marksIn(tool, await burst(src[tool], shape, burstFiles, 7)));
    await burst(src.rsync, shape, burstFiles, 7);
    await rsyncRun();
    push(`${burstFiles.toLocaleString('en')}-file burst (git checkout: 900 edits, 100 new)`, { kind: 'ratio', max: 0.5 }, tailNote());
    same();

    // --- delete 100 files + rename a 100-file directory ---
    const gone = deletedPaths(shape, 100);
    const newFiles = (await Promise.all(Array.from({ length: 100 }, (_, k) => readFile(join(src.kx, 'src', 'feature', `new${k}.ts`), 'utf8')))).map((text, k) => ({
      rel: `src/feature-moved/new${k}.ts`,
      marker: text.slice(0, text.indexOf('\n')),
    }));
    const deleteAndRename = async (tool: Tool): Promise<Check[]> => {
      await Promise.all(gone.map((rel) => rm(join(src[tool], rel))));
      await rename(join(src[tool], 'src', 'feature'), join(src[tool], 'src', 'feature-moved'));
      return [...gone.map((rel) => absent(join(dest[tool], rel))), absent(join(dest[tool], 'src', 'feature')), ...marksIn(tool, newFiles)];
    };
    say('throughput: delete 100 files + rename a 100-file directory');
    for (const tool of ['kx', 'lsyncd'] as const) await timedChange(tool, () => deleteAndRename(tool));
    await deleteAndRename('rsync');
    await rsyncRun();
    push('delete 100 files + rename a 100-file directory', { kind: 'ratio', max: 0.5 }, tailNote());
    same();

    // --- 1 byte in a large file ---
    const bigRel = join('big', 'big.bin');
    say(`throughput: writing a ${formatBytes(bigSize)} file and syncing it (not timed)`);
    await mkdir(join(src.kx, 'big'));
    await writeLargeFile(join(src.kx, bigRel), bigSize, 9);
    for (const t of ['lsyncd', 'rsync'] as const) execFileSync('cp', ['-a', join(src.kx, 'big'), join(src[t], 'big')]);
    const sized = (tool: Tool): Check[] => [() => statSize(join(dest[tool], bigRel)) === bigSize];
    for (const tool of ['kx', 'lsyncd'] as const) await converged(sized(tool), { timeoutMs: CONVERGE_MS, what: `${tool}: the large file` });
    await kx.waitWatching(CONVERGE_MS, 1);
    await rsyncRun();
    await sleep(1_000);
    const offset = Math.floor(bigSize / 2);
    const flip = async (tool: Tool): Promise<Check[]> => {
      const next = (await byteAt(join(src[tool], bigRel), offset)) ^ 0xff;
      await flipByte(join(src[tool], bigRel), offset);
      // Same size and, within one second, the same mtime: rsync's quick check would skip the file. Move mtime on.
      const later = new Date(Date.now() + 5_000);
      await utimes(join(src[tool], bigRel), later, later);
      return [byteIs(join(dest[tool], bigRel), offset, next)];
    };
    // A round that is not counted, then two in opposite orders, each tool's figure the mean of its two: on this VM
    // the first process to fill the page cache after a quiet spell pays for memory the host took back (perf:
    // copy_folio_from_iter_atomic in its writes). With kx always first after the setup, kx took 0.53–0.67 s and rsync
    // 0.37–0.40 s; with rsync first, rsync 0.87 s and kx 0.16 s.
    say(`throughput: 1 byte changed in the ${formatBytes(bigSize)} file: a round not counted, then rsync first, then kx first`);
    const rounds: Record<Tool, number[]> = { kx: [], lsyncd: [], rsync: [] };
    let kxWire = 0;
    let rsyncWire = 0;
    const orders = [['kx', 'lsyncd', 'rsync'], ['rsync', 'lsyncd', 'kx'], ['kx', 'lsyncd', 'rsync']] as const;
    for (const [round, order] of orders.entries()) {
      for (const tool of order) {
        if (tool === 'rsync') {
          await flip('rsync');
          rsyncWire = await rsyncRun();
        } else if (tool === 'kx') {
          const before = await wireOf(kx.pid, kx.statusPort);
          await timedChange('kx', () => flip('kx'));
          kxWire = wireDelta(before, await wireOf(kx.pid, kx.statusPort));
        } else {
          await timedChange(tool, () => flip(tool));
        }
        if (round === 0) continue;
        rounds[tool].push(value[tool] ?? NaN);
      }
    }
    for (const tool of TOOLS) value[tool] = (rounds[tool][0] + rounds[tool][1]) / 2;
    const each = TOOLS.map((t) => `${t} ${rounds[t].map((v) => v.toFixed(2)).join(' / ')} s`).join(', ');
    push(`1 byte changed in a ${formatBytes(bigSize)} file`, { kind: 'ratio', max: 1, against: 'rsync' }, `the mean of two rounds after one not counted, rsync first then kx first: ${each}`);
    rows.push({ case: `bytes on the wire, 1 byte changed in a ${formatBytes(bigSize)} file`, unit: 'bytes', kx: kxWire, rsync: rsyncWire, goal: { kind: 'ratio', max: 1, against: 'rsync' } });
    say(`throughput: bytes on the wire: kx ${formatBytes(kxWire)}, rsync ${formatBytes(rsyncWire)}`);
    same();
    return rows;
  } finally {
    await cleanup.run();
  }
}

/** Seconds from the daemon's "syncing" log line to now (the initial sync without process and radar start). */
export async function syncPart(kx: KxWatch): Promise<number | undefined> {
  const at = await kx.syncStartedAt();
  return at === undefined ? undefined : (Date.now() - at) / 1000;
}

function statSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return -1;
  }
}

export async function byteAt(path: string, offset: number): Promise<number> {
  const fh = await open(path, 'r');
  try {
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, offset);
    return b[0];
  } finally {
    await fh.close();
  }
}

/** The two trees must be equal after every step, or the numbers mean nothing. */
export function assertSame(src: string, dest: string): void {
  try {
    execFileSync('diff', ['-rq', '--no-dereference', src, dest], { stdio: 'pipe' });
  } catch (err) {
    throw new Error(`bench: ${dest} differs from ${src}: ${String((err as { stdout?: Buffer }).stdout ?? err).trim().split('\n').slice(0, 5).join('; ')}`, { cause: err });
  }
}

async function logSize(path: string): Promise<number> {
  return (await readFile(path, 'utf8').catch(() => '')).length;
}

/** The daemon's batch lines in a stretch of its log ("bench → …: 12 files, 40 KiB, 9 ms"): how a change was cut. */
export function describeBatches(log: string): string {
  const batches = [...log.matchAll(/^(\S+)\s+info\s+bench → [^:]+: (\d+) files?, [^,]+, (\d+) ms(?:, (\d+) removed)?$/gm)];
  const full = [...log.matchAll(/^\S+\s+info\s+bench → [^:]+: full sync sent/gm)].length;
  if (batches.length === 0) return `no batches logged${full > 0 ? `, ${full} full sync(s)` : ''}`;
  const t0 = Date.parse(batches[0][1]);
  const each = batches.map((m) => `+${Date.parse(m[1]) - t0} ms: ${m[2]} files${m[4] ? ` ${m[4]} removed` : ''}, ${m[3]} ms after its first event`);
  return `${batches.length} batch(es)${full > 0 ? `, ${full} full sync(s)` : ''}: ${each.join('; ')}`;
}
