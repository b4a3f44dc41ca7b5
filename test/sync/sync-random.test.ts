// Randomized end-to-end: random trees, mutated round after round (edits, inserts, truncations, deletes, renames,
// copies, mode and mtime changes, symlinks, empty dirs, kind changes), synced over real gRPC on 127.0.0.1 until
// the destination is byte-identical, modes and links included. Seeds are fixed so a failure reproduces;
// KX_SEED=<n> runs one other seed.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHasher } from '../../pkg/sync/hash.ts';
import type { Hasher } from '../../pkg/sync/hash.ts';
import { syncPaths, syncTree } from '../../pkg/sync/push.ts';
import type { Manifest } from '../../pkg/sync/types.ts';
import { RadarClient } from '../../pkg/transport/client.ts';
import { RadarServer } from '../../radar/grpc/server.ts';
import { StaticRootResolver } from '../../radar/grpc/static-resolver.ts';
import { RandomTree, rng, snapshot } from './helpers/trees.ts';

const SEEDS = process.env.KX_SEED ? [Number(process.env.KX_SEED)] : [1, 2, 3];
const ROUNDS = 6;
const TOKEN = 'random-sync-token';

let base: string;
let hasher: Hasher;

beforeAll(async () => {
  hasher = await createHasher();
  base = await mkdtemp(join(tmpdir(), 'kx-random-'));
});
afterAll(() => rm(base, { recursive: true, force: true }));

describe('randomized sync over gRPC', () => {
  for (const seed of SEEDS) {
    it(`makes the destination identical after every round (seed ${seed})`, async () => {
      const src = join(base, `src-${seed}`);
      const dst = join(base, `dst-${seed}`);
      const r = rng(seed);
      const tree = new RandomTree(src, r);
      await tree.build(40);
      await mkdir(dst);
      const server = new RadarServer({ listen: '127.0.0.1:0', resolver: new StaticRootResolver(dst, TOKEN), hasher, closeGraceMs: 500 });
      const { address } = await server.start();
      const receiver = new RadarClient({ address, token: TOKEN, target: { containerId: '' } });
      try {
        let result = await syncTree({ root: src, receiver, hasher, rules: [] });
        expect(result.errors).toEqual([]);
        expect(await snapshot(dst)).toEqual(await snapshot(src));
        let local: Manifest = result.local;
        let remote: Manifest = result.remote;
        for (let round = 1; round <= ROUNDS; round++) {
          const touched = new Set<string>();
          for (let i = r.int(3, 12); i > 0; i--) for (const p of await tree.mutate()) touched.add(p);
          // Odd rounds: continuous sync of just the touched paths; even rounds: a full resync.
          result = round % 2 === 1
            ? await syncPaths({ root: src, receiver, hasher, rules: [], paths: [...touched], local, remote })
            : await syncTree({ root: src, receiver, hasher, rules: [], previousLocal: local });
          expect({ round, errors: result.errors }).toEqual({ round, errors: [] });
          expect(result.ops).toBeGreaterThan(0);
          expect({ round, tree: await snapshot(dst) }).toEqual({ round, tree: await snapshot(src) });
          local = result.local;
          remote = result.remote;
        }
      } finally {
        await receiver.close();
        await server.close();
      }
    });
  }
});
