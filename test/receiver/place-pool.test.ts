// How a PlacePool hands groups of small files to its thread: their content in buffers shared with the thread (handed
// over once, when it starts), or in a transferred buffer when none is free or the group is larger than one. Either
// way every file is placed with its own content, also when a buffer is reused for a later group.
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createHasher, type Hasher } from '../../pkg/sync/hash.ts';
import type { BatchWrite, DeltaOp } from '../../pkg/sync/types.ts';
import { LocalTree } from '../../pkg/receiver/local-tree.ts';
import { PlacePool } from '../../pkg/receiver/place-pool.ts';
import { enc, contentDigest, opsOf as ops } from '../support/batch-ops.ts';

let root: string;
let hasher: Hasher;
let pool: PlacePool;

beforeEach(async () => {
  hasher ??= await createHasher();
  root = await mkdtemp(join(tmpdir(), 'kx-place-pool-'));
  pool = new PlacePool({ groupFiles: 8 });
});
afterEach(async () => {
  vi.restoreAllMocks();
  await pool.close();
  await rm(root, { recursive: true, force: true });
});

function write(path: string, text: string): BatchWrite {
  const body = (async function* (): AsyncIterable<DeltaOp> { yield { kind: 'literal', data: enc(text) }; })();
  return { op: 'write', path, mode: 0o644, mtimeMs: 1_600_000_000_000, size: text.length, digest: contentDigest(hasher, text), basis: 'whole', body };
}

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
