// The sender's reads of small files: slices of a shared slab, each holding its own file's bytes however many are
// read after it, and a file too big for a slab read into a buffer of its own.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ReadSlab, SMALL_FILE_BYTES, readSmallFile } from '../../pkg/sync/local-content.ts';

describe('ReadSlab', () => {
  it('hands out disjoint, 8-aligned slices of one buffer until it is full, then a new one', () => {
    const slab = new ReadSlab(1024);
    const a = slab.take(10);
    const b = slab.take(100);
    expect(a.buffer).toBe(b.buffer);
    expect(a.length).toBe(10);
    expect(b.byteOffset).toBe(a.byteOffset + 16);
    expect(b.byteOffset % 8).toBe(0);
    a.fill(1);
    b.fill(2);
    expect([...a].every((x) => x === 1)).toBe(true);
    const c = slab.take(200);
    const d = slab.take(200);
    const e = slab.take(200);
    expect(e.buffer).toBe(a.buffer);
    // 16 + 104 + 3 × 200 = 720 used: 200 more would not fit in 1024.
    const f = slab.take(200);
    expect(f.buffer).toBe(a.buffer);
    const g = slab.take(200);
    expect(g.buffer).not.toBe(a.buffer);
    expect(g.byteOffset).toBe(0);
    for (const x of [c, d, e, f]) expect(x.length).toBe(200);
  });

  it('gives a buffer of its own to a size above a quarter of the slab', () => {
    const slab = new ReadSlab(1024);
    const small = slab.take(8);
    const big = slab.take(257);
    expect(big.buffer).not.toBe(small.buffer);
    expect(big.length).toBe(257);
    // The slab goes on where it was.
    expect(slab.take(8).buffer).toBe(small.buffer);
  });
});

describe('readSmallFile with a slab', () => {
  let dir = '';
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kx-local-content-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps every file read into one slab intact, empty files included', async () => {
    const files = Array.from({ length: 40 }, (_, i) => ({ name: `f${i}`, data: randomBytes(i === 7 ? 0 : 1 + ((i * 997) % 9000)) }));
    for (const f of files) await writeFile(join(dir, f.name), f.data);
    const slab = new ReadSlab(64 * 1024);
    const read = files.map((f) => readSmallFile(join(dir, f.name), slab));
    for (const [i, f] of files.entries()) expect(Buffer.from(read[i]!).equals(f.data)).toBe(true);
    // Several files shared a slab.
    expect(new Set(read.map((r) => r!.buffer)).size).toBeLessThan(files.length / 2);
  });

  it('still reports a file that grew past the small-file limit (null) and one that is gone (an error)', async () => {
    await writeFile(join(dir, 'big'), Buffer.alloc(SMALL_FILE_BYTES + 1));
    const slab = new ReadSlab();
    expect(readSmallFile(join(dir, 'big'), slab)).toBeNull();
    expect(() => readSmallFile(join(dir, 'missing'), slab)).toThrow(/missing/);
  });
});
