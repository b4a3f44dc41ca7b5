// A save's batch is placed at once: LocalTree with placeNow() true writes each small file with synchronous calls
// (no thread-pool round trip, which waits for a CPU on a busy node and behind bulk work's files), with the same
// guarantees: a verified temp file renamed into place, mode and mtime set, a bad digest refused per path.
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createHasher, type Hasher } from '../../pkg/sync/hash.ts';
import type { BatchWrite, DeltaOp } from '../../pkg/sync/types.ts';
import { Dir } from '../../pkg/receiver/dir.ts';
import { LocalTree } from '../../pkg/receiver/local-tree.ts';
import { enc, contentDigest, opsOf as ops } from '../support/batch-ops.ts';

let root: string;
let hasher: Hasher;

beforeEach(async () => {
  hasher ??= await createHasher();
  root = await mkdtemp(join(tmpdir(), 'kx-place-now-'));
});
afterEach(async () => {
  vi.restoreAllMocks();
  await rm(root, { recursive: true, force: true });
});

const digestOf = (text: string): string => contentDigest(hasher, text);
function write(path: string, text: string, digest = digestOf(text)): BatchWrite {
  const body = (async function* (): AsyncIterable<DeltaOp> { yield { kind: 'literal', data: enc(text) }; })();
  return { op: 'write', path, mode: 0o640, mtimeMs: 1_600_000_000_123, size: text.length, digest, basis: 'whole', body };
}
function threadPoolCalls(): { count(): number } {
  const create = vi.spyOn(Dir.prototype, 'createFileAsync');
  const rename = vi.spyOn(Dir.prototype, 'renameAsync');
  return { count: () => create.mock.calls.length + rename.mock.calls.length };
}

describe('LocalTree.apply with placeNow', () => {
  it('places a save\'s files with synchronous calls, each with its content, mode and mtime', async () => {
    const pool = threadPoolCalls();
    const tree = new LocalTree({ root, hasher, placeNow: () => true });
    const res = await tree.apply(ops(write('a.js', 'one'), write('b.js', 'two')));
    expect(res).toMatchObject({ applied: 2, errors: [] });
    expect(pool.count()).toBe(0);
    expect(await readFile(join(root, 'a.js'), 'utf8')).toBe('one');
    const st = await stat(join(root, 'b.js'));
    expect(st.mode & 0o777).toBe(0o640);
    expect(Math.floor(st.mtimeMs / 1000)).toBe(1_600_000_000);
    expect(await readdir(root)).toEqual(['a.js', 'b.js']);
  });

  it('refuses a file whose content does not match its digest, keeps the old one and leaves no temp file', async () => {
    const tree = new LocalTree({ root, hasher, placeNow: () => true });
    await tree.apply(ops(write('a.js', 'old')));
    const res = await tree.apply(ops(write('a.js', 'new', digestOf('something else')), write('b.js', 'fine')));
    expect(res.errors.map((e) => [e.path, e.code])).toEqual([['a.js', 'DIGEST_MISMATCH']]);
    expect(await readFile(join(root, 'a.js'), 'utf8')).toBe('old');
    expect(await readdir(root)).toEqual(['a.js', 'b.js']);
  });

  it('places with the thread pool when placeNow says no (bulk work), and switches per write', async () => {
    const pool = threadPoolCalls();
    let now = false;
    const tree = new LocalTree({ root, hasher, placeNow: () => now });
    await tree.apply(ops(write('bulk.js', 'x')));
    const bulkCalls = pool.count();
    expect(bulkCalls).toBeGreaterThan(0);
    now = true;
    await tree.apply(ops(write('save.js', 'y')));
    expect(pool.count()).toBe(bulkCalls);
    expect(await readFile(join(root, 'save.js'), 'utf8')).toBe('y');
  });
});
