// The compact manifest behaves as a Map<RelPath, Entry> for every operation the sync engine and the daemon use:
// the same results, sizes and iteration order after any sequence of sets and deletes (checked against a Map on
// random sequences), iteration that goes on while the table changes, and its state crossing a thread boundary.
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { keysWithin } from '../../pkg/sync/manifest-scope.ts';
import { ManifestTable, compactManifest, type PackedManifest } from '../../pkg/sync/manifest-table.ts';
import type { Entry, RelPath } from '../../pkg/sync/types.ts';

/** A deterministic stream of numbers, so a failing sequence can be replayed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return s;
  };
}

const PATHS = ['a', 'a/b', 'a/b/c.txt', 'dir/ü-umlaut.txt', 'emoji/😀.js', 'x'.repeat(300), 'n'.repeat(70_000), 'src/index.ts', 'README.md'];

function entryFor(path: RelPath, r: () => number): Entry {
  const base = { path, mode: 0o644 + (r() % 3), size: r() % 5000, mtimeMs: 1_700_000_000_000 + (r() % 100_000) };
  switch (r() % 9) {
    case 0:
      return { ...base, kind: 'dir', size: 0, mode: 0o755 };
    case 1:
      return { ...base, kind: 'symlink', mode: 0o777, size: 0, target: r() % 2 === 0 ? '../t' : '' };
    case 2:
      return { ...base, kind: 'file' };
    case 3:
      // Digests of every form the engine sees, and some it should not (kept exactly all the same).
      return { ...base, kind: 'file', digest: ['0000000000000000', 'ffffffffffffffff', '00ab00cd00ef0012', 'ABC', ''][r() % 5] };
    case 4:
      return { ...base, kind: 'file', digest: undefined };
    case 5:
      return { ...base, kind: 'file', mode: 0o100644 + 0x10000, mtimeMs: 1.5, size: 2 ** 40 + 3 };
    case 6:
      return { ...base, kind: 'file', path: `${path}-other` };
    default:
      return { ...base, kind: 'file', digest: (r() >>> 0).toString(16).padStart(8, '0') + (r() >>> 0).toString(16).padStart(8, '0') };
  }
}

function expectSame(t: ManifestTable, m: Map<RelPath, Entry>): void {
  expect(t.size).toBe(m.size);
  expect([...t.keys()]).toEqual([...m.keys()]);
  expect([...t.values()]).toStrictEqual([...m.values()]);
  expect([...t]).toStrictEqual([...m]);
  expect(t.files).toBe([...m.values()].filter((e) => e.kind === 'file').length);
  const seen: [RelPath, Entry][] = [];
  t.forEach((e, p, map) => {
    expect(map).toBe(t);
    seen.push([p, e]);
  });
  expect(seen).toStrictEqual([...m.entries()]);
}

describe('ManifestTable', () => {
  it('gives what a Map gives after random sets, deletes and clears', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const r = prng(seed);
      const t = new ManifestTable();
      const m = new Map<RelPath, Entry>();
      const pool = [...PATHS, ...Array.from({ length: 300 }, (_, i) => `d${i % 7}/f${i}.txt`)];
      for (let step = 0; step < 4000; step++) {
        const p = pool[r() % pool.length];
        const op = r() % 100;
        if (op < 55) {
          const e = entryFor(p, r);
          expect(t.set(p, e)).toBe(t);
          m.set(p, e);
        } else if (op < 97) {
          expect(t.delete(p)).toBe(m.delete(p));
        } else if (op < 98) {
          t.clear();
          m.clear();
        }
        expect(t.has(p)).toBe(m.has(p));
        expect(t.get(p)).toStrictEqual(m.get(p));
        expect(t.kindOf(p)).toBe(m.get(p)?.kind);
        expect(t.get(`${p}/missing`)).toBeUndefined();
        expect(t.kindOf(`${p}/missing`)).toBeUndefined();
        if (step % 250 === 0) expectSame(t, m);
      }
      expectSame(t, m);
    }
  });

  it('notes the paths set or deleted once asked to, through growth and compaction, and not what a copy does', () => {
    const file = (i: number): Entry => ({ path: `d${i % 10}/f${i}.txt`, kind: 'file', mode: 0o644, size: i, mtimeMs: 1_700_000_000_000 + i });
    const t = new ManifestTable(Array.from({ length: 100 }, (_, i) => [file(i).path, file(i)] as const));
    expect(t.takeChanges()).toBeNull();
    t.trackChanges();
    for (let i = 100; i < 5_000; i++) t.set(file(i).path, file(i));
    for (let i = 0; i < 5_000; i += 2) t.delete(file(i).path);
    t.delete('not/there');
    t.clone().set('copy/only', file(7));
    const expected = new Set(Array.from({ length: 5_000 }, (_, i) => file(i).path).filter((p, i) => i >= 100 || i % 2 === 0));
    expect(t.takeChanges()).toEqual(expected);
    // Noting starts over with each take.
    t.set(file(1).path, file(2));
    expect(t.takeChanges()).toEqual(new Set([file(1).path]));
    expect(t.takeChanges()).toEqual(new Set());
    // After clear() any path may have changed: none is named.
    t.clear();
    t.set(file(3).path, file(3));
    expect(t.takeChanges()).toBeNull();
    expect(t.takeChanges()).toEqual(new Set());
  });

  it('keeps a large tree in insertion order, through growth and compaction', () => {
    const t = new ManifestTable();
    const m = new Map<RelPath, Entry>();
    const file = (i: number): Entry => ({ path: `d${i % 100}/f${i}.txt`, kind: 'file', mode: 0o644, size: i, mtimeMs: 1_700_000_000_000 + i });
    for (let i = 0; i < 20_000; i++) {
      t.set(file(i).path, file(i));
      m.set(file(i).path, file(i));
    }
    for (let i = 0; i < 20_000; i += 3) {
      t.delete(file(i).path);
      m.delete(file(i).path);
    }
    for (let i = 0; i < 20_000; i += 6) {
      t.set(file(i).path, file(i));
      m.set(file(i).path, file(i));
    }
    expectSame(t, m);
  });

  it('iterates as a Map does while entries are added and deleted, compaction included', () => {
    const t = new ManifestTable();
    const m = new Map<RelPath, Entry>();
    const e = (p: RelPath): Entry => ({ path: p, kind: 'file', mode: 0o644, size: 1, mtimeMs: 1 });
    for (let i = 0; i < 40; i++) {
      t.set(`p${i}`, e(`p${i}`));
      m.set(`p${i}`, e(`p${i}`));
    }
    const fromTable: RelPath[] = [];
    const fromMap: RelPath[] = [];
    const step = (map: Map<RelPath, Entry>, out: RelPath[]): void => {
      let n = 0;
      for (const p of map.keys()) {
        out.push(p);
        n++;
        // Deletes behind and ahead, then enough adds to make the table grow (it renumbers its rows then).
        if (n === 5) for (let i = 0; i < 30; i++) map.delete(`p${i}`);
        if (n === 7) for (let i = 0; i < 200; i++) map.set(`q${i}`, e(`q${i}`));
        if (n > 400) break;
      }
    };
    step(t, fromTable);
    step(m, fromMap);
    expect(fromTable).toEqual(fromMap);
    expectSame(t, m);
  });

  it('finds the keys at or beneath directories as a Map\'s keys filtered by prefix, scopes of a batch included', () => {
    const paths = ['a', 'a/b', 'a/b/c', 'ab', 'ab/c', 'a.txt', 'x/a/b', 'dir/ü', 'dir/ü/x', 'dir/üx', 'dir', 'n'.repeat(70_000), `${'n'.repeat(70_000)}/x`];
    const m = new Map<RelPath, Entry>(paths.map((p) => [p, { path: p, kind: p.includes('.') ? 'file' : 'dir', mode: 0o755, size: 0, mtimeMs: 1 }]));
    const t = new ManifestTable(m);
    for (const dirs of [['a'], ['a/b'], ['ab', 'dir/ü'], ['dir'], ['n'.repeat(70_000)], ['missing'], []]) {
      const expected = [...m.keys()].filter((p) => dirs.some((d) => p === d || p.startsWith(`${d}/`)));
      expect(t.keysAtOrBeneath(dirs)).toEqual(expected);
      expect(keysWithin(t, dirs)).toEqual(keysWithin(m, dirs));
    }
    expect(keysWithin(t, ['a.txt', 'a/b', 'gone'], m)).toEqual(keysWithin(m, ['a.txt', 'a/b', 'gone'], m));
  });

  it('makes a compact copy of a Map, and is its own compact form', () => {
    const m = new Map<RelPath, Entry>([
      ['a', { path: 'a', kind: 'dir', mode: 0o755, size: 0, mtimeMs: 5 }],
      ['a/x', { path: 'a/x', kind: 'file', mode: 0o600, size: 3, mtimeMs: 6, digest: '0123456789abcdef' }],
      ['a/l', { path: 'a/l', kind: 'symlink', mode: 0o777, size: 0, mtimeMs: 7, target: 'x' }],
    ]);
    const t = compactManifest(m);
    expectSame(t, m);
    expect(compactManifest(t)).toBe(t);
    expect(Object.prototype.toString.call(t)).toBe('[object ManifestTable]');
  });

  it('keeps every size exactly, those past its 32-bit column and paths beside non-ASCII ones included', () => {
    const sizes = [0, 1, 0xffffffff, 2 ** 32, 2 ** 53 - 1, 1.5, -0, -1];
    const m = new Map<RelPath, Entry>();
    sizes.forEach((size, i) => {
      // A non-ASCII path between ASCII ones: the ASCII paths' lengths are where the next path starts.
      const p = i % 3 === 1 ? `dir/ü${i}` : `dir/f${i}.txt`;
      m.set(p, { path: p, kind: 'file', mode: 0o644, size, mtimeMs: 1_700_000_000_000.25 + i });
    });
    const t = compactManifest(m);
    expectSame(t, m);
    for (const [p, e] of m) expect(Object.is(t.get(p)!.size, e.size)).toBe(true);
    t.delete('dir/f0.txt');
    m.delete('dir/f0.txt');
    const back = ManifestTable.unpack(t.clone().pack().packed);
    expectSame(back, m);
  });

  it('crosses to a worker thread and back by transfer, whole', async () => {
    const r = prng(9);
    const m = new Map<RelPath, Entry>();
    for (let i = 0; i < 5000; i++) {
      const p = i % 10 === 0 ? `dir${i}/ü${i}` : `dir${i % 50}/file${i}.txt`;
      const e = entryFor(p, r);
      m.set(p, e);
    }
    const { packed, transfer } = new ManifestTable(m).pack();
    // The worker unpacks the table, adds and deletes an entry, and sends it back packed.
    const source = `
      const { parentPort } = require('node:worker_threads');
      parentPort.once('message', async ({ packed, url }) => {
        const { ManifestTable } = await import(url);
        const t = ManifestTable.unpack(packed);
        t.delete('dir0/ü0');
        t.set('added', { path: 'added', kind: 'file', mode: 420, size: 1, mtimeMs: 2, digest: '00000000000000ff' });
        const out = t.pack();
        parentPort.postMessage(out.packed, out.transfer);
      });`;
    const worker = new Worker(source, { eval: true });
    try {
      worker.postMessage({ packed, url: new URL('../../pkg/sync/manifest-table.ts', import.meta.url).href }, transfer);
      expect(packed.bytes.byteLength).toBe(0); // transferred, not copied
      const [back] = (await once(worker, 'message')) as [PackedManifest];
      expect(ManifestTable.isPacked(back)).toBe(true);
      m.delete('dir0/ü0');
      m.set('added', { path: 'added', kind: 'file', mode: 420, size: 1, mtimeMs: 2, digest: '00000000000000ff' });
      expectSame(ManifestTable.unpack(back), m);
    } finally {
      await worker.terminate();
    }
  });
});
