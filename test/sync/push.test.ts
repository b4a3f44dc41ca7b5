// The sender's orchestration: continuous sync sends only what changed, large files go as block deltas, a
// delta that no longer fits its basis is resent whole, and progress is reported.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createHasher } from '../../pkg/sync/hash.ts';
import type { Hasher } from '../../pkg/sync/hash.ts';
import { syncPaths, syncTree } from '../../pkg/sync/push.ts';
import type { PushProgress } from '../../pkg/sync/push.ts';
import type { BatchOp, BatchResult, IgnoreRuleSet, Manifest, Receiver, RelPath, Signature } from '../../pkg/sync/types.ts';
import { RadarClient } from '../../pkg/transport/client.ts';
import { RadarServer } from '../../radar/grpc/server.ts';
import { StaticRootResolver } from '../../radar/grpc/static-resolver.ts';
import { LocalTree } from '../../pkg/receiver/local-tree.ts';

const TOKEN = 'push-test-token';
let hasher: Hasher;
let src: string;
let dst: string;
let base: string;
let server: RadarServer;
let client: RadarClient;

/** Records what the sender asked of a receiver, then passes it on. */
class Recording implements Receiver {
  readonly ops: { op: string; path: RelPath; basis?: string }[] = [];
  readonly inner: Receiver;
  /** Runs before the receiver gets the first write op with a delta basis. */
  beforeDeltaWrite: (() => Promise<void>) | undefined;
  /** Runs before each signature is handed over. */
  beforeSignature: ((path: RelPath) => Promise<void>) | undefined;
  constructor(inner: Receiver) {
    this.inner = inner;
  }
  manifest(rules: readonly IgnoreRuleSet[], signal?: AbortSignal): Promise<Manifest> {
    return this.inner.manifest(rules, signal);
  }
  async *signatures(paths: readonly RelPath[], signal?: AbortSignal): AsyncIterable<{ path: RelPath; signature: Signature | null }> {
    for await (const s of this.inner.signatures(paths, signal)) {
      await this.beforeSignature?.(s.path);
      yield s;
    }
  }
  apply(ops: AsyncIterable<BatchOp>, signal?: AbortSignal): Promise<BatchResult> {
    return this.inner.apply(this.recorded(ops), signal);
  }
  private async *recorded(ops: AsyncIterable<BatchOp>): AsyncIterable<BatchOp> {
    for await (const op of ops) {
      this.ops.push({ op: op.op, path: op.path, ...(op.op === 'write' ? { basis: op.basis } : {}) });
      if (op.op === 'write' && op.basis === 'delta' && this.beforeDeltaWrite) {
        const hook = this.beforeDeltaWrite;
        this.beforeDeltaWrite = undefined;
        await hook();
      }
      yield op;
    }
  }
}

beforeAll(async () => {
  hasher = await createHasher();
});
beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), 'kx-push-'));
  src = join(base, 'src');
  dst = join(base, 'dst');
  await mkdir(src);
  await mkdir(dst);
  server = new RadarServer({ listen: '127.0.0.1:0', resolver: new StaticRootResolver(dst, TOKEN), hasher, closeGraceMs: 500 });
  client = new RadarClient({ address: (await server.start()).address, token: TOKEN, target: { containerId: '' } });
});
afterEach(async () => {
  await client.close();
  await server.close();
  await rm(base, { recursive: true, force: true });
});

async function seedTree(): Promise<void> {
  for (let d = 0; d < 5; d++) {
    await mkdir(join(src, `d${d}`));
    for (let f = 0; f < 10; f++) await writeFile(join(src, `d${d}/f${f}.txt`), `file ${d}/${f}\n`.repeat(50));
  }
}

describe('syncPaths', () => {
  it('sends only the changed file', async () => {
    await seedTree();
    const first = await syncTree({ root: src, receiver: client, hasher, rules: [] });
    await writeFile(join(src, 'd2/f7.txt'), 'changed\n');
    const rec = new Recording(client);
    const res = await syncPaths({ root: src, receiver: rec, hasher, rules: [], paths: ['d2/f7.txt'], local: first.local, remote: first.remote });
    expect(res.errors).toEqual([]);
    expect(rec.ops).toEqual([{ op: 'write', path: 'd2/f7.txt', basis: 'whole' }]);
    expect(await readFile(join(dst, 'd2/f7.txt'), 'utf8')).toBe('changed\n');
  });

  it('sends a small edit of a large file as a block delta', async () => {
    const size = 4 * 1024 * 1024;
    const data = randomBytes(size); // incompressible: only the delta can make the transfer small
    await writeFile(join(src, 'big.bin'), data);
    const first = await syncTree({ root: src, receiver: client, hasher, rules: [] });
    const fh = await open(join(src, 'big.bin'), 'r+');
    await fh.write(randomBytes(100), 0, 100, size / 2);
    await fh.close();
    const rec = new Recording(client);
    const res = await syncPaths({ root: src, receiver: rec, hasher, rules: [], paths: ['big.bin'], local: first.local, remote: first.remote });
    expect(res.errors).toEqual([]);
    expect(rec.ops).toEqual([{ op: 'write', path: 'big.bin', basis: 'delta' }]);
    expect(res.bytesSent).toBeLessThan(size / 50);
    expect(Buffer.compare(await readFile(join(dst, 'big.bin')), await readFile(join(src, 'big.bin')))).toBe(0);
  });

  it('creates the parent directories of a file in a new directory', async () => {
    const first = await syncTree({ root: src, receiver: client, hasher, rules: [] });
    await mkdir(join(src, 'new/deeper'), { recursive: true });
    await writeFile(join(src, 'new/deeper/f'), 'x');
    const res = await syncPaths({ root: src, receiver: client, hasher, rules: [], paths: ['new/deeper/f'], local: first.local, remote: first.remote });
    expect(res.errors).toEqual([]);
    expect(await readFile(join(dst, 'new/deeper/f'), 'utf8')).toBe('x');
  });
});

describe('syncTree', () => {
  it('gives way when pace says so: sends no op while it holds, then everything', async () => {
    await seedTree();
    const rec = new Recording(client);
    let release: () => void = () => {};
    let held = false;
    let sendStarted = false;
    const sync = syncTree({
      root: src,
      receiver: rec,
      hasher,
      rules: [],
      // Held at the first op of the send (the compare phase asks twice before).
      pace: () => {
        if (held || rec.ops.length > 0 || !sendStarted) return undefined;
        held = true;
        return new Promise<void>((r) => (release = r));
      },
      onProgress: (p) => {
        if (p.phase === 'send') sendStarted = true;
      },
    });
    await vi.waitFor(() => expect(held).toBe(true));
    expect(rec.ops).toEqual([]);
    release();
    const res = await sync;
    expect(res.errors).toEqual([]);
    expect(rec.ops.length).toBe(55);
    expect(await readFile(join(dst, 'd4/f9.txt'), 'utf8')).toBe('file 4/9\n'.repeat(50));
  });

  it('resends a file whole when its delta no longer fits the changed basis', async () => {
    const size = 256 * 1024;
    await writeFile(join(src, 'f'), randomBytes(size));
    await writeFile(join(dst, 'f'), randomBytes(size));
    // Make the receiver's basis share blocks with the source, so a delta with copy ops is planned...
    const shared = await readFile(join(src, 'f'));
    await writeFile(join(dst, 'f'), Buffer.concat([shared.subarray(0, size / 2), randomBytes(size / 2)]));
    // Another mtime, or the quick check (same size, same mtime) would take the two files as equal.
    await utimes(join(dst, 'f'), 1_000_000, 1_000_000);
    const rec = new Recording(new LocalTree({ root: dst, hasher }));
    // ...then change that basis after its signature was taken.
    rec.beforeDeltaWrite = async () => {
      await writeFile(join(dst, 'f'), randomBytes(size));
    };
    const res = await syncTree({ root: src, receiver: rec, hasher, rules: [] });
    expect(res.errors).toEqual([]);
    expect(rec.ops).toEqual([{ op: 'write', path: 'f', basis: 'delta' }, { op: 'write', path: 'f', basis: 'whole' }]);
    expect(Buffer.compare(await readFile(join(dst, 'f')), shared)).toBe(0);
  });

  it('sends whole files while the signatures for delta writes are still coming', async () => {
    const size = 64 * 1024;
    await writeFile(join(src, 'a-delta'), randomBytes(size));
    await writeFile(join(dst, 'a-delta'), randomBytes(size));
    await utimes(join(dst, 'a-delta'), 1_000_000, 1_000_000);
    await writeFile(join(src, 'b-new'), 'new\n');
    const rec = new Recording(new LocalTree({ root: dst, hasher }));
    // The signature is handed over only once the receiver got the whole file planned after it.
    let wholeSeen!: () => void;
    const seen = new Promise<void>((resolve) => (wholeSeen = resolve));
    const inner = rec.apply.bind(rec);
    rec.apply = (ops, signal) => inner((async function* () {
      for await (const op of ops) {
        yield op;
        if (op.op === 'write' && op.basis === 'whole') wholeSeen();
      }
    })(), signal);
    rec.beforeSignature = () => seen;
    const res = await syncTree({ root: src, receiver: rec, hasher, rules: [] });
    expect(res.errors).toEqual([]);
    expect(rec.ops).toEqual([{ op: 'write', path: 'b-new', basis: 'whole' }, { op: 'write', path: 'a-delta', basis: 'delta' }]);
    expect(Buffer.compare(await readFile(join(dst, 'a-delta')), await readFile(join(src, 'a-delta')))).toBe(0);
  });

  it('sends a write held for its signature before the next op that is not a write', async () => {
    const size = 64 * 1024;
    await writeFile(join(src, 'f'), randomBytes(size));
    await writeFile(join(dst, 'f'), randomBytes(size));
    await utimes(join(dst, 'f'), 1_000_000, 1_000_000);
    await writeFile(join(dst, 'gone'), 'old\n');
    const rec = new Recording(new LocalTree({ root: dst, hasher }));
    rec.beforeSignature = () => new Promise((resolve) => setTimeout(resolve, 50));
    const res = await syncTree({ root: src, receiver: rec, hasher, rules: [] });
    expect(res.errors).toEqual([]);
    expect(rec.ops).toEqual([{ op: 'write', path: 'f', basis: 'delta' }, { op: 'remove', path: 'gone' }]);
  });

  it('reports progress through scan, compare and send, ending with every byte sent', async () => {
    await seedTree();
    const seen: PushProgress[] = [];
    await syncTree({ root: src, receiver: client, hasher, rules: [], onProgress: (p) => seen.push({ ...p }) });
    expect(new Set(seen.map((p) => p.phase))).toEqual(new Set(['scan', 'compare', 'send']));
    const last = seen[seen.length - 1];
    expect(last).toMatchObject({ phase: 'send', files: last.totalFiles, bytes: last.totalBytes });
    expect(last.totalBytes).toBeGreaterThan(0);
  });

  it('leaves alone what the ignore rules exclude on the receiver', async () => {
    await writeFile(join(src, '.gitignore'), 'build/\n');
    await mkdir(join(dst, 'build'));
    await writeFile(join(dst, 'build/artifact'), 'keep me');
    const res = await syncTree({ root: src, receiver: client, hasher, rules: [] });
    expect(res.errors).toEqual([]);
    expect(await readFile(join(dst, 'build/artifact'), 'utf8')).toBe('keep me');
  });
});
