// The receiver's writes are atomic: the old file stays until the new one is complete and verified, and no
// temporary file outlives a failed or interrupted write.
import { readFileSync, watch } from 'node:fs';
import { lstat, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHasher } from '../../pkg/sync/hash.ts';
import type { Hasher } from '../../pkg/sync/hash.ts';
import type { BatchOp, BatchWrite, DeltaOp, Prior } from '../../pkg/sync/types.ts';
import { LocalTree } from '../../pkg/receiver/local-tree.ts';
import { PlacePool, PLACE_THREAD_NAME } from '../../pkg/receiver/place-pool.ts';
import { BULK_NICE } from '../../pkg/lifecycle/thread-priority.ts';
import { threads } from '../support/threads.ts';
import { cleanTemp } from '../../pkg/receiver/tree-writer.ts';
import { enc, contentDigest, opsOf as ops } from '../support/batch-ops.ts';

let root: string;
let hasher: Hasher;

beforeEach(async () => {
  hasher ??= await createHasher();
  root = await mkdtemp(join(tmpdir(), 'kx-apply-'));
});
afterEach(() => rm(root, { recursive: true, force: true }));

const digestOf = (text: string): string => contentDigest(hasher, text);
function write(path: string, text: string, body: AsyncIterable<DeltaOp> = (async function* () { yield { kind: 'literal' as const, data: enc(text) }; })()): BatchWrite {
  return { op: 'write', path, mode: 0o640, mtimeMs: 1_600_000_000_123, size: text.length, digest: digestOf(text), basis: 'whole', body };
}
const tempFiles = async (dir: string): Promise<string[]> => (await readdir(dir, { recursive: true })).filter((n) => n.split('/').pop()!.startsWith('.kx-tmp-'));

// Every case runs with small files placed each way: on the thread pool, by a PlacePool on the calling thread (a
// stretch of work too small to start its thread), and in groups on a PlacePool's thread.
describe.each([
  { how: 'on the thread pool', grouped: false, inlineFiles: 0 },
  { how: 'by a placement pool on the calling thread', grouped: true, inlineFiles: 1_000_000 },
  { how: 'in groups on a placement thread', grouped: true, inlineFiles: 0 },
])('small files placed $how', ({ grouped, inlineFiles }) => {
  let pool: PlacePool | undefined;
  beforeEach(() => {
    pool = grouped ? new PlacePool({ inlineFiles }) : undefined;
  });
  afterEach(() => pool?.close());
  const placing = (): { placePool?: PlacePool } => (pool ? { placePool: pool } : {});

  describe('LocalTree.apply', () => {
    it('writes a file with its mode and mtime', async () => {
      const tree = new LocalTree({ ...placing(), root, hasher });
      const res = await tree.apply(ops(write('f', 'hello')));
      expect(res).toEqual({ applied: 1, bytesSent: 5, errors: [] });
      const st = await stat(join(root, 'f'));
      expect(await readFile(join(root, 'f'), 'utf8')).toBe('hello');
      expect(st.mode & 0o7777).toBe(0o640);
      expect(Math.trunc(st.mtimeMs)).toBe(1_600_000_000_123);
    });

    it('gives each file exactly its mode, whatever the umask lets a creation set', async () => {
      // 0o4755 needs keepSetIdBits (off here): placed as 0o755. 0o666 and 0o777 are beyond a usual umask.
      const modes = { a: 0o644, b: 0o755, c: 0o400, d: 0o000, e: 0o666, f: 0o777, g: 0o4755, h: 0o640 };
      const tree = new LocalTree({ ...placing(), root, hasher });
      const res = await tree.apply(ops(...Object.entries(modes).map(([name, mode]) => ({ ...write(name, name), mode }))));
      expect(res.errors).toEqual([]);
      for (const [name, mode] of Object.entries(modes)) {
        const st = await stat(join(root, name));
        expect([name, st.mode & 0o7777]).toEqual([name, mode & 0o777]);
        expect(Math.trunc(st.mtimeMs)).toBe(1_600_000_000_123);
      }
      expect(await readFile(join(root, 'c'), 'utf8')).toBe('c');
    });

    it('keeps the old file when the content does not match its digest (DIGEST_MISMATCH)', async () => {
      await writeFile(join(root, 'f'), 'old');
      const tree = new LocalTree({ ...placing(), root, hasher });
      const bad = { ...write('f', 'new'), digest: digestOf('other') } as BatchOp;
      const res = await tree.apply(ops(bad));
      expect(res.errors).toEqual([expect.objectContaining({ path: 'f', code: 'DIGEST_MISMATCH' })]);
      expect(await readFile(join(root, 'f'), 'utf8')).toBe('old');
      expect(await tempFiles(root)).toEqual([]);
    });

    it('keeps the old file and no temp file when the content stream breaks mid-file', async () => {
      await writeFile(join(root, 'f'), 'old');
      const tree = new LocalTree({ ...placing(), root, hasher });
      const broken = (async function* (): AsyncIterable<DeltaOp> {
        yield { kind: 'literal', data: enc('partial') };
        throw new Error('connection reset');
      })();
      const res = await tree.apply(ops(write('f', 'partial and more', broken)));
      expect(res.errors).toEqual([expect.objectContaining({ path: 'f' })]);
      expect(await readFile(join(root, 'f'), 'utf8')).toBe('old');
      expect(await tempFiles(root)).toEqual([]);
    });

    it('keeps the old file and no temp file when a large file breaks off after reaching the disk', async () => {
      await writeFile(join(root, 'f'), 'old');
      const tree = new LocalTree({ ...placing(), root, hasher });
      let sawTemp = false;
      const broken = (async function* (): AsyncIterable<DeltaOp> {
        yield { kind: 'literal', data: new Uint8Array(1024 * 1024) };
        sawTemp = (await tempFiles(root)).length === 1;
        throw new Error('connection reset');
      })();
      const op = { ...write('f', 'x', broken), size: 4 * 1024 * 1024 } as BatchOp;
      const res = await tree.apply(ops(op));
      expect(sawTemp).toBe(true);
      expect(res.errors).toEqual([expect.objectContaining({ path: 'f' })]);
      expect(await readFile(join(root, 'f'), 'utf8')).toBe('old');
      expect(await tempFiles(root)).toEqual([]);
    });

    it('reports per-path errors and goes on with the rest of the batch', async () => {
      const tree = new LocalTree({ ...placing(), root, hasher });
      const res = await tree.apply(ops(write('missing-dir/f', 'x'), { op: 'mkdir', path: 'd', mode: 0o755 }, write('d/g', 'y')));
      expect(res.applied).toBe(2);
      expect(res.errors.map((e) => e.path)).toEqual(['missing-dir/f']);
      expect(await readFile(join(root, 'd/g'), 'utf8')).toBe('y');
    });

    it('creates directories with the exact mode despite the umask', async () => {
      const tree = new LocalTree({ ...placing(), root, hasher });
      await tree.apply(ops({ op: 'mkdir', path: 'd', mode: 0o777 }));
      expect((await stat(join(root, 'd'))).mode & 0o7777).toBe(0o777);
    });

    it('moves and copies content the receiver already holds, after checking its digest', async () => {
      await writeFile(join(root, 'a'), 'content');
      const tree = new LocalTree({ ...placing(), root, hasher });
      const res = await tree.apply(ops(
        { op: 'copy', from: 'a', path: 'b', mode: 0o600, mtimeMs: 5000, digest: digestOf('content') },
        { op: 'move', from: 'a', path: 'c', mode: 0o644, mtimeMs: 6000, digest: digestOf('content') },
        { op: 'move', from: 'b', path: 'd', mode: 0o644, mtimeMs: 6000, digest: digestOf('not it') },
      ));
      expect(res.errors).toEqual([expect.objectContaining({ path: 'd', code: 'DIGEST_MISMATCH' })]);
      expect(await readFile(join(root, 'b'), 'utf8')).toBe('content');
      expect(await readFile(join(root, 'c'), 'utf8')).toBe('content');
      await expect(lstat(join(root, 'a'))).rejects.toMatchObject({ code: 'ENOENT' });
      expect((await stat(join(root, 'b'))).mode & 0o777).toBe(0o600);
    });

    it('gives created files and directories the configured owner', async () => {
      const tree = new LocalTree({ ...placing(), root, hasher, owner: { uid: 4242, gid: 4343 } });
      await tree.apply(ops({ op: 'mkdir', path: 'd', mode: 0o755 }, write('d/f', 'x'), { op: 'symlink', path: 'd/l', target: 'f' }));
      for (const p of ['d', 'd/f', 'd/l']) {
        const st = await lstat(join(root, p));
        expect([p, st.uid, st.gid]).toEqual([p, 4242, 4343]);
      }
    });
  });

  describe('an op\'s precondition (expect: the entry the sender last knew)', () => {
    /** The file as kx last knew it: its size and whole-ms mtime. */
    async function prior(path: string): Promise<Prior> {
      const st = await lstat(join(root, path));
      return { kind: 'file', size: st.size, mtimeMs: Math.floor(st.mtimeMs) };
    }

    it('replaces and removes files that are still what the sender last knew', async () => {
      await writeFile(join(root, 'f'), 'old');
      await writeFile(join(root, 'g'), 'gone soon');
      const tree = new LocalTree({ ...placing(), root, hasher });
      const res = await tree.apply(ops({ ...write('f', 'new'), expect: await prior('f') }, { op: 'remove', path: 'g', expect: await prior('g') }, { ...write('h', 'fresh'), expect: null }));
      expect(res.errors).toEqual([]);
      expect(await readFile(join(root, 'f'), 'utf8')).toBe('new');
      await expect(lstat(join(root, 'g'))).rejects.toThrow(/ENOENT/);
      expect(await readFile(join(root, 'h'), 'utf8')).toBe('fresh');
    });

    it('leaves alone (CHANGED) a file changed, created or replaced by a directory since, and goes on with the rest', async () => {
      await writeFile(join(root, 'f'), 'old');
      await writeFile(join(root, 'g'), 'kx wrote this');
      await mkdir(join(root, 'd'));
      const known = { f: await prior('f'), g: await prior('g') };
      await writeFile(join(root, 'f'), 'container edit'); // changed since
      await writeFile(join(root, 'g'), 'container edit');
      await writeFile(join(root, 'new'), 'container made this'); // created since
      const tree = new LocalTree({ ...placing(), root, hasher });
      const res = await tree.apply(ops(
        { ...write('f', 'local edit'), expect: known.f },
        { op: 'remove', path: 'g', expect: known.g },
        { ...write('new', 'local'), expect: null },
        { op: 'symlink', path: 'd', target: 'x', expect: { kind: 'file', size: 1, mtimeMs: 0 } },
        write('other', 'still written'),
      ));
      expect(res.errors.map((e) => [e.path, e.code])).toEqual([['f', 'CHANGED'], ['g', 'CHANGED'], ['new', 'CHANGED'], ['d', 'CHANGED']]);
      expect(res.errors[0].message).toMatch(/^f: changed in the container since kx last synced it \(now 14 B, modified .*\); left as it is$/);
      expect(await readFile(join(root, 'f'), 'utf8')).toBe('container edit');
      expect(await readFile(join(root, 'g'), 'utf8')).toBe('container edit');
      expect(await readFile(join(root, 'new'), 'utf8')).toBe('container made this');
      expect((await lstat(join(root, 'd'))).isDirectory()).toBe(true);
      expect(await readFile(join(root, 'other'), 'utf8')).toBe('still written');
      expect(await tempFiles(root)).toEqual([]);
    });

    it('leaves alone a file the sender last knew that the container removed since', async () => {
      await writeFile(join(root, 'f'), 'old');
      const known = await prior('f');
      await rm(join(root, 'f'));
      const tree = new LocalTree({ ...placing(), root, hasher });
      const res = await tree.apply(ops({ ...write('f', 'local edit'), expect: known }));
      expect(res.errors).toEqual([expect.objectContaining({ path: 'f', code: 'CHANGED', message: expect.stringContaining('(it is gone)') })]);
      await expect(lstat(join(root, 'f'))).rejects.toThrow(/ENOENT/);
    });
  });

  describe('LocalTree.apply with small writes placed concurrently', () => {
    it('finishes the writes before a later op: a remove of their directory leaves nothing behind', async () => {
      const tree = new LocalTree({ ...placing(), root, hasher });
      const files = Array.from({ length: 40 }, (_, i) => write(`d/f${i}`, `content ${i}`));
      const res = await tree.apply(ops({ op: 'mkdir', path: 'd', mode: 0o755 }, ...files, { op: 'remove', path: 'd' }, { op: 'mkdir', path: 'e', mode: 0o755 }, write('e/last', 'last')));
      expect(res.errors).toEqual([]);
      expect(res.applied).toBe(44);
      expect(await readdir(root)).toEqual(['e']);
      expect(await readFile(join(root, 'e/last'), 'utf8')).toBe('last');
    });

    it('applies two writes of one path in their order', async () => {
      const tree = new LocalTree({ ...placing(), root, hasher });
      const res = await tree.apply(ops(write('f', 'first'), write('g', 'g'), write('f', 'second')));
      expect(res.errors).toEqual([]);
      expect(await readFile(join(root, 'f'), 'utf8')).toBe('second');
    });

    it('reports each failed write by its path and places every other one', async () => {
      const tree = new LocalTree({ ...placing(), root, hasher });
      const list: BatchOp[] = [];
      for (let i = 0; i < 30; i++) list.push(i % 7 === 3 ? ({ ...write(`f${i}`, `new ${i}`), digest: digestOf('other') }) : write(`f${i}`, `new ${i}`));
      const res = await tree.apply(ops(...list));
      const bad = [3, 10, 17, 24].map((i) => `f${i}`);
      expect(res.errors.map((e) => e.path).sort()).toEqual([...bad].sort());
      expect(res.errors.every((e) => e.code === 'DIGEST_MISMATCH')).toBe(true);
      expect(res.applied).toBe(26);
      for (let i = 0; i < 30; i++) {
        if (bad.includes(`f${i}`)) await expect(stat(join(root, `f${i}`))).rejects.toThrow();
        else expect(await readFile(join(root, `f${i}`), 'utf8')).toBe(`new ${i}`);
      }
      expect(await tempFiles(root)).toEqual([]);
    });

    it('verifies a digest sent after the content against that file, though the next file is read before it is placed', async () => {
      // As the frame reader does: one slot holds the digest of the content read last.
      let endDigest = '';
      const withDigestAtEnd = (path: string, text: string): BatchOp => ({
        op: 'write', path, mode: 0o644, mtimeMs: 1_600_000_000_000, size: text.length, digest: '', basis: 'whole',
        body: (async function* () {
          yield { kind: 'literal' as const, data: enc(text) };
          endDigest = digestOf(text);
        })(),
        digestAtEnd: () => endDigest,
      });
      async function* reader(): AsyncIterable<BatchOp> {
        for (let i = 0; i < 20; i++) {
          endDigest = ''; // the next write's op is read: the slot is cleared until its content ends
          yield withDigestAtEnd(`f${i}`, `text ${i}`);
        }
      }
      const tree = new LocalTree({ ...placing(), root, hasher });
      const res = await tree.apply(reader());
      expect(res.errors).toEqual([]);
      for (let i = 0; i < 20; i++) expect(await readFile(join(root, `f${i}`), 'utf8')).toBe(`text ${i}`);
    });
  });
});

describe('cleanTemp', () => {
  it('removes stale temp files everywhere beneath the root at start, and nothing else', async () => {
    await mkdir(join(root, 'd/e'), { recursive: true });
    await writeFile(join(root, '.kx-tmp-0123'), 'stale');
    await writeFile(join(root, 'd/e/.kx-tmp-abcd'), 'stale');
    await writeFile(join(root, 'd/keep'), 'keep');
    const tree = new LocalTree({ root, hasher });
    await tree.start();
    expect(await tempFiles(root)).toEqual([]);
    expect(await readFile(join(root, 'd/keep'), 'utf8')).toBe('keep');
  });

  it('counts what it removed', async () => {
    await writeFile(join(root, '.kx-tmp-1'), '');
    expect(await cleanTemp(root)).toBe(1);
    expect(await cleanTemp(root)).toBe(0);
  });
});

describe('PlacePool: small files placed in groups on a thread of their own', () => {
  let pool: PlacePool;
  beforeEach(() => {
    pool = new PlacePool({ groupFiles: 8, inlineFiles: 0 });
  });
  afterEach(() => pool.close());

  it('places a group with its mix of outcomes: written, CHANGED, refused escape, failed placement; each reported by path', async () => {
    const outside = await mkdtemp(join(tmpdir(), 'kx-apply-outside-'));
    try {
      await writeFile(join(outside, 'secret'), 'keep');
      await symlink(outside, join(root, 'escape'));
      await writeFile(join(root, 'changed'), 'theirs');
      await mkdir(join(root, 'busy'));
      await writeFile(join(root, 'busy/inside'), 'keep');
      const tree = new LocalTree({ root, hasher, placePool: pool });
      const list: BatchOp[] = [];
      for (let i = 0; i < 20; i++) list.push(write(`f${i}`, `content ${i}`));
      list.splice(5, 0, { ...write('changed', 'ours'), expect: null }); // the sender knew nothing there
      list.splice(9, 0, write('escape/secret', 'stolen')); // its parent is a symlink out of the root
      list.splice(13, 0, write('busy', 'a file over a non-empty directory')); // the rename fails in the thread
      const res = await tree.apply(ops(...list));
      expect(res.applied).toBe(20);
      expect(Object.fromEntries(res.errors.map((e) => [e.path, e.code]))).toEqual({ changed: 'CHANGED', 'escape/secret': 'PATH_ESCAPE', busy: 'IO' });
      for (let i = 0; i < 20; i++) {
        expect(await readFile(join(root, `f${i}`), 'utf8')).toBe(`content ${i}`);
        expect((await stat(join(root, `f${i}`))).mode & 0o777).toBe(0o640);
        expect(Math.floor((await stat(join(root, `f${i}`))).mtimeMs)).toBe(1_600_000_000_123);
      }
      expect(await readFile(join(root, 'changed'), 'utf8')).toBe('theirs');
      expect(await readFile(join(outside, 'secret'), 'utf8')).toBe('keep');
      expect(await readFile(join(root, 'busy/inside'), 'utf8')).toBe('keep');
      expect(await tempFiles(root)).toEqual([]);
    } finally {
      await rm(outside, { recursive: true, force: true });
    }
  });

  it('never shows a file under its name before all of it is there: a watcher sees only complete files', async () => {
    const tree = new LocalTree({ root, hasher, placePool: pool });
    const big = 'x'.repeat(200_000);
    const seen: string[] = [];
    const watcher = watch(root, (_event, name) => {
      if (name === null || name.startsWith('.kx-tmp-')) return;
      try {
        seen.push(readFileSync(join(root, name), 'utf8').length === big.length ? 'complete' : `partial ${name}`);
      } catch {
        // renamed again meanwhile
      }
    });
    try {
      const res = await tree.apply(ops(...Array.from({ length: 30 }, (_, i) => write(`f${i}`, big))));
      expect(res.errors).toEqual([]);
    } finally {
      watcher.close();
    }
    expect(seen.filter((s) => s !== 'complete')).toEqual([]);
    expect(await tempFiles(root)).toEqual([]);
  });

  it("places on a thread of lower CPU priority (BULK_NICE), that thread alone: radar's main thread and the thread pool keep theirs", async () => {
    const before = new Map(threads().map((t) => [t.tid, t.nice]));
    const tree = new LocalTree({ root, hasher, placePool: pool });
    const res = await tree.apply(ops(...Array.from({ length: 10 }, (_, i) => write(`f${i}`, `content ${i}`))));
    expect(res.errors).toEqual([]);
    const now = threads();
    expect(now.filter((t) => t.name === PLACE_THREAD_NAME).map((t) => t.nice)).toEqual([BULK_NICE]);
    expect(getPriority(process.pid)).toBe(before.get(process.pid));
    for (const t of now.filter((t) => t.name.startsWith('libuv-worker'))) expect(t.nice).toBe(before.get(process.pid));
  });

  it('fails what is queued or in flight when closed, and refuses more', async () => {
    const tree = new LocalTree({ root, hasher, placePool: pool });
    await pool.close();
    const res = await tree.apply(ops(write('f', 'x')));
    expect(res.errors.map((e) => [e.path, e.code])).toEqual([['f', 'CANCELLED']]);
    expect(await tempFiles(root)).toEqual([]);
  });
});
