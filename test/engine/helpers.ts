// Shared fixtures for the engine specs: deterministic bytes, temp dirs, and a full signature→delta→patch round trip.
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDelta } from '../../pkg/sync/delta.ts';
import type { Hasher } from '../../pkg/sync/hash.ts';
import { applyDelta } from '../../pkg/sync/patch.ts';
import { signatureOf } from '../../pkg/sync/signature.ts';
import type { DeltaOp, Signature } from '../../pkg/sync/types.ts';

/** Deterministic pseudo-random bytes (xorshift32), so failures reproduce. */
export function randomBytes(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  return Buffer.concat(parts);
}

export async function makeTempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'kx-engine-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Feed data as chunks of the given size (the last may be short). */
export async function* chunked(data: Uint8Array, chunkSize: number): AsyncIterable<Uint8Array> {
  for (let off = 0; off < data.length; off += chunkSize) yield data.subarray(off, Math.min(data.length, off + chunkSize));
}

export interface RoundTrip {
  sig: Signature;
  ops: DeltaOp[];
  result: Uint8Array;
  size: number;
  digest: string;
  literalBytes: number;
  copiedBlocks: number;
}

/** Build basis on disk, sign it, delta `next` against it (fed in chunkSize pieces), and patch a new file. */
export async function roundTrip(hasher: Hasher, dir: string, basis: Uint8Array, next: Uint8Array, chunkSize = 65536): Promise<RoundTrip> {
  const basisPath = join(dir, 'basis');
  const outPath = join(dir, 'out');
  await writeFile(basisPath, basis);
  const sig = await signatureOf(basisPath, hasher);
  const ops: DeltaOp[] = [];
  for await (const op of createDelta(sig, chunked(next, chunkSize), hasher)) ops.push(op);
  const basisFh = await open(basisPath, 'r');
  const outFh = await open(outPath, 'w');
  let written: { size: number; digest: string };
  try {
    written = await applyDelta(basisFh, sig.blockSize, replay(ops), outFh, hasher);
  } finally {
    await basisFh.close();
    await outFh.close();
  }
  return {
    sig,
    ops,
    result: await readFile(outPath),
    ...written,
    literalBytes: ops.reduce((n, op) => n + (op.kind === 'literal' ? op.data.length : 0), 0),
    copiedBlocks: ops.reduce((n, op) => n + (op.kind === 'copy' ? op.count : 0), 0),
  };
}

export async function* replay<T>(items: readonly T[]): AsyncIterable<T> {
  yield* items;
}
