// Randomized end-to-end: random trees, mutated round after round (edits, inserts, truncations, deletes, renames,
// copies, mode and mtime changes, symlinks, empty dirs, kind changes), synced over real gRPC on 127.0.0.1 until
// the destination is byte-identical, modes and links included. Seeds are fixed so a failure reproduces;
// KX_SEED=<n> runs one other seed.
import { mkdir, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
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

/** A random tree of 40 entries, an empty destination, radar serving it on 127.0.0.1, and a client to it. */
async function randomPair(name: string, seed: number) {
  const src = join(base, `src-${name}`);
  const dst = join(base, `dst-${name}`);
  const r = rng(seed);
  const tree = new RandomTree(src, r);
  await tree.build(40);
  await mkdir(dst);
  const server = new RadarServer({ listen: '127.0.0.1:0', resolver: new StaticRootResolver(dst, TOKEN), hasher, closeGraceMs: 500 });
  const { address } = await server.start();
  const receiver = new RadarClient({ address, token: TOKEN, target: { containerId: '' } });
  return { src, dst, r, tree, server, receiver };
}

describe('randomized sync over gRPC', () => {
  for (const seed of SEEDS) {
    it(`makes the destination identical after every round (seed ${seed})`, async () => {
      const { src, dst, r, tree, server, receiver } = await randomPair(`${seed}`, seed);
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

// The same rounds with a second actor: the container writes into the destination too (new files of its own, and
// edits of files kx wrote). Safe mode must never lose what the container wrote and must still carry every other
// local change; mirror mode must make the destination equal the source.
describe('randomized sync while the container also writes', () => {
  const containerName = (n: number): string => `ctr-${n}.out`;

  for (const seed of SEEDS) {
    for (const mode of ['safe', 'mirror'] as const) {
      it(`${mode}: ${mode === 'safe' ? 'no container file is lost, everything else matches' : 'the destination equals the source'} (seed ${seed})`, async () => {
        const { src, dst, r, tree, server, receiver } = await randomPair(`c-${mode}-${seed}`, seed * 7919);
        /** What the container wrote: path → content (base64). */
        const written = new Map<string, string>();
        const protectedPaths = new Set<string>();
        let serial = 0;
        const containerWrites = async (edits: boolean): Promise<void> => {
          const now = await snapshot(dst);
          const dirs = ['', ...[...now].filter(([, n]) => n.kind === 'dir').map(([p]) => p)];
          for (let i = r.int(1, 2); i > 0; i--) {
            const p = [r.pick(dirs), containerName(serial++)].filter(Boolean).join('/');
            const data = Buffer.from(r.bytes(r.int(1, 3000)));
            await writeFile(join(dst, p), data);
            written.set(p, data.toString('base64'));
          }
          // Edit a file kx wrote (safe mode must then leave it alone).
          const kxFiles = [...now].filter(([p, n]) => n.kind === 'file' && !written.has(p)).map(([p]) => p);
          if (edits && kxFiles.length > 0 && r.chance(0.7)) {
            const p = r.pick(kxFiles);
            const data = Buffer.concat([await readFile(join(dst, p)), Buffer.from(`container edit ${serial++}\n`)]);
            await writeFile(join(dst, p), data);
            await utimes(join(dst, p), new Date(), new Date(1_500_000_000_000 + serial));
            written.set(p, data.toString('base64'));
            protectedPaths.add(p);
          }
        };
        try {
          let result = await syncTree({ root: src, receiver, hasher, rules: [], safety: { mode, ancestor: undefined } });
          expect(result.errors).toEqual([]);
          let { local, remote, ancestor } = result;
          for (let round = 1; round <= ROUNDS; round++) {
            const full = round % 2 === 0;
            // Mirror replicates at full syncs; between them kx does not look at the container, so it writes then.
            if (mode === 'safe' || full) await containerWrites(full);
            const touched = new Set<string>();
            for (let i = r.int(3, 12); i > 0; i--) for (const p of await tree.mutate()) touched.add(p);
            const safety = { mode, ancestor };
            result = full
              ? await syncTree({ root: src, receiver, hasher, rules: [], previousLocal: local, safety })
              : await syncPaths({ root: src, receiver, hasher, rules: [], paths: [...touched], local, remote, safety });
            if (result.needsFullSync) result = await syncTree({ root: src, receiver, hasher, rules: [], previousLocal: local, safety });
            expect({ round, errors: result.errors, halt: result.halt }).toEqual({ round, errors: [], halt: undefined });
            ({ local, remote, ancestor } = result);
            for (const c of result.conflicts) protectedPaths.add(c.path);
            const [from, to] = [await snapshot(src), await snapshot(dst)];
            if (mode === 'mirror') {
              expect({ round, tree: to }).toEqual({ round, tree: from });
              continue;
            }
            // Nothing the container wrote is lost or changed.
            const lost = [...written].filter(([p, data]) => to.get(p)?.data !== data).map(([p]) => p);
            expect({ round, lost }).toEqual({ round, lost: [] });
            // Everything else is the source: both trees minus what kx had to leave alone (what the container wrote,
            // conflicts); a directory kx keeps because such a path lies beneath it is left out where the source has none.
            const kept = [...written.keys(), ...protectedPaths];
            const atOrBeneathKept = (p: string): boolean => kept.some((k) => p === k || p.startsWith(`${k}/`));
            const aboveKept = (p: string): boolean => kept.some((k) => k.startsWith(`${p}/`));
            const expected = new Map([...from].filter(([p]) => !atOrBeneathKept(p)));
            const actual = new Map([...to].filter(([p, n]) => !atOrBeneathKept(p) && !(n.kind === 'dir' && aboveKept(p) && !from.has(p))));
            expect({ round, tree: actual }).toEqual({ round, tree: expected });
          }
        } finally {
          await receiver.close();
          await server.close();
        }
      });
    }
  }
});
