import { open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LITERAL_MAX, RUN_PART_BYTES, createDelta, wholeFile } from '../../pkg/sync/delta.ts';
import { createHasher, digestHex } from '../../pkg/sync/hash.ts';
import type { Hasher } from '../../pkg/sync/hash.ts';
import { WRITE_MAX, applyDelta } from '../../pkg/sync/patch.ts';
import { blockSizeFor } from '../../pkg/sync/signature.ts';
import type { DeltaOp, Signature } from '../../pkg/sync/types.ts';
import { concat, makeTempDir, randomBytes, replay, roundTrip } from './helpers.ts';

let hasher: Hasher;
let dir: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  hasher = await createHasher();
  ({ dir, cleanup } = await makeTempDir());
});
afterAll(() => cleanup());

async function expectRoundTrip(basis: Uint8Array, next: Uint8Array, chunkSize?: number) {
  const rt = await roundTrip(hasher, dir, basis, next, chunkSize);
  expect(Buffer.from(rt.result).equals(Buffer.from(next))).toBe(true);
  expect(rt.size).toBe(next.length);
  expect(rt.digest).toBe(digestHex(hasher.h64(next)));
  return rt;
}

describe('delta round trip', () => {
  it('rebuilds an empty file from an empty basis with no ops', async () => {
    const rt = await expectRoundTrip(new Uint8Array(0), new Uint8Array(0));
    expect(rt.ops).toEqual([]);
  });

  it('rebuilds an empty file from a non-empty basis', async () => {
    const rt = await expectRoundTrip(randomBytes(10_000), new Uint8Array(0));
    expect(rt.ops).toEqual([]);
  });

  it('copies a file smaller than one block that is unchanged', async () => {
    const data = randomBytes(300);
    const rt = await expectRoundTrip(data, data);
    expect(rt.ops).toEqual([{ kind: 'copy', index: 0, count: 1 }]);
  });

  it('sends a changed file smaller than one block as a literal', async () => {
    const basis = randomBytes(300);
    const next = basis.slice();
    next[100] ^= 1;
    const rt = await expectRoundTrip(basis, next);
    expect(rt.literalBytes).toBe(300);
  });

  it('sends an identical file as copy ops only, coalesced into one run', async () => {
    const data = randomBytes(1_000_000, 7);
    const rt = await expectRoundTrip(data, data);
    expect(rt.ops).toEqual([{ kind: 'copy', index: 0, count: rt.sig.weak.length }]);
  });

  it('matches every block after an insert at the start', async () => {
    const basis = randomBytes(200_000, 3);
    const next = concat(randomBytes(17, 99), basis);
    const rt = await expectRoundTrip(basis, next);
    expect(rt.literalBytes).toBe(17);
    expect(rt.copiedBlocks).toBe(rt.sig.weak.length);
  });

  it('sends only the appended bytes (plus the short last block) on append', async () => {
    const basis = randomBytes(200_000, 4);
    const extra = randomBytes(5_000, 5);
    const rt = await expectRoundTrip(basis, concat(basis, extra));
    const B = rt.sig.blockSize;
    expect(rt.literalBytes).toBeLessThanOrEqual(extra.length + (basis.length % B));
    expect(rt.literalBytes).toBeGreaterThanOrEqual(extra.length);
  });

  it('sends no literal on truncation at a block boundary and only the partial block otherwise', async () => {
    const basis = randomBytes(300_000, 6);
    const B = blockSizeFor(basis.length);
    const atBoundary = await expectRoundTrip(basis, basis.subarray(0, 10 * B));
    expect(atBoundary.literalBytes).toBe(0);
    const mid = await expectRoundTrip(basis, basis.subarray(0, 10 * B + 123));
    expect(mid.literalBytes).toBe(123);
  });

  it('sends a totally different file as literals no larger than 64 KiB', async () => {
    const next = randomBytes(500_000, 9);
    const rt = await expectRoundTrip(randomBytes(500_000, 8), next);
    expect(rt.copiedBlocks).toBe(0);
    expect(rt.literalBytes).toBe(next.length);
    expect(rt.ops.every((op) => op.kind === 'literal' && op.data.length <= LITERAL_MAX)).toBe(true);
  });

  it('builds a large file from an empty basis as literals', async () => {
    const next = randomBytes(3_000_000, 10);
    const rt = await expectRoundTrip(new Uint8Array(0), next);
    expect(rt.literalBytes).toBe(next.length);
    expect(Math.max(...rt.ops.map((op) => (op.kind === 'literal' ? op.data.length : 0)))).toBeLessThanOrEqual(LITERAL_MAX);
  });

  it('turns a large file into an empty one', async () => {
    await expectRoundTrip(randomBytes(3_000_000, 11), new Uint8Array(0));
  });

  it('resends only the touched block for a one-byte edit on either side of a block boundary', async () => {
    const basis = randomBytes(400_000, 12);
    const B = blockSizeFor(basis.length);
    for (const at of [5 * B - 1, 5 * B, 5 * B + 1]) {
      const next = basis.slice();
      next[at] ^= 0xff;
      const rt = await expectRoundTrip(basis, next);
      expect(rt.literalBytes).toBe(B);
      expect(rt.copiedBlocks).toBe(rt.sig.weak.length - 1);
    }
  });

  it('sends a long unchanged stretch as copy parts of about RUN_PART_BYTES before the change, not one op after it', async () => {
    const basis = randomBytes(RUN_PART_BYTES * 3 + 12_345, 34);
    const next = Uint8Array.from(basis);
    const at = Math.floor(basis.length / 2) + 100;
    next[at] ^= 0xff;
    const rt = await expectRoundTrip(basis, next);
    const B = rt.sig.blockSize;
    const firstLiteral = rt.ops.findIndex((op) => op.kind === 'literal');
    const before = rt.ops.slice(0, firstLiteral);
    // The stretch before the change went out in more than one part, each no more than a part, in block order.
    expect(before.length).toBeGreaterThan(1);
    let nextIndex = 0;
    for (const op of before) {
      expect(op).toMatchObject({ kind: 'copy', index: nextIndex });
      if (op.kind === 'copy') {
        expect(op.count * B).toBeLessThanOrEqual(RUN_PART_BYTES + B);
        nextIndex += op.count;
      }
    }
    expect(nextIndex).toBe(Math.floor(at / B));
    expect(rt.literalBytes).toBe(B);
  });

  it('finds the same matches whatever the source chunking, aligned to blocks or not', async () => {
    const basis = randomBytes(250_000, 13);
    const next = concat(basis.subarray(0, 70_001), randomBytes(333, 14), basis.subarray(70_001));
    const reference = await expectRoundTrip(basis, next, 1 << 20);
    for (const chunkSize of [1, 7, 511, 4099, 65_537]) {
      const rt = await expectRoundTrip(basis, next, chunkSize);
      expect(rt.copiedBlocks).toBe(reference.copiedBlocks);
      expect(rt.literalBytes).toBe(reference.literalBytes);
    }
  });

  it('handles a source of repeated identical blocks', async () => {
    const block = randomBytes(blockSizeFor(100_000), 15);
    const basis = concat(...Array.from({ length: 20 }, () => block));
    const next = concat(basis, block, randomBytes(10, 16), block);
    await expectRoundTrip(basis, next);
  });
});

describe('delta streaming', () => {
  it('processes a source far larger than its window while holding only bounded data', async () => {
    // A synthetic signature of a 64 MiB basis whose blocks are all zeros, fed 96 MiB of zeros and noise in chunks:
    // the encoder never sees more than its window, and its literal ops stay bounded.
    const B = blockSizeFor(64 << 20);
    const zeros = new Uint8Array(B);
    const n = (64 << 20) / B;
    const sig: Signature = {
      blockSize: B,
      fileSize: n * B,
      weak: new Uint32Array(n).fill(0),
      strong: new BigUint64Array(n).fill(hasher.h64(zeros)),
    };
    const chunk = new Uint8Array(1 << 20);
    const noise = randomBytes(1 << 20, 17);
    async function* source(): AsyncIterable<Uint8Array> {
      for (let i = 0; i < 96; i++) yield i % 10 === 5 ? noise : chunk;
    }
    let total = 0;
    let maxLiteral = 0;
    let copies = 0;
    for await (const op of createDelta(sig, source(), hasher)) {
      if (op.kind === 'literal') {
        total += op.data.length;
        maxLiteral = Math.max(maxLiteral, op.data.length);
      } else {
        total += op.count * B;
        copies += op.count;
      }
    }
    expect(total).toBe(96 << 20);
    expect(maxLiteral).toBeLessThanOrEqual(LITERAL_MAX);
    expect(copies).toBeGreaterThan(80 * ((1 << 20) / B) - 100);
  });

  it('stops reading its source when the consumer stops early', async () => {
    let returned = false;
    async function* source(): AsyncIterable<Uint8Array> {
      try {
        for (;;) yield randomBytes(65_536, 18);
      } finally {
        returned = true;
      }
    }
    const sig: Signature = { blockSize: 512, fileSize: 512, weak: new Uint32Array(1), strong: new BigUint64Array(1) };
    for await (const _ of createDelta(sig, source(), hasher)) break;
    expect(returned).toBe(true);
  });
});

describe('wholeFile', () => {
  it('reads a file as 64 KiB literal chunks that patch back to the same bytes', async () => {
    const data = randomBytes(200_000, 19);
    const path = join(dir, 'whole');
    await writeFile(path, data);
    const ops: DeltaOp[] = [];
    for await (const op of wholeFile(path)) ops.push(op);
    expect(ops.map((op) => (op.kind === 'literal' ? op.data.length : -1))).toEqual([65_536, 65_536, 65_536, 200_000 - 3 * 65_536]);
    const outFh = await open(join(dir, 'whole.out'), 'w');
    try {
      const r = await applyDelta(null, 512, replay(ops), outFh, hasher);
      expect(r).toEqual({ size: data.length, digest: digestHex(hasher.h64(data)) });
    } finally {
      await outFh.close();
    }
  });
  it('cuts reads of more than one MiB into literals that each keep their own bytes, the last one short', async () => {
    const size = 2 * 1024 * 1024 + 3;
    const data = randomBytes(size, 23);
    const path = join(dir, 'big');
    await writeFile(path, data);
    const ops: DeltaOp[] = [];
    for await (const op of wholeFile(path)) ops.push(op);
    const lengths = ops.map((op) => (op.kind === 'literal' ? op.data.length : -1));
    expect(lengths).toEqual([...Array<number>(32).fill(65_536), 3]);
    // Collected first, compared after: no literal was overwritten by a later read.
    let off = 0;
    for (const op of ops) {
      if (op.kind !== 'literal') throw new Error('a copy op from wholeFile');
      expect(Buffer.from(op.data).equals(data.subarray(off, off + op.data.length))).toBe(true);
      off += op.data.length;
    }
    expect(off).toBe(size);
  });
});

describe('applyDelta', () => {
  it('rebuilds the same bytes from synchronous reads into memory (the receiver\'s small-file path) as from file handles', async () => {
    const basis = randomBytes(50_000, 31);
    const next = concat(basis.subarray(0, 20_000), randomBytes(777, 32), basis.subarray(20_000));
    const rt = await roundTrip(hasher, dir, basis, next);
    expect(rt.copiedBlocks).toBeGreaterThan(0);
    const out = new Uint8Array(next.length);
    const read = (buf: Uint8Array, off: number, len: number, pos: number) => {
      const part = basis.subarray(pos, pos + len);
      buf.set(part, off);
      return { bytesRead: part.length };
    };
    const write = (data: Uint8Array, off: number, len: number, pos: number) => {
      out.set(data.subarray(off, off + len), pos);
      return { bytesWritten: len };
    };
    const r = await applyDelta({ read }, rt.sig.blockSize, rt.ops, { write }, hasher, next.length);
    expect(r).toEqual({ size: rt.size, digest: rt.digest });
    expect(Buffer.from(out).equals(Buffer.from(rt.result))).toBe(true);
  });

  it('writes a long copy run in pieces of at most WRITE_MAX bytes, at increasing positions, to the same bytes', async () => {
    const blockSize = 4096;
    const basis = randomBytes(3 * 1024 * 1024 + 1000, 33);
    const ops: DeltaOp[] = [{ kind: 'copy', index: 0, count: Math.ceil(basis.length / blockSize) }];
    const out = new Uint8Array(basis.length);
    const writes: { pos: number; len: number }[] = [];
    const read = (buf: Uint8Array, off: number, len: number, pos: number) => {
      const part = basis.subarray(pos, pos + len);
      buf.set(part, off);
      return { bytesRead: part.length };
    };
    const write = (data: Uint8Array, off: number, len: number, pos: number) => {
      writes.push({ pos, len });
      out.set(data.subarray(off, off + len), pos);
      return { bytesWritten: len };
    };
    const r = await applyDelta({ read }, blockSize, ops, { write }, hasher, basis.length);
    expect(r).toEqual({ size: basis.length, digest: digestHex(hasher.h64(basis)) });
    expect(Buffer.from(out).equals(Buffer.from(basis))).toBe(true);
    expect(Math.max(...writes.map((w) => w.len))).toBe(WRITE_MAX);
    expect(writes.every((w, i) => w.pos === (i === 0 ? 0 : writes[i - 1].pos + writes[i - 1].len))).toBe(true);
  });

  it('refuses content past the announced size before writing it', async () => {
    const written: number[] = [];
    const ops: DeltaOp[] = [{ kind: 'literal', data: new Uint8Array(3) }, { kind: 'literal', data: new Uint8Array(3) }];
    const write = (_data: Uint8Array, _off: number, len: number, pos: number) => {
      written.push(pos + len);
      return { bytesWritten: len };
    };
    await expect(applyDelta(null, 0, ops, { write }, hasher, 4)).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    expect(written).toEqual([3]);
  });

  it('refuses a copy op without a basis', async () => {
    const outFh = await open(join(dir, 'nobasis.out'), 'w');
    try {
      await expect(applyDelta(null, 512, replay<DeltaOp>([{ kind: 'copy', index: 0, count: 1 }]), outFh, hasher)).rejects.toMatchObject({ code: 'PROTOCOL' });
    } finally {
      await outFh.close();
    }
  });

  it('refuses a copy op past the end of the basis', async () => {
    await writeFile(join(dir, 'short'), randomBytes(1000, 20));
    const basisFh = await open(join(dir, 'short'), 'r');
    const outFh = await open(join(dir, 'short.out'), 'w');
    try {
      await expect(applyDelta(basisFh, 512, replay<DeltaOp>([{ kind: 'copy', index: 2, count: 1 }]), outFh, hasher)).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    } finally {
      await basisFh.close();
      await outFh.close();
    }
  });
});
