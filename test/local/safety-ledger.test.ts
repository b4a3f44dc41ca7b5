import { describe, expect, it } from 'vitest';
import { SafetyLedger } from '../../pkg/daemon/safety-ledger.ts';
import type { PushResult } from '../../pkg/sync/push.ts';
import type { Conflict } from '../../pkg/sync/reconcile.ts';

function landed(over: Partial<PushResult>): PushResult {
  return {
    local: new Map(),
    remote: new Map(),
    ops: 0,
    counts: { files: 0, removed: 0 },
    bytesSent: 0,
    errors: [],
    ancestor: new Map(),
    conflicts: [],
    foreign: 0,
    removed: [],
    deletedFiles: 0,
    ...over,
  };
}

const changed = (path: string): Conflict => ({ path, reason: 'changed', local: { kind: 'file', size: 1, mtimeMs: 1 }, remote: { kind: 'file', size: 2, mtimeMs: 2 } });

describe('SafetyLedger', () => {
  it('counts the container-only files of the last full sync, not again when a batch plans among them', () => {
    const lines: string[] = [];
    const ledger = new SafetyLedger('site → c', 'site', { error() {}, warn: (m) => lines.push(m), info: (m) => lines.push(m), debug() {} });
    // The full sync after build/ was deleted locally found build/cache.bin, which the container made.
    ledger.note(landed({ foreign: 1 }), null);
    expect(ledger.status().foreignFiles).toBe(1);
    // A late event for build/ makes a batch whose plan sees the same file in kx's view of the container.
    ledger.note(landed({ foreign: 1 }), ['build']);
    expect(ledger.status().foreignFiles).toBe(1);
    // The next full sync's count replaces it (the container removed its file meanwhile).
    ledger.note(landed({ foreign: 0 }), null);
    expect(ledger.status().foreignFiles).toBe(0);
  });

  it('replaces the conflicts within a batch\'s paths and keeps the others', () => {
    const lines: string[] = [];
    const ledger = new SafetyLedger('site → c', 'site', { error() {}, warn: (m) => lines.push(m), info: (m) => lines.push(m), debug() {} });
    ledger.note(landed({ conflicts: [changed('a/x.js'), changed('b/y.js')] }), null);
    expect(ledger.status().conflicts).toBe(2);
    ledger.note(landed({ conflicts: [] }), ['a']);
    expect(ledger.status()).toMatchObject({ conflicts: 1, conflictList: [{ path: 'b/y.js', reason: 'changed' }] });
    expect(lines.filter((l) => l.includes('left 2 conflicting container file(s) alone'))).toHaveLength(1);
  });

  it('adds up the files each batch deleted and says which', () => {
    const lines: string[] = [];
    const ledger = new SafetyLedger('site → c', 'site', { error() {}, warn: (m) => lines.push(m), info: (m) => lines.push(m), debug() {} });
    ledger.note(landed({ removed: ['old.js'], deletedFiles: 1 }), ['old.js']);
    ledger.note(landed({ removed: ['build'], deletedFiles: 3 }), ['build']);
    expect(ledger.status().deletedFiles).toBe(4);
    expect(lines).toContain('site → c: deleted 3 file(s) in the container: build');
  });
});
