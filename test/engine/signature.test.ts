import { symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHasher } from '../../pkg/sync/hash.ts';
import type { Hasher } from '../../pkg/sync/hash.ts';
import { weakChecksum, RollingChecksum } from '../../pkg/sync/rolling.ts';
import { MAX_BLOCK_SIZE, MIN_BLOCK_SIZE, blockSizeFor, signatureOf } from '../../pkg/sync/signature.ts';
import { makeTempDir, randomBytes } from './helpers.ts';

let hasher: Hasher;
let dir: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  hasher = await createHasher();
  ({ dir, cleanup } = await makeTempDir());
});
afterAll(() => cleanup());

describe('blockSizeFor', () => {
  it('never goes below 512 bytes', () => {
    for (const size of [0, 1, 511, 512, 10_000, 28_000]) expect(blockSizeFor(size)).toBe(MIN_BLOCK_SIZE);
  });

  it('never exceeds 128 KiB, even for huge files', () => {
    for (const size of [2 ** 31, 2 ** 40, Number.MAX_SAFE_INTEGER]) expect(blockSizeFor(size)).toBe(MAX_BLOCK_SIZE);
  });

  it('grows with the square root of the size and stays a multiple of 8', () => {
    const sizes = [1 << 16, 1 << 20, 1 << 24, 200_000_000, 1 << 30];
    const blocks = sizes.map(blockSizeFor);
    for (let i = 1; i < blocks.length; i++) expect(blocks[i]).toBeGreaterThanOrEqual(blocks[i - 1]);
    for (const b of blocks) expect(b % 8).toBe(0);
    // Quadrupling the size roughly doubles the block.
    expect(blockSizeFor(1 << 26) / blockSizeFor(1 << 24)).toBeCloseTo(2, 1);
  });
});

describe('rolling checksum', () => {
  it('rolled one byte at a time equals the checksum computed from scratch at every offset', () => {
    const data = randomBytes(5_000, 2);
    const n = 700;
    const r = new RollingChecksum(n);
    r.reset(data, 0);
    for (let i = 0; i + n < data.length; i++) {
      expect(r.value()).toBe(weakChecksum(data, i, i + n));
      r.roll(data[i], data[i + n]);
    }
  });
});

describe('signatureOf', () => {
  it('has one weak and one strong checksum per block, the last block short', async () => {
    const data = randomBytes(100_000, 3);
    await writeFile(join(dir, 'f'), data);
    const sig = await signatureOf(join(dir, 'f'), hasher);
    const B = blockSizeFor(data.length);
    expect(sig.blockSize).toBe(B);
    expect(sig.fileSize).toBe(data.length);
    expect(sig.weak.length).toBe(Math.ceil(data.length / B));
    expect(sig.strong.length).toBe(sig.weak.length);
    const last = sig.weak.length - 1;
    expect(sig.weak[last]).toBe(weakChecksum(data, last * B, data.length));
    expect(sig.strong[last]).toBe(hasher.h64(data.subarray(last * B)));
    expect(sig.strong[0]).toBe(hasher.h64(data.subarray(0, B)));
  });

  it('of an empty file has no blocks', async () => {
    await writeFile(join(dir, 'empty'), '');
    const sig = await signatureOf(join(dir, 'empty'), hasher);
    expect(sig.weak.length).toBe(0);
    expect(sig.fileSize).toBe(0);
  });

  it('refuses to follow a symlink', async () => {
    await writeFile(join(dir, 'real'), 'x');
    await symlink(join(dir, 'real'), join(dir, 'link'));
    await expect(signatureOf(join(dir, 'link'), hasher)).rejects.toMatchObject({ code: 'PATH_ESCAPE' });
  });

  it('honours an aborted signal', async () => {
    await writeFile(join(dir, 'g'), randomBytes(10, 4));
    await expect(signatureOf(join(dir, 'g'), hasher, AbortSignal.abort())).rejects.toMatchObject({ code: 'CANCELLED' });
  });
});
