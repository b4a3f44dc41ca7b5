// The signature radar builds while it rebuilds a file, and the cache that lets the next delta skip reading it.
import { open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDelta } from '../../pkg/sync/delta.ts';
import { createHasher } from '../../pkg/sync/hash.ts';
import type { Hasher } from '../../pkg/sync/hash.ts';
import { applyDelta } from '../../pkg/sync/patch.ts';
import { SignatureBuilder, blockSizeFor, signatureOf } from '../../pkg/sync/signature.ts';
import { SIGNATURE_CACHE_MIN_BYTES, SignatureCache } from '../../pkg/sync/signature-cache.ts';
import type { DeltaOp, Signature } from '../../pkg/sync/types.ts';
import { chunked, concat, makeTempDir, randomBytes, replay } from './helpers.ts';

let hasher: Hasher;
let dir: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  hasher = await createHasher();
  ({ dir, cleanup } = await makeTempDir());
});
afterAll(() => cleanup());

/** The delta from basis to next rebuilt with a SignatureBuilder watching, given the basis's signature or not. */
async function built(basis: Uint8Array, next: Uint8Array, withBasis: boolean): Promise<{ built: Signature | null; read: Signature; taken: number }> {
  await writeFile(join(dir, 'basis'), basis);
  await writeFile(join(dir, 'next'), next);
  const sig = await signatureOf(join(dir, 'basis'), hasher);
  const ops: DeltaOp[] = [];
  for await (const op of createDelta(sig, chunked(next, 65_536), hasher)) ops.push(op);
  let summed = 0;
  const counting: Hasher = { h64: (d) => (summed++, hasher.h64(d)), stream: () => hasher.stream() };
  const builder = new SignatureBuilder(next.length, counting, withBasis ? sig : undefined);
  const fh = await open(join(dir, 'basis'), 'r');
  try {
    const out = new Uint8Array(next.length);
    const write = (data: Uint8Array, off: number, len: number, pos: number) => {
      out.set(data.subarray(off, off + len), pos);
      return { bytesWritten: len };
    };
    await applyDelta(fh, sig.blockSize, replay(ops), { write }, hasher, next.length, builder);
  } finally {
    await fh.close();
  }
  return { built: builder.result(), read: await signatureOf(join(dir, 'next'), hasher), taken: Math.ceil(next.length / blockSizeFor(next.length)) - summed };
}

describe('SignatureBuilder', () => {
  const basis = randomBytes(3 * 1024 * 1024 + 777, 41);

  it('gives the signature a read of the rebuilt file gives, taking the unchanged blocks over from the basis', async () => {
    const next = Uint8Array.from(basis);
    next[1_500_000] ^= 0xff;
    const r = await built(basis, next, true);
    expect(r.built).toEqual(r.read);
    // One block was summed: the changed one; every other was taken from the basis's signature.
    expect(r.taken).toBe(r.read.weak.length - 1);
  });

  it('sums every block from its bytes without the basis\'s signature, to the same result', async () => {
    const next = Uint8Array.from(basis);
    next[10] ^= 0xff;
    const r = await built(basis, next, false);
    expect(r.built).toEqual(r.read);
    expect(r.taken).toBe(0);
  });

  it('sums the blocks an insert shifted off the basis\'s boundaries, to the same result', async () => {
    const next = concat(basis.subarray(0, 1_000_000), randomBytes(333, 42), basis.subarray(1_000_000));
    const r = await built(basis, next, true);
    expect(r.built).toEqual(r.read);
    expect(r.taken).toBeGreaterThan(0);
  });

  it('gives no signature until every byte was added', () => {
    const b = new SignatureBuilder(10_000, hasher);
    b.add(new Uint8Array(9_999), 9_999, -1);
    expect(b.result()).toBeNull();
    b.add(new Uint8Array(1), 1, -1);
    expect(b.result()?.fileSize).toBe(10_000);
  });
});

describe('signatureOf with a cache', () => {
  it('keeps a large file\'s signature and gives it back unread until the file changes', async () => {
    const path = join(dir, 'large');
    const content = randomBytes(SIGNATURE_CACHE_MIN_BYTES + 1, 43);
    await writeFile(path, content);
    const cache = new SignatureCache();
    const first = await signatureOf(path, hasher, undefined, 0, cache);
    expect(cache.size).toBe(1);
    // The very object kept: nothing was read to give it.
    expect(await signatureOf(path, hasher, undefined, 0, cache)).toBe(first);
    content[5] ^= 0xff;
    await writeFile(path, content);
    const after = await signatureOf(path, hasher, undefined, 0, cache);
    expect(after).not.toEqual(first);
    expect(after).toEqual(await signatureOf(path, hasher));
  });

  it('keeps nothing of a small file', async () => {
    await writeFile(join(dir, 'small'), randomBytes(100_000, 44));
    const cache = new SignatureCache();
    await signatureOf(join(dir, 'small'), hasher, undefined, 0, cache);
    expect(cache.size).toBe(0);
  });
});

describe('SignatureCache', () => {
  const big = BigInt(SIGNATURE_CACHE_MIN_BYTES);
  const st = { dev: 1n, ino: 2n, size: big, mtimeNs: 3n, ctimeNs: 4n };
  const sig: Signature = { blockSize: blockSizeFor(SIGNATURE_CACHE_MIN_BYTES), fileSize: SIGNATURE_CACHE_MIN_BYTES, weak: new Uint32Array(1), strong: new BigUint64Array(1) };

  it('gives a signature back only while the file\'s size, mtime and ctime are those recorded', () => {
    const cache = new SignatureCache();
    cache.set(st, sig);
    expect(cache.get(st)).toBe(sig);
    expect(cache.get({ ...st, ctimeNs: 5n })).toBeUndefined();
    // A changed file's entry is dropped, not kept for its old stat.
    expect(cache.get(st)).toBeUndefined();
    cache.set(st, sig);
    expect(cache.get({ ...st, mtimeNs: 9n })).toBeUndefined();
    cache.set(st, sig);
    cache.delete(st);
    expect(cache.get(st)).toBeUndefined();
  });

  it('keeps nothing for a file below the minimum size, or a signature of another size', () => {
    const cache = new SignatureCache();
    cache.set({ ...st, size: big - 1n }, { ...sig, fileSize: SIGNATURE_CACHE_MIN_BYTES - 1 });
    cache.set({ ...st, ino: 7n }, { ...sig, fileSize: SIGNATURE_CACHE_MIN_BYTES + 1 });
    expect(cache.size).toBe(0);
  });

  it('drops the least recently used signatures beyond its byte bound', () => {
    const cache = new SignatureCache(3 * (12 + 64));
    for (let ino = 1n; ino <= 4n; ino++) cache.set({ ...st, ino }, sig);
    expect(cache.size).toBe(3);
    expect(cache.get({ ...st, ino: 1n })).toBeUndefined();
    expect(cache.get({ ...st, ino: 4n })).toBe(sig);
  });
});
