// A plan's batches in a pipeline: the next batch is read and handed to the receiver while the one before waits
// for its ack, when both only write files to distinct paths — never more than one batch waiting, and a batch with
// anything but writes (a mkdir, a remove) waits for the ack of the one before it, as does the one after it.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createHasher } from '../../pkg/sync/hash.ts';
import type { Hasher } from '../../pkg/sync/hash.ts';
import { ErrorCode } from '../../pkg/sync/errors.ts';
import { BATCH_MAX_OPS, sendPlan } from '../../pkg/sync/send-plan.ts';
import type { BatchOp, BatchResult, Entry, IgnoreRuleSet, Manifest, Op, Receiver, RelPath, Signature } from '../../pkg/sync/types.ts';
import { LocalTree } from '../../pkg/receiver/local-tree.ts';

/** A batch of 2,000 files takes seconds on a busy machine. */
const WAIT = { timeout: 60_000, interval: 20 };

let hasher: Hasher;
let base = '';
let src = '';
let dst = '';

beforeAll(async () => {
  hasher = await createHasher();
});
beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), 'kx-overlap-'));
  src = join(base, 'src');
  dst = join(base, 'dst');
  await mkdir(src);
  await mkdir(dst);
});
afterEach(async () => {
  await rm(base, { recursive: true, force: true });
});

/**
 * A real receiver whose acks wait until the test releases them, recording in order when each batch started, when
 * its last op was taken and when it was acked.
 */
class GatedAcks implements Receiver {
  readonly events: string[] = [];
  readonly #inner: Receiver;
  readonly #gates: { release: () => void }[] = [];
  #batches = 0;
  /** Errors to add to a batch's result, by batch number (the real receiver placed the files anyway). */
  readonly extraErrors = new Map<number, { path: RelPath; code: string; message: string }[]>();

  constructor(inner: Receiver) {
    this.#inner = inner;
  }
  manifest(rules: readonly IgnoreRuleSet[], signal?: AbortSignal): Promise<Manifest> {
    return this.#inner.manifest(rules, signal);
  }
  signatures(paths: readonly RelPath[], signal?: AbortSignal): AsyncIterable<{ path: RelPath; signature: Signature | null }> {
    return this.#inner.signatures(paths, signal);
  }
  async apply(ops: AsyncIterable<BatchOp>, signal?: AbortSignal): Promise<BatchResult> {
    const n = this.#batches++;
    this.events.push(`start ${n}`);
    const events = this.events;
    async function* taken(): AsyncIterable<BatchOp> {
      yield* ops;
      events.push(`handed ${n}`);
    }
    const r = await this.#inner.apply(taken(), signal);
    const gate = Promise.withResolvers<void>();
    this.#gates.push({ release: gate.resolve });
    await gate.promise;
    this.events.push(`ack ${n}`);
    return { ...r, errors: [...r.errors, ...(this.extraErrors.get(n) ?? [])] };
  }
  /** Releases the oldest ack held, once one is held. */
  async releaseNext(): Promise<void> {
    await expect.poll(() => this.#gates.length, WAIT).toBeGreaterThan(0);
    this.#gates.shift()!.release();
  }
  /** Batches the sender has started. */
  get started(): number {
    return this.#batches;
  }
}

async function files(n: number, dir = ''): Promise<{ ops: Op[]; local: Map<RelPath, Entry> }> {
  const ops: Op[] = [];
  const local = new Map<RelPath, Entry>();
  for (let i = 0; i < n; i++) {
    const path = `${dir}f${i}.txt`;
    const data = `file ${i}\n`;
    await writeFile(join(src, path), data);
    const mtimeMs = 1_700_000_000_000 + i * 1000;
    ops.push({ op: 'write', path, mode: 0o644, mtimeMs, size: data.length, digest: '', basis: 'whole' });
    local.set(path, { path, kind: 'file', mode: 0o644, mtimeMs, size: data.length });
  }
  return { ops, local };
}

describe('sendPlan batches in a pipeline', { timeout: 180_000 }, () => {
  it('hands the next batch of writes over while the one before waits for its ack, one waiting at most', async () => {
    const { ops, local } = await files(2 * BATCH_MAX_OPS + 10);
    const rx = new GatedAcks(new LocalTree({ root: dst, hasher }));
    const sent = sendPlan(ops, local, { root: src, receiver: rx, hasher });
    // Batch 1 is handed over before batch 0 is acked, and batch 2 does not start until batch 0 is.
    await expect.poll(() => rx.events, WAIT).toContain('handed 1');
    expect(rx.events).toEqual(['start 0', 'handed 0', 'start 1', 'handed 1']);
    expect(rx.started).toBe(2);
    await rx.releaseNext();
    await expect.poll(() => rx.events, WAIT).toContain('handed 2');
    expect(rx.events).toEqual(['start 0', 'handed 0', 'start 1', 'handed 1', 'ack 0', 'start 2', 'handed 2']);
    await rx.releaseNext();
    await rx.releaseNext();
    const r = await sent;
    expect(r.errors).toEqual([]);
    expect(rx.events.slice(-2)).toEqual(['ack 1', 'ack 2']);
    for (const i of [0, BATCH_MAX_OPS, 2 * BATCH_MAX_OPS + 9]) expect(await readFile(join(dst, `f${i}.txt`), 'utf8')).toBe(`file ${i}\n`);
    // Every file's digest was learned as it was read, whichever batch it was in.
    expect([...local.values()].every((e) => e.kind === 'file' && e.digest !== undefined)).toBe(true);
  });

  it('starts a batch after one with a mkdir only once that one is acked, and the one after it the same way', async () => {
    await mkdir(join(src, 'd'));
    const first = await files(BATCH_MAX_OPS - 1);
    const second = await files(BATCH_MAX_OPS, 'd/');
    // Batch 0: the writes and the mkdir of d (its last op); batch 1: writes into d, which needs that mkdir.
    const ops: Op[] = [...first.ops, { op: 'mkdir', path: 'd', mode: 0o755 }, ...second.ops];
    const local = new Map([...first.local, ...second.local]);
    const rx = new GatedAcks(new LocalTree({ root: dst, hasher }));
    const sent = sendPlan(ops, local, { root: src, receiver: rx, hasher });
    await expect.poll(() => rx.events, WAIT).toContain('handed 0');
    await rx.releaseNext();
    await expect.poll(() => rx.events, WAIT).toContain('handed 1');
    expect(rx.events).toEqual(['start 0', 'handed 0', 'ack 0', 'start 1', 'handed 1']);
    await rx.releaseNext();
    const r = await sent;
    expect(r.errors).toEqual([]);
    expect(await readFile(join(dst, 'd', `f${BATCH_MAX_OPS - 1}.txt`), 'utf8')).toBe(`file ${BATCH_MAX_OPS - 1}\n`);
  });

  it('still resends, whole, what did not rebuild in a batch acked while the next one waits', async () => {
    const { ops, local } = await files(2 * BATCH_MAX_OPS);
    const rx = new GatedAcks(new LocalTree({ root: dst, hasher }));
    rx.extraErrors.set(0, [{ path: 'f3.txt', code: ErrorCode.DigestMismatch, message: 'f3.txt: content changed' }]);
    const sent = sendPlan(ops, local, { root: src, receiver: rx, hasher });
    await expect.poll(() => rx.events, WAIT).toContain('handed 1');
    await rx.releaseNext();
    // The resend of f3.txt (batch 2) goes out while batch 1 still waits.
    await expect.poll(() => rx.events, WAIT).toContain('handed 2');
    expect(rx.events).toEqual(['start 0', 'handed 0', 'start 1', 'handed 1', 'ack 0', 'start 2', 'handed 2']);
    await rx.releaseNext();
    await rx.releaseNext();
    const r = await sent;
    expect(r.errors).toEqual([]);
  });

  it('waits for the batch still in flight before it reports a failure', async () => {
    const { ops, local } = await files(2 * BATCH_MAX_OPS + 1);
    const rx = new GatedAcks(new LocalTree({ root: dst, hasher }));
    const failing: Receiver = {
      manifest: (rules, signal) => rx.manifest(rules, signal),
      signatures: (paths, signal) => rx.signatures(paths, signal),
      apply: async (batch, signal) => {
        const n = rx.started;
        const r = rx.apply(batch, signal);
        if (n === 0) {
          await r;
          throw new Error('batch 0 failed');
        }
        return r;
      },
    };
    let settled = false;
    const sent = sendPlan(ops, local, { root: src, receiver: failing, hasher }).finally(() => (settled = true));
    const failed = expect(sent).rejects.toThrow('batch 0 failed');
    await expect.poll(() => rx.events, WAIT).toContain('handed 1');
    await rx.releaseNext();
    // Batch 0 failed, batch 1 is still waiting for its ack: sendPlan has not returned.
    await expect.poll(() => rx.events, WAIT).toContain('ack 0');
    expect(settled).toBe(false);
    await rx.releaseNext();
    await failed;
    expect(rx.events).toEqual(['start 0', 'handed 0', 'start 1', 'handed 1', 'ack 0', 'ack 1']);
  });
});
