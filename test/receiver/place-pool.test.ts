// How a PlacePool hands groups of small files to its thread: their content in buffers shared with the thread (handed
// over once, when it starts), or in a transferred buffer when none is free or the group is larger than one. Either
// way every file is placed with its own content, also when a buffer is reused for a later group.
import { closeSync, constants, mkdirSync, openSync, readFileSync, readSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createHasher, type Hasher } from '../../pkg/sync/hash.ts';
import type { BatchWrite, DeltaOp } from '../../pkg/sync/types.ts';
import { LocalTree } from '../../pkg/receiver/local-tree.ts';
import { PLACE_THREAD_NAME, PlacePool, type PlaceRequest } from '../../pkg/receiver/place-pool.ts';
import { enc, contentDigest, opsOf as ops } from '../support/batch-ops.ts';

let root: string;
let hasher: Hasher;
let pool: PlacePool;

beforeEach(async () => {
  hasher ??= await createHasher();
  root = await mkdtemp(join(tmpdir(), 'kx-place-pool-'));
  pool = new PlacePool({ groupFiles: 8, inlineFiles: 0 });
});
afterEach(async () => {
  vi.restoreAllMocks();
  await pool.close();
  await rm(root, { recursive: true, force: true });
});

/** This process's threads named as the pool's thread. */
function placeThreads(): string[] {
  return readdirSync('/proc/self/task').filter((tid) => readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim() === PLACE_THREAD_NAME);
}

function write(path: string, text: string): BatchWrite {
  const body = (async function* (): AsyncIterable<DeltaOp> { yield { kind: 'literal', data: enc(text) }; })();
  return { op: 'write', path, mode: 0o644, mtimeMs: 1_600_000_000_000, size: text.length, digest: contentDigest(hasher, text), basis: 'whole', body };
}

describe('PlacePool: the thread only for bulk work', () => {
  it('places the first files of a stretch of work on the calling thread, starts its thread for the files after them, and again after a quiet spell', async () => {
    await pool.close();
    pool = new PlacePool({ groupFiles: 8, inlineFiles: 12, idleMs: 300 });
    const post = vi.spyOn(Worker.prototype, 'postMessage');
    const tree = new LocalTree({ root, hasher, placePool: pool });
    const texts = Array.from({ length: 40 }, (_, i) => `file ${i} `.repeat(10 + i));
    expect((await tree.apply(ops(...texts.slice(0, 12).map((t, i) => write(`f${i}`, t))))).errors).toEqual([]);
    expect(post).not.toHaveBeenCalled();
    expect(placeThreads()).toEqual([]);
    // The same stretch goes on: its files after the first 12 go to the thread, which starts for them.
    expect((await tree.apply(ops(...texts.slice(12).map((t, i) => write(`f${12 + i}`, t))))).errors).toEqual([]);
    const placedByThread = post.mock.calls.map(([m]) => (m as { names: string }).names.split('\0').length / 2).reduce((a, b) => a + b, 0);
    expect(placedByThread).toBe(28);
    for (let i = 0; i < texts.length; i++) expect([i, await readFile(join(root, `f${i}`), 'utf8')]).toEqual([i, texts[i]]);
    // Quiet for longer than idleMs: the thread retires, and the next stretch starts on the calling thread again.
    await vi.waitFor(() => expect(placeThreads()).toEqual([]), { timeout: 5000, interval: 50 });
    post.mockClear();
    expect((await tree.apply(ops(write('again', 'again')))).errors).toEqual([]);
    expect(post).not.toHaveBeenCalled();
    expect(await readFile(join(root, 'again'), 'utf8')).toBe('again');
    expect((await readdir(root)).filter((n) => n.startsWith('.kx-tmp-'))).toEqual([]);
  });

  it('starts its thread when told that more files are coming than it places on the calling thread, and retires it if none come', async () => {
    await pool.close();
    pool = new PlacePool({ groupFiles: 8, inlineFiles: 12, idleMs: 200 });
    pool.expectFiles(12);
    expect(placeThreads()).toEqual([]);
    pool.expectFiles(13);
    await vi.waitFor(() => expect(placeThreads()).toHaveLength(1), { timeout: 5000, interval: 20 });
    const post = vi.spyOn(Worker.prototype, 'postMessage');
    const tree = new LocalTree({ root, hasher, placePool: pool });
    expect((await tree.apply(ops(write('first', 'first file')))).errors).toEqual([]);
    expect(post).toHaveBeenCalledTimes(1); // the first file went to the thread
    expect(await readFile(join(root, 'first'), 'utf8')).toBe('first file');
    await vi.waitFor(() => expect(placeThreads()).toEqual([]), { timeout: 5000, interval: 50 });
  });

  it.each([
    { why: "the tree's caller says no to the calling thread (another Apply stream open)", opts: { placeInline: () => false } },
    { why: 'files are flushed to the disk (fsync): a flush each would hold the calling thread', opts: { fsync: true } },
  ])('places on its thread from the first file when $why', async ({ opts }) => {
    await pool.close();
    pool = new PlacePool({ groupFiles: 8, inlineFiles: 1000 });
    const post = vi.spyOn(Worker.prototype, 'postMessage');
    const tree = new LocalTree({ root, hasher, placePool: pool, ...opts });
    const texts = Array.from({ length: 10 }, (_, i) => `file ${i} `.repeat(10 + i));
    expect((await tree.apply(ops(...texts.map((t, i) => write(`f${i}`, t))))).errors).toEqual([]);
    expect(post.mock.calls.map(([m]) => (m as { names: string }).names.split('\0').length / 2).reduce((a, b) => a + b, 0)).toBe(10);
    for (let i = 0; i < texts.length; i++) expect(await readFile(join(root, `f${i}`), 'utf8')).toBe(texts[i]);
  });
});

describe('PlacePool buffers', () => {
  it('carries groups in shared buffers, and in transferred ones when none is free or a group is larger: each file gets its own content', async () => {
    const post = vi.spyOn(Worker.prototype, 'postMessage');
    const tree = new LocalTree({ root, hasher, placePool: pool });
    // 25 groups of 8 queued before the thread answers any (more than the shared buffers), then a group of one file
    // larger than a shared buffer.
    const texts = Array.from({ length: 200 }, (_, i) => `file ${i} `.repeat(50 + i));
    texts.push('L'.repeat(700_000));
    expect((await tree.apply(ops(...texts.map((t, i) => write(`f${i}`, t))))).errors).toEqual([]);
    // Again: the buffers the first batch used and freed carry the second's content.
    const again = texts.map((t) => t.toUpperCase());
    expect((await tree.apply(ops(...again.map((t, i) => write(`f${i}`, t))))).errors).toEqual([]);
    for (let i = 0; i < again.length; i++) expect([i, await readFile(join(root, `f${i}`), 'utf8')]).toEqual([i, again[i]]);
    const slots = post.mock.calls.map(([m]) => (m as { slot: number }).slot);
    expect(slots.filter((s) => s >= 0).length).toBeGreaterThan(0);
    expect(slots.filter((s) => s === -1).length).toBeGreaterThan(0);
    expect((await readdir(root)).filter((n) => n.startsWith('.kx-tmp-'))).toEqual([]);
  });
});

describe('PlacePool on the calling thread', () => {
  let dirFd = -1;
  const request = (name: string, text: string): PlaceRequest =>
    ({ dirFd, tmp: `.kx-tmp-test-${name}`, name, path: name, content: enc(text), mode: 0o644, mtimeS: 1_600_000_000, owner: undefined, fsync: false });
  beforeEach(async () => {
    await pool.close();
    pool = new PlacePool({ inlineFiles: 1000 });
    dirFd = openSync(root, constants.O_RDONLY | constants.O_DIRECTORY);
  });
  afterEach(() => closeSync(dirFd));

  it('replaces a file by renaming the new one over it: a reader holding the old file keeps reading it', async () => {
    writeFileSync(join(root, 'f'), 'old content');
    const reader = openSync(join(root, 'f'), 'r');
    await pool.place(request('f', 'new content'));
    expect(readFileSync(join(root, 'f'), 'utf8')).toBe('new content');
    const buf = Buffer.alloc(64);
    expect(buf.subarray(0, readSync(reader, buf, 0, 64, 0)).toString()).toBe('old content');
    closeSync(reader);
    expect(readdirSync(root)).toEqual(['f']);
  });

  it('reports a rename that fails by its path and removes the temp file', async () => {
    mkdirSync(join(root, 'd'));
    writeFileSync(join(root, 'd', 'inside'), 'x');
    await expect(pool.place(request('d', 'a file over a directory'))).rejects.toMatchObject({ code: 'IO', message: expect.stringMatching(/^d: .*EISDIR/) });
    expect(readdirSync(root)).toEqual(['d']);
    expect(readFileSync(join(root, 'd', 'inside'), 'utf8')).toBe('x');
  });
});
