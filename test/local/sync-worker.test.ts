// A full sync in the worker thread: the worker dials radar through the bulk channel with a client of its own, the
// tree lands as with the in-process engine, progress and the result come back, and the daemon's receiver is not
// used; errors keep their codes; an abort ends that sync, and the worker serves the next; an idle worker ends.
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { inWorkers, SteadyRelease, SYNC_WORKER_NAME, type WorkerEngine } from '../../pkg/daemon/sync-worker.ts';
import { BULK_NICE } from '../../pkg/lifecycle/thread-priority.ts';
import { threads } from '../support/threads.ts';
import type { BulkChannel } from '../../pkg/daemon/target.ts';
import { ErrorCode, isKxError } from '../../pkg/sync/errors.ts';
import { createHasher, type Hasher } from '../../pkg/sync/hash.ts';
import { syncPaths, syncTree, type PushProgress } from '../../pkg/sync/push.ts';
import type { Receiver } from '../../pkg/sync/types.ts';
import { RadarServer } from '../../radar/grpc/server.ts';
import { StaticRootResolver } from '../../radar/grpc/static-resolver.ts';

const TOKEN = 'sync-worker-test-token';
let hasher: Hasher;
let base: string;
let src: string;
let dst: string;
let server: RadarServer;
let bulk: BulkChannel;
let engine: WorkerEngine;

/** The daemon's own client: a full sync with a bulk channel must not touch it. */
const untouched = new Proxy({} as Receiver, {
  get: (_t, name) => {
    throw new Error(`the in-process receiver was used (${String(name)})`);
  },
});

beforeAll(async () => {
  hasher = await createHasher();
});
beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), 'kx-sync-worker-'));
  src = join(base, 'src');
  dst = join(base, 'dst');
  await mkdir(src);
  await mkdir(dst);
  server = new RadarServer({ listen: '127.0.0.1:0', resolver: new StaticRootResolver(dst, TOKEN), hasher, closeGraceMs: 500 });
  bulk = { address: (await server.start()).address, token: TOKEN, clientName: 'kx (test worker)', target: { containerId: '' } };
  engine = inWorkers({ syncTree, syncPaths });
});
afterEach(async () => {
  await engine.close();
  await server.close();
  await rm(base, { recursive: true, force: true });
});

async function seed(): Promise<void> {
  for (let d = 0; d < 4; d++) {
    await mkdir(join(src, `d${d}`));
    for (let f = 0; f < 25; f++) await writeFile(join(src, `d${d}/f${f}.txt`), `file ${d}/${f}\n`.repeat(20));
  }
}

describe('full sync in a worker thread', () => {
  it('lands the tree through its own client, reports progress and returns the manifests', async () => {
    await seed();
    const progress: PushProgress[] = [];
    const result = await engine.syncTree({ root: src, receiver: untouched, hasher, rules: [], bulk, onProgress: (p) => progress.push(p), safety: { mode: 'safe', ancestor: undefined } });
    expect(result.errors).toEqual([]);
    expect(result.counts.files).toBe(100);
    expect(result.local.get('d3/f24.txt')?.kind).toBe('file');
    expect(result.remote.get('d3/f24.txt')?.size).toBe(result.local.get('d3/f24.txt')?.size);
    expect(result.ancestor.has('d0/f0.txt')).toBe(true);
    expect(await readFile(join(dst, 'd2/f7.txt'), 'utf8')).toBe('file 2/7\n'.repeat(20));
    expect(progress.map((p) => p.phase)).toContain('send');
    expect(progress.at(-1)).toMatchObject({ phase: 'send', files: 100 + 4, totalFiles: 100 + 4 });
  });

  it("runs at BULK_NICE, its thread alone: the daemon's thread and the thread pool keep their priority", async () => {
    await seed();
    const before = new Map(threads().map((t) => [t.tid, t.nice]));
    const result = await engine.syncTree({ root: src, receiver: untouched, hasher, rules: [], bulk });
    expect(result.errors).toEqual([]);
    const now = threads();
    expect(now.filter((t) => t.name === SYNC_WORKER_NAME).map((t) => t.nice)).toEqual([BULK_NICE]);
    expect(getPriority(process.pid)).toBe(before.get(process.pid));
    for (const t of now.filter((t) => t.name.startsWith('libuv-worker'))) expect(t.nice).toBe(before.get(process.pid));
  });

  it('runs a sync without a bulk channel in this thread, through the given receiver', async () => {
    await seed();
    let used = false;
    const here = inWorkers({
      syncPaths,
      syncTree: (o) => {
        used = true;
        return syncTree(o);
      },
    });
    await expect(here.syncTree({ root: src, receiver: untouched, hasher, rules: [] })).rejects.toThrow(/in-process receiver was used/);
    expect(used).toBe(true);
    await here.close();
  });

  it("keeps the error's code (a refused token is UNAUTHENTICATED, not an internal error)", async () => {
    await seed();
    const err: unknown = await engine.syncTree({ root: src, receiver: untouched, hasher, rules: [], bulk: { ...bulk, token: 'wrong' } }).catch((e: unknown) => e);
    expect(isKxError(err, ErrorCode.Unauthenticated)).toBe(true);
  });

  it('ends an aborted sync as CANCELLED, and the worker serves the next', async () => {
    await seed();
    const abort = new AbortController();
    const sync = engine.syncTree({ root: src, receiver: untouched, hasher, rules: [], bulk, signal: abort.signal });
    abort.abort();
    const err: unknown = await sync.catch((e: unknown) => e);
    expect(isKxError(err, ErrorCode.Cancelled)).toBe(true);
    const next = await engine.syncTree({ root: src, receiver: untouched, hasher, rules: [], bulk });
    expect(next.errors).toEqual([]);
    expect(await readFile(join(dst, 'd3/f3.txt'), 'utf8')).toBe('file 3/3\n'.repeat(20));
  });

  it('start() starts the worker thread before any sync asks for it (its entry loads)', async () => {
    const marker = join(base, 'loaded');
    const entry = join(base, 'entry.mjs');
    await writeFile(entry, `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(marker)}, 'loaded');\n`);
    const early = inWorkers({ syncTree, syncPaths }, { entry: pathToFileURL(entry) });
    early.start();
    await vi.waitFor(async () => expect(await readFile(marker, 'utf8')).toBe('loaded'));
    await early.close();
  });

  it('ends the worker once idle, and starts another for the next sync', async () => {
    await seed();
    const brief = inWorkers({ syncTree, syncPaths }, { idleMs: 20 });
    try {
      expect(brief.running()).toBe(false);
      const first = brief.syncTree({ root: src, receiver: untouched, hasher, rules: [], bulk });
      expect(brief.running()).toBe(true);
      expect((await first).errors).toEqual([]);
      await expect.poll(() => brief.running()).toBe(false);
      await writeFile(join(src, 'd1/f1.txt'), 'changed while no worker ran\n');
      const next = await brief.syncTree({ root: src, receiver: untouched, hasher, rules: [], bulk });
      expect(next.errors).toEqual([]);
      expect(await readFile(join(dst, 'd1/f1.txt'), 'utf8')).toBe('changed while no worker ran\n');
    } finally {
      await brief.close();
    }
    expect(brief.running()).toBe(false);
  });

  it('hands the heap back once a retired worker has ended, not while a sync runs or after close', async () => {
    await seed();
    const release = vi.fn();
    const brief = inWorkers({ syncTree, syncPaths }, { idleMs: 20, release, releaseQuietMs: 10 });
    try {
      const first = brief.syncTree({ root: src, receiver: untouched, hasher, rules: [], bulk });
      expect((await first).errors).toEqual([]);
      expect(release).not.toHaveBeenCalled();
      await expect.poll(() => release.mock.calls.length).toBe(1);
      expect(brief.running()).toBe(false);
      const next = brief.syncTree({ root: src, receiver: untouched, hasher, rules: [], bulk });
      expect(brief.running()).toBe(true);
      await next;
      await brief.close();
      expect(release).toHaveBeenCalledTimes(1);
    } finally {
      await brief.close();
    }
  });

  it('while saves keep coming, hands the heap back once they pause, at most once per interval', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    try {
      const release = vi.fn();
      const landed = { ok: true } as unknown as Awaited<ReturnType<typeof syncPaths>>;
      const batches = (every: number): WorkerEngine =>
        inWorkers({ syncTree, syncPaths: () => Promise.resolve(landed) }, { release, releaseEveryMs: every, releaseQuietMs: 1_000 });
      const o = { root: src, receiver: untouched, hasher, rules: [], paths: [], local: new Map(), remote: new Map() };
      const often = batches(0);
      // A series of batches 500 ms apart: nothing until they pause for the quiet time, then one release.
      for (let i = 0; i < 3; i++) {
        expect(await often.syncPaths(o)).toBe(landed);
        await vi.advanceTimersByTimeAsync(500);
      }
      expect(release).not.toHaveBeenCalled();
      await vi.advanceTimersByTimeAsync(500);
      expect(release).toHaveBeenCalledTimes(1);
      await often.syncPaths(o);
      await vi.advanceTimersByTimeAsync(1_000);
      expect(release).toHaveBeenCalledTimes(2);
      // Closed with a release armed: it never runs.
      await often.syncPaths(o);
      await often.close();
      await vi.advanceTimersByTimeAsync(5_000);
      expect(release).toHaveBeenCalledTimes(2);
      release.mockClear();
      // Within the interval of the last release, batches and pauses release nothing.
      const rarely = batches(60_000);
      await vi.advanceTimersByTimeAsync(30_000);
      expect(await rarely.syncPaths(o)).toBe(landed);
      await vi.advanceTimersByTimeAsync(5_000);
      expect(release).not.toHaveBeenCalled();
      await vi.advanceTimersByTimeAsync(30_000);
      await rarely.syncPaths(o);
      await vi.advanceTimersByTimeAsync(1_000);
      expect(release).toHaveBeenCalledTimes(1);
      await rarely.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it("its default release hands the heap's emptied pages back under --expose-gc (as kx watch runs), and is a no-op without", () => {
    // Objects old enough to sit in old space, then dropped: the heap's committed size before and after the release.
    const script = `
      import { getHeapStatistics } from 'node:v8';
      import { lastResortCollection } from ${JSON.stringify(new URL('../../pkg/daemon/heap-release.ts', import.meta.url).href)};
      let keep = [];
      for (let i = 0; i < 600; i++) keep.push(Array.from({ length: 10_000 }, (_, j) => ({ i, j })));
      const before = getHeapStatistics().total_heap_size;
      keep = null;
      lastResortCollection()();
      console.log(JSON.stringify({ before, after: getHeapStatistics().total_heap_size }));`;
    const run = (flags: string[]): { before: number; after: number } =>
      JSON.parse(execFileSync(process.execPath, [...flags, '--max-semi-space-size=2', '--input-type=module', '-e', script], { encoding: 'utf8' })) as { before: number; after: number };
    const exposed = run(['--expose-gc']);
    expect(exposed.before).toBeGreaterThan(100 * 1024 * 1024);
    expect(exposed.after).toBeLessThan(exposed.before / 4);
    const plain = run([]);
    expect(plain.after).toBeGreaterThan(plain.before / 2);
    expect((globalThis as { gc?: unknown }).gc).toBeUndefined();
  });

  it('after a burst, hands the heap back only once the batches that keep coming pause, whatever the interval', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    try {
      const release = vi.fn();
      const steady = new SteadyRelease(release, 60_000, 1_000);
      await vi.advanceTimersByTimeAsync(10_000);
      // The sync worker retired while another spec's saves land every 300 ms: the collection waits for their pause.
      steady.soon();
      for (let i = 0; i < 10; i++) {
        await vi.advanceTimersByTimeAsync(300);
        steady.synced();
      }
      expect(release).not.toHaveBeenCalled();
      await vi.advanceTimersByTimeAsync(1_000);
      expect(release).toHaveBeenCalledTimes(1);
      // Saves within the interval after it arm nothing; the next burst's end does.
      steady.synced();
      await vi.advanceTimersByTimeAsync(5_000);
      expect(release).toHaveBeenCalledTimes(1);
      steady.soon();
      await vi.advanceTimersByTimeAsync(1_000);
      expect(release).toHaveBeenCalledTimes(2);
      steady.soon();
      steady.close();
      await vi.advanceTimersByTimeAsync(5_000);
      expect(release).toHaveBeenCalledTimes(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it('waits for work that makes garbage after a batch (the ancestor record\'s write) and releases after it', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    try {
      const release = vi.fn();
      const steady = new SteadyRelease(release, 60_000, 1_000);
      // A burst ended and the record's write begins before the pause is over: the release waits for its end.
      steady.soon();
      await vi.advanceTimersByTimeAsync(500);
      const write = steady.hold();
      await vi.advanceTimersByTimeAsync(3_000);
      expect(release).not.toHaveBeenCalled();
      write();
      write();
      await vi.advanceTimersByTimeAsync(999);
      expect(release).not.toHaveBeenCalled();
      await vi.advanceTimersByTimeAsync(1);
      expect(release).toHaveBeenCalledTimes(1);
      // A write that began just after a release (its garbage came too late for it): released once more after it.
      const late = steady.hold();
      await vi.advanceTimersByTimeAsync(2_000);
      late();
      await vi.advanceTimersByTimeAsync(1_000);
      expect(release).toHaveBeenCalledTimes(2);
      // A write long after the last release, with none owed, releases nothing (the interval still holds).
      await vi.advanceTimersByTimeAsync(5_000);
      steady.hold()();
      await vi.advanceTimersByTimeAsync(5_000);
      expect(release).toHaveBeenCalledTimes(2);
      // Closed during a write: its end arms nothing.
      steady.soon();
      const open = steady.hold();
      steady.close();
      open();
      await vi.advanceTimersByTimeAsync(5_000);
      expect(release).toHaveBeenCalledTimes(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it('fails the syncs in flight when it is closed, and refuses new ones', async () => {
    await seed();
    const sync = engine.syncTree({ root: src, receiver: untouched, hasher, rules: [], bulk }).catch((e: unknown) => e);
    await engine.close();
    expect(isKxError(await sync, ErrorCode.Cancelled)).toBe(true);
    expect(isKxError(await engine.syncTree({ root: src, receiver: untouched, hasher, rules: [], bulk }).catch((e: unknown) => e), ErrorCode.Cancelled)).toBe(true);
  });
});
