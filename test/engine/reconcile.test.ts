import { describe, expect, it } from 'vitest';
import { nextAncestor, reconcile, safetyHalt, DEFAULT_SAFETY_LIMITS } from '../../pkg/sync/reconcile.ts';
import { ManifestTable } from '../../pkg/sync/manifest-table.ts';
import type { Entry, Manifest, Op } from '../../pkg/sync/types.ts';

const T = 1_700_000_000_000;

function file(path: string, digest: string, extra: Partial<Entry> = {}): Entry {
  return { path, kind: 'file', mode: 0o644, size: 10, mtimeMs: T, digest, ...extra };
}
function dir(path: string): Entry {
  return { path, kind: 'dir', mode: 0o755, size: 0, mtimeMs: T };
}
function manifest(...entries: Entry[]): Manifest {
  return new Map(entries.map((e) => [e.path, e]));
}
const summary = (ops: Op[]) => ops.map((o) => `${o.op} ${'from' in o ? `${o.from}→` : ''}${o.path}`);

describe('reconcile in safe mode', () => {
  it('leaves a receiver-only file alone at first contact and counts it as foreign', () => {
    const plan = reconcile(manifest(file('a', 'd1')), manifest(file('a', 'd1'), file('server.conf', 'c')), { mode: 'safe', ancestor: undefined });
    expect(plan.ops).toEqual([]);
    expect(plan.foreign).toBe(1);
    expect(plan.kept.has('server.conf')).toBe(true);
  });

  it('lets the local tree win at the paths it holds at first contact (an image built from the same folder)', () => {
    const plan = reconcile(manifest(file('a', 'new', { size: 11 })), manifest(file('a', 'old')), { mode: 'safe', ancestor: undefined });
    expect(summary(plan.ops)).toEqual(['write a']);
    expect(plan.conflicts).toEqual([]);
  });

  it('deletes only what kx wrote and the container left unchanged', () => {
    const ancestor = manifest(file('mine', 'm'), file('changed', 'c1'));
    const target = manifest(file('mine', 'm'), file('changed', 'c2', { size: 12, mtimeMs: T + 1 }), file('theirs', 't'));
    const plan = reconcile(manifest(), target, { mode: 'safe', ancestor });
    expect(summary(plan.ops)).toEqual(['remove mine']);
    expect(plan.deletedFiles).toBe(1);
    expect(plan.foreign).toBe(1);
    expect(plan.conflicts).toEqual([
      { path: 'changed', reason: 'changed', local: null, remote: { kind: 'file', size: 12, mtimeMs: T + 1 } },
    ]);
  });

  it('does not overwrite a file the container changed after kx wrote it, and reports both sides', () => {
    const ancestor = manifest(file('f', 'v1'));
    const target = manifest(file('f', 'c', { size: 20, mtimeMs: T + 5 }));
    const plan = reconcile(manifest(file('f', 'v2', { mtimeMs: T + 9 })), target, { mode: 'safe', ancestor });
    expect(plan.ops).toEqual([]);
    expect(plan.conflicts).toEqual([
      { path: 'f', reason: 'changed', local: { kind: 'file', size: 10, mtimeMs: T + 9 }, remote: { kind: 'file', size: 20, mtimeMs: T + 5 } },
    ]);
    expect(plan.effective.get('f')).toBe(target.get('f'));
  });

  it('does not overwrite a file the container made at a path created locally later', () => {
    const plan = reconcile(manifest(file('out.js', 'mine')), manifest(file('out.js', 'theirs', { mtimeMs: T + 1 })), { mode: 'safe', ancestor: manifest() });
    expect(plan.ops).toEqual([]);
    expect(plan.conflicts.map((c) => [c.path, c.reason])).toEqual([['out.js', 'foreign']]);
  });

  it('overwrites conflicts once the user confirmed', () => {
    const plan = reconcile(manifest(file('f', 'v2', { mtimeMs: T + 9 })), manifest(file('f', 'c', { mtimeMs: T + 5 })), {
      mode: 'safe',
      ancestor: manifest(file('f', 'v1')),
      overwriteConflicts: true,
    });
    expect(summary(plan.ops)).toEqual(['write f']);
  });

  it('keeps a deleted directory that holds a container-made file, removing only what kx wrote in it', () => {
    const ancestor = manifest(dir('pkg'), file('pkg/a.py', 'a'));
    const target = manifest(dir('pkg'), file('pkg/a.py', 'a'), dir('pkg/__pycache__'), file('pkg/__pycache__/a.pyc', 'x'));
    const plan = reconcile(manifest(), target, { mode: 'safe', ancestor });
    expect(summary(plan.ops)).toEqual(['remove pkg/a.py']);
    expect([...plan.kept].sort()).toEqual(['pkg', 'pkg/__pycache__', 'pkg/__pycache__/a.pyc']);
  });

  it('removes a directory kx made when all of it is kx\'s', () => {
    const tree = manifest(dir('old'), file('old/a', 'a'), file('old/b', 'b'));
    const plan = reconcile(manifest(), tree, { mode: 'safe', ancestor: tree });
    expect(summary(plan.ops)).toEqual(['remove old/b', 'remove old/a', 'remove old']);
    expect(plan.deletedFiles).toBe(2);
  });

  it('moves a renamed file kx wrote, but never moves a container-only file away', () => {
    const ancestor = manifest(file('a', 'same'));
    const plan = reconcile(manifest(file('b', 'same')), manifest(file('a', 'same')), { mode: 'safe', ancestor });
    expect(summary(plan.ops)).toEqual(['move a→b']);
    const foreign = reconcile(manifest(file('b', 'same')), manifest(file('a', 'same')), { mode: 'safe', ancestor: manifest() });
    expect(summary(foreign.ops)).toEqual(['copy a→b']);
  });

  it('limits itself to the given paths', () => {
    const ancestor = manifest(file('x', 'x'), file('y', 'y'));
    const plan = reconcile(manifest(), manifest(file('x', 'x'), file('y', 'y')), { mode: 'safe', ancestor, paths: ['x'] });
    expect(summary(plan.ops)).toEqual(['remove x']);
  });
});

describe('reconcile in mirror mode', () => {
  it('makes an exact replica, deleting receiver-only files', () => {
    const plan = reconcile(manifest(file('a', 'd1')), manifest(file('a', 'd0', { mtimeMs: T + 1 }), file('extra', 'e')), { mode: 'mirror', ancestor: undefined });
    expect(summary(plan.ops)).toEqual(['write a', 'remove extra']);
    expect(plan.removed).toEqual(['extra']);
  });
});

describe('safetyHalt', () => {
  const many = (n: number, prefix = 'f'): Entry[] => Array.from({ length: n }, (_, i) => file(`${prefix}${i}`, `d${i}`));

  it('halts when the local folder is empty while the receiver holds files kx synced', () => {
    const synced = manifest(file('a', 'a'));
    const plan = reconcile(manifest(), synced, { mode: 'safe', ancestor: synced });
    expect(safetyHalt(plan, manifest(), synced, synced, DEFAULT_SAFETY_LIMITS)).toMatch(/local folder is empty/);
  });

  it('halts a batch deleting over half and over 100 of the managed files, not one deleting 100', () => {
    const all = manifest(...many(201));
    const keep101 = manifest(...many(101));
    const halted = reconcile(manifest(...many(100)), all, { mode: 'safe', ancestor: all });
    expect(halted.deletedFiles).toBe(101);
    expect(safetyHalt(halted, manifest(...many(100)), all, all, DEFAULT_SAFETY_LIMITS)).toMatch(/delete 101 of the 201 files/);
    const fine = reconcile(keep101, all, { mode: 'safe', ancestor: all });
    expect(fine.deletedFiles).toBe(100);
    expect(safetyHalt(fine, keep101, all, all, DEFAULT_SAFETY_LIMITS)).toBeNull();
  });

  it('takes its limits from the caller', () => {
    const all = manifest(...many(10));
    const plan = reconcile(manifest(...many(4)), all, { mode: 'safe', ancestor: all });
    expect(safetyHalt(plan, manifest(...many(4)), all, all, { deleteShare: 0.5, deleteMin: 5 })).not.toBeNull();
  });
});

describe('nextAncestor', () => {
  it('records what was synced, keeps a conflict\'s old entry and forgets what was removed', () => {
    const ancestor = manifest(file('gone', 'g'), file('c', 'c1'));
    const target = manifest(file('gone', 'g'), file('c', 'c2', { mtimeMs: T + 1 }));
    const local = manifest(file('c', 'c3', { mtimeMs: T + 2 }), file('new', 'n'));
    const plan = reconcile(local, target, { mode: 'safe', ancestor });
    const next = nextAncestor(ancestor, plan, local, null, new Set());
    expect([...next.keys()].sort()).toEqual(['c', 'new']);
    expect(next.get('c')).toBe(ancestor.get('c'));
  });

  it('within scopes, updates the ancestor in place: synced paths overwritten where they are, removed ones forgotten, conflicts and failures kept, the rest untouched', () => {
    const old = (path: string): Entry => file(path, '000000000000000a');
    const ancestor = new ManifestTable(manifest(old('a'), old('edited'), old('gone'), old('changed'), old('failed'), old('outside'), dir('d'), old('d/x'), old('z')));
    const target = manifest(old('a'), old('edited'), old('gone'), file('changed', '000000000000000c', { mtimeMs: T + 9 }), old('failed'), old('outside'), dir('d'), old('d/x'), old('z'));
    const edit = (path: string): Entry => file(path, '000000000000000b', { mtimeMs: T + 1 });
    const local = manifest(old('a'), edit('edited'), edit('changed'), edit('failed'), old('outside'), dir('d'), old('d/x'), edit('d/y'), old('z'), edit('new'));
    const scopes = new Set(['edited', 'gone', 'changed', 'failed', 'd', 'new']);
    const plan = reconcile(local, target, { mode: 'safe', ancestor, paths: [...scopes] });
    expect(plan.conflicts.map((c) => c.path)).toEqual(['changed']);
    const next = nextAncestor(ancestor, plan, local, scopes, new Set(['failed']));
    expect(next).toBe(ancestor);
    // Order kept: each synced path where it was, the new ones after.
    expect([...next.keys()]).toEqual(['a', 'edited', 'changed', 'failed', 'outside', 'd', 'd/x', 'z', 'new', 'd/y']);
    expect(next.get('edited')).toEqual(edit('edited'));
    expect(next.get('d/y')).toEqual(edit('d/y'));
    expect(next.get('new')).toEqual(edit('new'));
    for (const p of ['a', 'changed', 'failed', 'outside', 'd/x', 'z']) expect(next.get(p)).toEqual(old(p));
    // The same as a Map gives, but for the order of the paths overwritten.
    const asMap = nextAncestor(new Map(manifest(old('a'), old('edited'), old('gone'), old('changed'), old('failed'), old('outside'), dir('d'), old('d/x'), old('z'))), plan, local, scopes, new Set(['failed']));
    expect(new Map(next)).toEqual(asMap);
  });
});
