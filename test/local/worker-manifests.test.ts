// A full sync's manifests crossing to the sync worker and back (worker-manifests.ts): through a real MessagePort,
// the job's manifests arrive whole while the daemon keeps its own; the result's arrive whole as compact tables, their
// buffers transferred rather than copied.
import { once } from 'node:events';
import { MessageChannel } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { postJob, postResult, receivedJob, receivedResult } from '../../pkg/daemon/worker-manifests.ts';
import { ManifestTable } from '../../pkg/sync/manifest-table.ts';
import type { PushResult } from '../../pkg/sync/push.ts';
import type { Entry, Manifest } from '../../pkg/sync/types.ts';

const file = (i: number): Entry => ({ path: `d${i % 9}/f${i}.txt`, kind: 'file', mode: 0o644, size: i, mtimeMs: 1_700_000_000_000 + i, ...(i % 2 === 0 && { digest: i.toString(16).padStart(16, '0') }) });
const manifest = (n: number, from = 0): Map<string, Entry> => new Map(Array.from({ length: n }, (_, i) => [file(from + i).path, file(from + i)]));

async function across<T>(message: T, transfer: ArrayBuffer[] = []): Promise<T> {
  const { port1, port2 } = new MessageChannel();
  try {
    port1.postMessage(message, transfer);
    const [got] = (await once(port2, 'message')) as [T];
    return got;
  } finally {
    port1.close();
    port2.close();
  }
}

describe('manifests across the sync worker boundary', () => {
  it('posts a job with its manifests whole, and the daemon keeps its own tables usable', async () => {
    const local = new ManifestTable(manifest(3000));
    const ancestor = new ManifestTable(manifest(2000, 500));
    const job = { root: '/src', rules: [], previousLocal: local as Manifest, safety: { mode: 'safe' as const, ancestor: ancestor as Manifest, confirmed: true } };
    const got = receivedJob<typeof job>(await across(postJob(job)));
    expect(got.root).toBe('/src');
    expect(got.safety.mode).toBe('safe');
    expect(got.safety.confirmed).toBe(true);
    expect(got.previousLocal).toBeInstanceOf(ManifestTable);
    expect(new Map(got.previousLocal)).toEqual(manifest(3000));
    expect(new Map(got.safety.ancestor)).toEqual(manifest(2000, 500));
    // Copied, not moved: the daemon's tables are intact.
    expect(new Map(local)).toEqual(manifest(3000));
    expect(new Map(ancestor)).toEqual(manifest(2000, 500));
    // No ancestor (first contact) stays none.
    const first = receivedJob(await across(postJob({ safety: { mode: 'safe' as const, ancestor: undefined } })));
    expect(first.safety?.ancestor).toBeUndefined();
  });

  it('posts a result back as compact tables, transferring their buffers', async () => {
    const local = manifest(4000);
    const result: PushResult = {
      local,
      remote: local, // the same Map twice still packs (and arrives) as two tables
      ancestor: manifest(10),
      ops: 4000,
      counts: { files: 4000, removed: 0 },
      bytesSent: 123,
      errors: [],
      conflicts: [],
      foreign: 0,
      removed: [],
      deletedFiles: 0,
    };
    const { result: posted, transfer } = postResult(result);
    expect(transfer.length).toBeGreaterThan(0);
    const got = receivedResult(await across(posted, transfer));
    expect(transfer.every((b) => b.byteLength === 0)).toBe(true);
    for (const m of [got.local, got.remote, got.ancestor]) expect(m).toBeInstanceOf(ManifestTable);
    expect(new Map(got.local)).toEqual(local);
    expect(new Map(got.remote)).toEqual(local);
    expect(got.remote).not.toBe(got.local);
    expect(new Map(got.ancestor)).toEqual(manifest(10));
    expect({ ...got, local: null, remote: null, ancestor: null }).toEqual({ ...result, local: null, remote: null, ancestor: null });
  });
});
