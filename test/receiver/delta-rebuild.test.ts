// A large file's delta rebuilt by the receiver: exact content, the mode asked for, atomic (no temp file left, the
// old file kept when the content does not verify), confined to the root; and the signature the receiver keeps of
// what it wrote (signature-cache.ts), so the next delta needs no read of the file, never one of a changed file.
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createDelta } from '../../pkg/sync/delta.ts';
import { createHasher } from '../../pkg/sync/hash.ts';
import type { Hasher } from '../../pkg/sync/hash.ts';
import { signatureOf } from '../../pkg/sync/signature.ts';
import { SIGNATURE_CACHE_MIN_BYTES, SignatureCache } from '../../pkg/sync/signature-cache.ts';
import type { BatchWrite, DeltaOp, Signature } from '../../pkg/sync/types.ts';
import { LocalTree } from '../../pkg/receiver/local-tree.ts';
import { contentDigest, opsOf } from '../support/batch-ops.ts';
import { chunked, randomBytes } from '../engine/helpers.ts';

let hasher: Hasher;
let root: string;
let cache: SignatureCache;
let tree: LocalTree;
const size = SIGNATURE_CACHE_MIN_BYTES + 12_345;
const basis = randomBytes(size, 51);

beforeAll(async () => {
  hasher = await createHasher();
});
beforeEach(async () => {
  // A directory inside the temp dir: the escape test looks for what lands beside it.
  root = join(await mkdtemp(join(tmpdir(), 'kx-delta-rebuild-')), 'root');
  await mkdir(join(root, 'd'), { recursive: true });
  cache = new SignatureCache();
  tree = new LocalTree({ root, hasher, signatures: cache });
  await tree.start();
});
afterEach(() => rm(dirname(root), { recursive: true, force: true }));

function whole(path: string, content: Uint8Array, mode = 0o640): BatchWrite {
  return { op: 'write', path, mode, mtimeMs: 1_600_000_000_000, size: content.length, digest: contentDigest(hasher, content), basis: 'whole', body: literals(content) };
}
async function* literals(content: Uint8Array): AsyncIterable<DeltaOp> {
  for await (const data of chunked(content, 65_536)) yield { kind: 'literal', data };
}
function delta(path: string, sig: Signature, content: Uint8Array, mode = 0o640): BatchWrite {
  return { op: 'write', path, mode, mtimeMs: 1_600_000_001_000, size: content.length, digest: contentDigest(hasher, content), basis: 'delta', blockSize: sig.blockSize, body: createDelta(sig, chunked(content, 65_536), hasher) };
}
async function signature(path: string): Promise<Signature | null> {
  for await (const s of tree.signatures([path])) return s.signature;
  throw new Error('no signature answered');
}
const fresh = (path: string): Promise<Signature> => signatureOf(join(root, path), hasher);
const tempFiles = async (): Promise<string[]> => (await readdir(dirname(root), { recursive: true })).filter((n) => n.split('/').pop()!.startsWith('.kx-tmp-'));
const flipped = (data: Uint8Array, at: number): Uint8Array => {
  const out = Uint8Array.from(data);
  out[at] ^= 0xff;
  return out;
};

describe('a large file\'s delta, rebuilt by the receiver', () => {
  it('yields the exact new content with the mode asked for, leaves no temp file, and keeps the new file\'s signature', async () => {
    expect((await tree.apply(opsOf(whole('d/big.bin', basis)))).errors).toEqual([]);
    // Written whole, the file's signature was built as it was written: the same as a read of it gives.
    expect(cache.size).toBe(1);
    const sig = await signature('d/big.bin');
    expect(sig).toEqual(await fresh('d/big.bin'));

    const next = flipped(basis, Math.floor(size / 2));
    const res = await tree.apply(opsOf(delta('d/big.bin', sig!, next, 0o600)));
    expect(res.errors).toEqual([]);
    expect(Buffer.from(await readFile(join(root, 'd/big.bin'))).equals(Buffer.from(next))).toBe(true);
    expect((await stat(join(root, 'd/big.bin'))).mode & 0o7777).toBe(0o600);
    expect(await tempFiles()).toEqual([]);
    // The replaced file's entry is gone; the new file's is what a read gives.
    expect(cache.size).toBe(1);
    expect(await signature('d/big.bin')).toEqual(await fresh('d/big.bin'));
  });

  it('signs a file someone changed since by reading it, not from what it kept', async () => {
    await tree.apply(opsOf(whole('big.bin', basis)));
    const kept = await signature('big.bin');
    // Changed in place (same size), as a process in the container would.
    const changed = flipped(basis, 100);
    await writeFile(join(root, 'big.bin'), changed);
    const sig = await signature('big.bin');
    expect(sig).not.toEqual(kept);
    expect(sig).toEqual(await fresh('big.bin'));
    // And a mode change alone (ctime moves) is not taken for a content change the signature missed: still correct.
    await chmod(join(root, 'big.bin'), 0o644);
    expect(await signature('big.bin')).toEqual(await fresh('big.bin'));
  });

  it('keeps the old file and no temp file when a stale signature made the delta wrong (DIGEST_MISMATCH)', async () => {
    await tree.apply(opsOf(whole('big.bin', basis)));
    const st = await stat(join(root, 'big.bin'), { bigint: true });
    // Under the file's current stat, the signature of other content (what a write its stat did not show would
    // leave): here the new content itself, so the delta is copies only, of blocks the file does not hold.
    const next = flipped(basis, 7);
    await writeFile(join(root, 'other.bin'), next);
    cache.set(st, await fresh('other.bin'));
    const stale = (await signature('big.bin'))!;
    expect(stale).toEqual(await fresh('other.bin'));

    const res = await tree.apply(opsOf(delta('big.bin', stale, next)));
    expect(res.errors).toEqual([expect.objectContaining({ path: 'big.bin', code: 'DIGEST_MISMATCH' })]);
    expect(Buffer.from(await readFile(join(root, 'big.bin'))).equals(Buffer.from(basis))).toBe(true);
    expect(await tempFiles()).toEqual([]);
  });

  it('refuses a delta to a path that escapes the root, writing nothing outside it', async () => {
    await tree.apply(opsOf(whole('big.bin', basis)));
    const sig = (await signature('big.bin'))!;
    const res = await tree.apply(opsOf(delta('../escaped.bin', sig, flipped(basis, 1))));
    expect(res.errors).toEqual([expect.objectContaining({ path: '../escaped.bin' })]);
    expect(await readdir(dirname(root))).toEqual(['root']);
    expect(await tempFiles()).toEqual([]);
  });
});
