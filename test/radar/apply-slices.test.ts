// LocalTree.apply breaks its work into slices whose length it asks for at the start of each (radar asks Urgency:
// short while another Apply stream is open, so a save on it is read soon); at each break it asks pace().
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHasher, type Hasher } from '../../pkg/sync/hash.ts';
import type { BatchWrite, DeltaOp } from '../../pkg/sync/types.ts';
import { LocalTree } from '../../pkg/receiver/local-tree.ts';
import { enc, contentDigest, opsOf as ops } from '../support/batch-ops.ts';

let root: string;
let hasher: Hasher;

beforeEach(async () => {
  hasher ??= await createHasher();
  root = await mkdtemp(join(tmpdir(), 'kx-apply-slices-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

function write(path: string, text: string): BatchWrite {
  const body = (async function* (): AsyncIterable<DeltaOp> { yield { kind: 'literal', data: enc(text) }; })();
  return { op: 'write', path, mode: 0o644, mtimeMs: 1_600_000_000_000, size: text.length, digest: contentDigest(hasher, text), basis: 'whole', body };
}
const writes = (n: number): BatchWrite[] => Array.from({ length: n }, (_, i) => write(`f${i}.txt`, `content ${i}`));

describe('LocalTree.apply slices', () => {
  it('breaks before every op when its slices are 0 ms long, asking for each slice\'s length', async () => {
    let paced = 0;
    let asked = 0;
    const tree = new LocalTree({ root, hasher, pace: () => void paced++, sliceMs: () => (asked++, 0) });
    const res = await tree.apply(ops(...writes(5)));
    expect(res).toMatchObject({ applied: 5, errors: [] });
    expect(paced).toBe(5);
    expect(asked).toBe(6); // the first slice, then one per break
    expect((await readdir(root)).sort()).toEqual(['f0.txt', 'f1.txt', 'f2.txt', 'f3.txt', 'f4.txt']);
  });

  it('never breaks within a slice longer than the batch', async () => {
    let paced = 0;
    const tree = new LocalTree({ root, hasher, pace: () => void paced++, sliceMs: () => 60_000 });
    const res = await tree.apply(ops(...writes(5)));
    expect(res).toMatchObject({ applied: 5, errors: [] });
    expect(paced).toBe(0);
  });

  it('takes the length of each slice at its start: a short one, then one longer than the rest of the batch', async () => {
    let paced = 0;
    const lengths = [0, 60_000];
    const tree = new LocalTree({ root, hasher, pace: () => void paced++, sliceMs: () => lengths.shift() ?? 0 });
    const res = await tree.apply(ops(...writes(6)));
    expect(res).toMatchObject({ applied: 6, errors: [] });
    expect(paced).toBe(1);
  });
});
