// The ancestor records on disk: what a restart of kx watch reads back, written atomically, bounded per spec.
import { readdirSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileAncestorStore } from '../../pkg/daemon/ancestor-store.ts';
import { ManifestTable } from '../../pkg/sync/manifest-table.ts';
import type { SpecConfig } from '../../pkg/config/types.ts';
import type { Entry, Manifest } from '../../pkg/sync/types.ts';
import { removeDir, tempDir } from './helpers.ts';

const spec = (name: string, remote = '/app'): SpecConfig => ({ name, pod: 'p', local: '/src', remote, reload: 'none', ignore: [], target: 'docker' });
const entries: Entry[] = [
  { path: 'a.txt', kind: 'file', mode: 0o644, size: 3, mtimeMs: 1_700_000_000_000, digest: '0123456789abcdef' },
  { path: 'nodigest', kind: 'file', mode: 0o600, size: 0, mtimeMs: 1_700_000_000_001 },
  { path: 'd', kind: 'dir', mode: 0o755, size: 0, mtimeMs: 1_700_000_000_002 },
  { path: 'd/l', kind: 'symlink', mode: 0o777, size: 0, mtimeMs: 1_700_000_000_003, target: '../a.txt' },
];
const manifest: Manifest = new Map(entries.map((e) => [e.path, e]));
/** A record reads back as a compact table; compared with what was saved entry for entry, in order. */
const asMap = (m: Manifest | undefined): Map<string, Entry> | undefined => {
  expect(m).toBeInstanceOf(ManifestTable);
  return m && new Map(m);
};

describe('FileAncestorStore', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const d of dirs.splice(0)) await removeDir(d);
  });
  async function store(opts: ConstructorParameters<typeof FileAncestorStore>[1] = {}): Promise<FileAncestorStore> {
    const dir = await tempDir('ancestors');
    dirs.push(dir);
    return new FileAncestorStore(join(dir, 'ancestors'), { delayMs: 10_000, ...opts });
  }

  it('reads back what was saved, after close, entry for entry; another container or remote path has none', async () => {
    const s = await store();
    const rec = s.open(spec('api'), 'c1');
    expect(await rec.load()).toBeUndefined();
    rec.save(manifest);
    await rec.close();
    expect(asMap(await s.open(spec('api'), 'c1').load())).toEqual(manifest);
    expect(await s.open(spec('api'), 'c2').load()).toBeUndefined();
    expect(await s.open(spec('api', '/srv'), 'c1').load()).toBeUndefined();
    expect((await readdir(s.dir)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('writes a compact table as it was when saved and flushed, though it changes while the write goes on', async () => {
    const s = await store({ delayMs: 0 });
    const rec = s.open(spec('api'), 'c1');
    const table = new ManifestTable(manifest);
    rec.save(table);
    const closed = rec.close();
    // Flushed (close writes at once); the folder goes on changing its table in place while the file is written.
    table.delete('a.txt');
    table.set('new.txt', { path: 'new.txt', kind: 'file', mode: 0o644, size: 1, mtimeMs: 1 });
    await closed;
    expect(asMap(await s.open(spec('api'), 'c1').load())).toEqual(manifest);
  });

  const records = (dir: string): number => {
    try {
      return readdirSync(dir).filter((n) => n.endsWith('.json')).length;
    } catch {
      return -1;
    }
  };

  it('tells onWrite when each write begins and ends (the record is in place by its end), also when it fails', async () => {
    const events: string[] = [];
    let dir = '';
    const s = await store({
      delayMs: 0,
      onError: (m) => events.push(`error ${m.split(': ').pop()}`),
      onWrite: () => {
        events.push('begin');
        return () => events.push(`end ${records(dir)}`);
      },
    });
    dir = s.dir;
    const rec = s.open(spec('api'), 'c1');
    rec.save(manifest);
    await rec.close();
    expect(events).toEqual(['begin', 'end 1']);
    // A write that fails (the directory is a file now) ends too.
    await rm(s.dir, { recursive: true });
    await writeFile(s.dir, 'not a directory');
    const broken = s.open(spec('api'), 'c2');
    broken.save(manifest);
    await broken.close();
    expect(events.slice(2)).toEqual(['begin', expect.stringMatching(/^error /), 'end -1']);
  });

  it('writes a large record in the same format as one JSON document, and reads every entry back', async () => {
    const s = await store();
    const rec = s.open(spec('api'), 'big');
    const many: Entry[] = Array.from({ length: 5000 }, (_, i) => ({ path: `d${i % 7}/f${i}.txt`, kind: 'file', mode: 0o644, size: i, mtimeMs: 1_700_000_000_000 + i, ...(i % 3 === 0 && { digest: i.toString(16).padStart(16, '0') }) }));
    const big: Manifest = new Map([...manifest, ...many.map((e) => [e.path, e] as const)]);
    rec.save(big);
    await rec.close();
    const [name] = await readdir(s.dir);
    const text = await readFile(join(s.dir, name), 'utf8');
    const parsed = JSON.parse(text) as { generation: string; entries: unknown[] };
    expect(text).toBe(JSON.stringify({ format: 1, generation: parsed.generation, entries: parsed.entries }));
    expect(JSON.parse(text).entries).toHaveLength(big.size);
    expect(asMap(await s.open(spec('api'), 'big').load())).toEqual(big);
  });

  it('treats a damaged record as none and says so', async () => {
    const messages: string[] = [];
    const s = await store({ onError: (m) => messages.push(m) });
    const rec = s.open(spec('api'), 'c1');
    rec.save(manifest);
    await rec.close();
    const [name] = await readdir(s.dir);
    await writeFile(join(s.dir, name), '{"format":1,"entries":[tru');
    expect(await s.open(spec('api'), 'c1').load()).toBeUndefined();
    expect(messages).toEqual([`${join(s.dir, name)}: unreadable; starting afresh`]);
  });

  it('keeps only the newest records of a spec', async () => {
    const s = await store({ keepPerSpec: 2 });
    const seen = new Set<string>();
    for (const [i, id] of ['c1', 'c2', 'c3'].entries()) {
      const rec = s.open(spec('api'), id);
      rec.save(manifest);
      await rec.close();
      // Written one after another: give each a distinct time, as the clock would over a day of work.
      const name = (await readdir(s.dir)).find((n) => !seen.has(n))!;
      seen.add(name);
      const t = new Date(1_700_000_000_000 + i * 60_000);
      await utimes(join(s.dir, name), t, t);
    }
    const other = s.open(spec('web'), 'c1');
    other.save(manifest);
    await other.close();
    expect(await s.open(spec('api'), 'c1').load()).toBeUndefined();
    expect(asMap(await s.open(spec('api'), 'c3').load())).toEqual(manifest);
    expect(asMap(await s.open(spec('web'), 'c1').load())).toEqual(manifest);
    expect((await readdir(s.dir)).length).toBe(3);
  });

  describe('journal', () => {
    const file = (path: string, size: number): Entry => ({ path, kind: 'file', mode: 0o644, size, mtimeMs: 1_700_000_000_000 + size, digest: size.toString(16).padStart(16, '0') });
    const tree = (n: number): ManifestTable => new ManifestTable(Array.from({ length: n }, (_, i) => [`src/f${i}.ts`, file(`src/f${i}.ts`, i)] as const));
    const journalName = async (dir: string): Promise<string> => (await readdir(dir)).find((n) => n.endsWith('.journal'))!;
    const journalOf = async (dir: string): Promise<string> => readFile(join(dir, await journalName(dir)), 'utf8');
    const snapshotOf = async (dir: string): Promise<string> => readFile(join(dir, (await readdir(dir)).find((n) => n.endsWith('.json'))!), 'utf8');

    it('appends only the entries a save series changed, and reads the snapshot and its journal back as the table was', async () => {
      const s = await store({ delayMs: 0 });
      const rec = s.open(spec('api'), 'c1');
      const table = tree(10_000);
      rec.save(table);
      await rec.close();
      const snapshot = await snapshotOf(s.dir);
      // A save series: edits, a new file, a removal; the table changed in place, as the sync loop changes it.
      table.set('src/f1.ts', file('src/f1.ts', 100_001));
      table.set('src/new.ts', file('src/new.ts', 7));
      table.delete('src/f2.ts');
      rec.save(table);
      await rec.close();
      table.set('src/f2.ts', file('src/f2.ts', 5));
      table.set('src/new.ts', file('src/new.ts', 8));
      rec.save(table);
      await rec.close();
      expect(await snapshotOf(s.dir)).toBe(snapshot);
      const lines = (await journalOf(s.dir)).split('\n');
      // The header, 3 + 2 changes, and the newline that ends the last.
      expect(lines).toHaveLength(7);
      expect(lines.at(-1)).toBe('');
      expect(asMap(await s.open(spec('api'), 'c1').load())).toEqual(new Map(table));
    });

    it('folds a long journal into a new snapshot, and writes one whenever another ancestor is saved (a full sync)', async () => {
      const s = await store({ delayMs: 0 });
      const rec = s.open(spec('api'), 'c1');
      const table = tree(10_000);
      rec.save(table);
      await rec.close();
      const first = JSON.parse(await snapshotOf(s.dir)) as { generation: string };
      // Half the tree changed: written as a snapshot, the journal of the one before gone.
      for (let i = 0; i < 6_000; i++) table.set(`src/f${i}.ts`, file(`src/f${i}.ts`, i + 1));
      rec.save(table);
      await rec.close();
      const second = JSON.parse(await snapshotOf(s.dir)) as { generation: string; entries: unknown[] };
      expect(second.generation).not.toBe(first.generation);
      expect((await readdir(s.dir)).filter((n) => n.endsWith('.journal'))).toEqual([]);
      const replaced = tree(3);
      rec.save(replaced);
      await rec.close();
      expect((JSON.parse(await snapshotOf(s.dir)) as { entries: unknown[] }).entries).toHaveLength(3);
      expect(asMap(await s.open(spec('api'), 'c1').load())).toEqual(new Map(replaced));
    });

    it('reads a journal up to a torn last line, and says so of a line it cannot read', async () => {
      const messages: string[] = [];
      const s = await store({ delayMs: 0, onError: (m) => messages.push(m) });
      const rec = s.open(spec('api'), 'c1');
      const table = tree(10);
      rec.save(table);
      await rec.close();
      const before = new Map(table);
      table.set('src/f1.ts', file('src/f1.ts', 11));
      rec.save(table);
      await rec.close();
      const after = new Map(table);
      const name = await journalName(s.dir);
      const journal = await journalOf(s.dir);
      // An append cut short (a crash, a full disk): its incomplete line is not applied, the complete ones are.
      await writeFile(join(s.dir, name), `${journal}["src/f3.ts","f",420,3`);
      expect(asMap(await s.open(spec('api'), 'c1').load())).toEqual(after);
      expect(messages).toEqual([]);
      // A line in the middle that is not one: nothing from it on is applied (the entries before it stand).
      await writeFile(join(s.dir, name), `${journal.split('\n')[0]}\n["src/f3.ts","x"]\n${journal.split('\n')[1]}\n`);
      expect(asMap(await s.open(spec('api'), 'c1').load())).toEqual(before);
      expect(messages).toEqual([expect.stringMatching(/\.journal: unreadable from line 2/)]);
    });

    it('applies a journal only to the snapshot it was written for', async () => {
      const s = await store({ delayMs: 0 });
      const rec = s.open(spec('api'), 'c1');
      const table = tree(10);
      rec.save(table);
      await rec.close();
      table.delete('src/f1.ts');
      rec.save(table);
      await rec.close();
      const journal = await journalOf(s.dir);
      const name = await journalName(s.dir);
      // A new snapshot (another ancestor) with the journal of the one before left beside it, as a crash between the
      // snapshot's rename and the old journal's removal leaves them.
      const replaced = tree(10);
      rec.save(replaced);
      await rec.close();
      await writeFile(join(s.dir, name), journal);
      expect(asMap(await s.open(spec('api'), 'c1').load())).toEqual(new Map(replaced));
    });

    it('writes a snapshot after a failed append, and what it reads back is never newer than what kx synced', async () => {
      const messages: string[] = [];
      const s = await store({ delayMs: 0, onError: (m) => messages.push(m) });
      const rec = s.open(spec('api'), 'c1');
      const table = tree(10);
      rec.save(table);
      await rec.close();
      table.set('src/f1.ts', file('src/f1.ts', 11));
      rec.save(table);
      await rec.close();
      const name = await journalName(s.dir);
      // The journal cannot be appended to (a directory stands where it was).
      await rm(join(s.dir, name));
      await mkdir(join(s.dir, name));
      table.set('src/f2.ts', file('src/f2.ts', 12));
      rec.save(table);
      await rec.close();
      expect(messages).toHaveLength(1);
      // The snapshot as it was (the journal is not readable): older than the table, none of its entries newer.
      expect(asMap(await s.open(spec('api'), 'c1').load())).toEqual(new Map(tree(10)));
      await rm(join(s.dir, name), { recursive: true });
      table.set('src/f3.ts', file('src/f3.ts', 13));
      rec.save(table);
      await rec.close();
      expect(asMap(await s.open(spec('api'), 'c1').load())).toEqual(new Map(table));
    });
  });

  it('drops the records of specs no longer configured', async () => {
    const s = await store();
    for (const name of ['api', 'gone']) {
      const rec = s.open(spec(name), 'c1');
      rec.save(manifest);
      await rec.close();
    }
    await s.retain(['api']);
    expect(asMap(await s.open(spec('api'), 'c1').load())).toEqual(manifest);
    expect(await s.open(spec('gone'), 'c1').load()).toBeUndefined();
  });
});
