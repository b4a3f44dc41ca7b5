// rsync's quick check: a full sync (initial, daemon restart, resume) compares files by size and mtime without
// reading them; only rename/copy candidates are hashed, and a file being sent is hashed as it is read, its digest
// following its content (digest-at-end) for radar to verify before the rename. Over real gRPC on 127.0.0.1.
import * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, readdir, rename, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createHasher } from '../../pkg/sync/hash.ts';
import type { Hasher } from '../../pkg/sync/hash.ts';
import { syncPaths, syncTree } from '../../pkg/sync/push.ts';
import type { BatchOp, BatchResult, IgnoreRuleSet, Manifest, Receiver, RelPath, Signature } from '../../pkg/sync/types.ts';
import { RadarClient } from '../../pkg/transport/client.ts';
import { loadRadarProto } from '../../proto/load.ts';
import type * as M from '../../proto/messages.ts';
import { METADATA_AUTHORIZATION, METADATA_PROTOCOL_VERSION, PROTOCOL_VERSION } from '../../proto/version.ts';
import { RadarServer } from '../../radar/grpc/server.ts';
import { StaticRootResolver } from '../../radar/grpc/static-resolver.ts';

const TOKEN = 'quick-check-token';
const MiB = 1024 * 1024;

/** The real hasher, counting the bytes it is given: proves what was (not) read. */
class CountingHasher implements Hasher {
  bytes = 0;
  readonly #inner: Hasher;
  constructor(inner: Hasher) {
    this.#inner = inner;
  }
  h64(data: Uint8Array): bigint {
    this.bytes += data.byteLength;
    return this.#inner.h64(data);
  }
  stream(): { update(data: Uint8Array): void; digest(): string } {
    const s = this.#inner.stream();
    return {
      update: (data) => {
        this.bytes += data.byteLength;
        s.update(data);
      },
      digest: () => s.digest(),
    };
  }
}

/** Passes everything on (known entries and digest-at-end included), recording the ops and their digests. */
class Recording implements Receiver {
  readonly ops: { op: string; path: RelPath; digest?: string }[] = [];
  readonly #inner: RadarClient;
  readonly #digestAtEnd: boolean;
  constructor(inner: RadarClient, digestAtEnd = true) {
    this.#inner = inner;
    this.#digestAtEnd = digestAtEnd;
  }
  manifest(rules: readonly IgnoreRuleSet[], signal?: AbortSignal, known?: Manifest): Promise<Manifest> {
    return this.#inner.manifest(rules, signal, known);
  }
  acceptsDigestAtEnd(): boolean {
    return this.#digestAtEnd && this.#inner.acceptsDigestAtEnd();
  }
  digests(paths: readonly RelPath[], signal?: AbortSignal): Promise<Manifest> {
    return this.#inner.digests(paths, signal);
  }
  signatures(paths: readonly RelPath[], signal?: AbortSignal): AsyncIterable<{ path: RelPath; signature: Signature | null }> {
    return this.#inner.signatures(paths, signal);
  }
  apply(ops: AsyncIterable<BatchOp>, signal?: AbortSignal): Promise<BatchResult> {
    const { ops: seen } = this;
    return this.#inner.apply((async function* () {
      for await (const op of ops) {
        seen.push({ op: op.op, path: op.path, ...('digest' in op ? { digest: op.digest } : {}) });
        yield op;
      }
    })(), signal);
  }
}

let realHasher: Hasher;
let base: string;
let src: string;
let dst: string;
let radarHasher: CountingHasher;
let server: RadarServer;
let address: string;
const clients: RadarClient[] = [];

beforeAll(async () => {
  realHasher = await createHasher();
});
beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), 'kx-quick-'));
  src = join(base, 'src');
  dst = join(base, 'dst');
  await mkdir(src);
  await mkdir(dst);
  radarHasher = new CountingHasher(realHasher);
  server = new RadarServer({ listen: '127.0.0.1:0', resolver: new StaticRootResolver(dst, TOKEN), hasher: radarHasher, closeGraceMs: 500 });
  address = (await server.start()).address;
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await server.close();
  await rm(base, { recursive: true, force: true });
});

function client(): RadarClient {
  const c = new RadarClient({ address, token: TOKEN, target: { containerId: '' } });
  clients.push(c);
  return c;
}

async function seed(): Promise<void> {
  for (let d = 0; d < 4; d++) {
    await mkdir(join(src, `d${d}`));
    for (let f = 0; f < 10; f++) await writeFile(join(src, `d${d}/f${f}.txt`), `file ${d}/${f}\n`.repeat(40 + f));
  }
  await writeFile(join(src, 'big.bin'), randomBytes(MiB));
}

/** A sync as after a daemon restart: a fresh sender (no previous manifest) with its own counting hasher. */
async function restartSync(receiver: Receiver = client()): Promise<{ hasher: CountingHasher; ops: number; bytesSent: number; errors: readonly unknown[] }> {
  const hasher = new CountingHasher(realHasher);
  radarHasher.bytes = 0;
  const r = await syncTree({ root: src, receiver, hasher, rules: [] });
  return { hasher, ops: r.ops, bytesSent: r.bytesSent, errors: r.errors };
}

describe('quick check on a full sync', () => {
  it('sends nothing and hashes nothing, on either side, for an unchanged tree', async () => {
    await seed();
    expect((await syncTree({ root: src, receiver: client(), hasher: realHasher, rules: [] })).errors).toEqual([]);
    const again = await restartSync();
    expect(again).toMatchObject({ ops: 0, bytesSent: 0, errors: [] });
    expect(again.hasher.bytes).toBe(0);
    expect(radarHasher.bytes).toBe(0);
  });

  it('does not notice content changed with size and mtime restored (the rsync trade-off)', async () => {
    await seed();
    const f = join(src, 'd0/f0.txt');
    await utimes(f, 1_700_000_000, 1_700_000_000);
    await syncTree({ root: src, receiver: client(), hasher: realHasher, rules: [] });
    const old = await readFile(f, 'utf8');
    await writeFile(f, old.replace('file', 'FILE'));
    await utimes(f, 1_700_000_000, 1_700_000_000);
    const again = await restartSync();
    expect(again).toMatchObject({ ops: 0, bytesSent: 0 });
    expect(await readFile(join(dst, 'd0/f0.txt'), 'utf8')).toBe(old);
  });

  it('sends a file whose mtime changed, reading it once, as a delta against the receiver\'s copy', async () => {
    await seed();
    await syncTree({ root: src, receiver: client(), hasher: realHasher, rules: [] });
    const big = await readFile(join(src, 'big.bin'));
    big[MiB / 2] = big[MiB / 2] ^ 0xff;
    await writeFile(join(src, 'big.bin'), big);
    const rec = new Recording(client());
    const again = await restartSync(rec);
    expect(again.errors).toEqual([]);
    // Digest at end: the write announces none up front.
    expect(rec.ops).toEqual([{ op: 'write', path: 'big.bin', digest: '' }]);
    expect(again.bytesSent).toBeLessThan(64 * 1024);
    expect(Buffer.compare(await readFile(join(dst, 'big.bin')), big)).toBe(0);
  });

  it('hashes a sent file before sending when the receiver does not take digest-at-end', async () => {
    await seed();
    await syncTree({ root: src, receiver: client(), hasher: realHasher, rules: [] });
    await writeFile(join(src, 'd1/f1.txt'), 'changed\n');
    const rec = new Recording(client(), false);
    const again = await restartSync(rec);
    expect(again.errors).toEqual([]);
    expect(rec.ops).toEqual([{ op: 'write', path: 'd1/f1.txt', digest: expect.stringMatching(/^[0-9a-f]{16}$/) }]);
    expect(await readFile(join(dst, 'd1/f1.txt'), 'utf8')).toBe('changed\n');
  });

  it('detects a moved file by hashing only same-size candidates: a move op, ~0 bytes sent', async () => {
    await seed();
    await syncTree({ root: src, receiver: client(), hasher: realHasher, rules: [] });
    await mkdir(join(src, 'moved'));
    await rename(join(src, 'big.bin'), join(src, 'moved/big.bin'));
    const rec = new Recording(client());
    const again = await restartSync(rec);
    expect(again.errors).toEqual([]);
    expect(rec.ops.filter((o) => o.op !== 'mkdir')).toEqual([{ op: 'move', path: 'moved/big.bin', digest: expect.stringMatching(/^[0-9a-f]{16}$/) }]);
    expect(again.bytesSent).toBeLessThan(1024);
    // The 1 MiB file once on the sender; on radar once as a candidate and once to verify the move: no other file.
    expect(again.hasher.bytes).toBe(MiB);
    expect(radarHasher.bytes).toBe(2 * MiB);
    expect(await readdir(dst)).not.toContain('big.bin');
  });
});

describe('quick check in continuous sync', () => {
  it('moves a file whose digest no scan computed, asking radar for the digest of the path it left', async () => {
    await seed();
    await syncTree({ root: src, receiver: client(), hasher: realHasher, rules: [] });
    // As after a daemon restart: nothing was sent or hashed, so no digest is known.
    const first = await syncTree({ root: src, receiver: client(), hasher: realHasher, rules: [] });
    expect(first.remote.get('big.bin')?.digest).toBeUndefined();
    await rename(join(src, 'big.bin'), join(src, 'moved.bin'));
    const rec = new Recording(client());
    const res = await syncPaths({ root: src, receiver: rec, hasher: realHasher, rules: [], paths: ['big.bin', 'moved.bin'], local: first.local, remote: first.remote });
    expect(res.errors).toEqual([]);
    expect(rec.ops.map((o) => o.op)).toEqual(['move']);
    expect(res.bytesSent).toBe(0);
    expect(Buffer.compare(await readFile(join(dst, 'moved.bin')), await readFile(join(src, 'moved.bin')))).toBe(0);
  });

  it('gives no digest for a path that is not a regular file inside the root', async () => {
    await writeFile(join(base, 'outside'), 'secret');
    await symlink(join(base, 'outside'), join(dst, 'link'));
    await mkdir(join(dst, 'dir'));
    await writeFile(join(dst, 'file'), 'x');
    const found = await client().digests(['link', 'dir', '../outside', 'missing', 'file']);
    expect([...found.keys()]).toEqual(['file']);
  });
});

describe('digest-at-end on radar', () => {
  function applyRaw(items: M.ApplyItem[]): Promise<M.ApplyAck[]> {
    const { Client } = loadRadarProto();
    const stub = new Client(address, grpc.credentials.createInsecure()) as unknown as { Apply(md: grpc.Metadata): grpc.ClientDuplexStream<M.ApplyFrame, M.ApplyAck>; close(): void };
    const md = new grpc.Metadata();
    md.set(METADATA_AUTHORIZATION, `Bearer ${TOKEN}`);
    md.set(METADATA_PROTOCOL_VERSION, String(PROTOCOL_VERSION));
    const call = stub.Apply(md);
    const acks: M.ApplyAck[] = [];
    call.on('data', (a: M.ApplyAck) => acks.push(a));
    call.write({ open: { target: null }, items, flush: true });
    call.end();
    return once(call, 'status').then(() => {
      stub.close();
      return acks;
    });
  }
  const writeItems = (size: number, data: Uint8Array, endDigest: string): M.ApplyItem[] => [
    { item: 'op', op: { op: 'write', path: 'f', from: '', mode: 0o644, mtimeMs: 1_000_000, size, digest: '', basis: 'whole', blockSize: 0, linkTarget: '' } },
    { item: 'literal', literal: { data, deflated: false, rawSize: data.byteLength } },
    { item: 'end', end: { abort: false, reason: '', code: '', digest: endDigest } },
  ];
  const digestOf = (data: Uint8Array): string => {
    const h = realHasher.stream();
    h.update(data);
    return h.digest();
  };

  for (const size of [100, 2 * MiB]) {
    it(`writes content that matches the digest after it (${size} bytes)`, async () => {
      const data = randomBytes(size);
      const acks = await applyRaw(writeItems(size, data, digestOf(data)));
      expect(acks.map((a) => [a.applied, a.errors])).toEqual([[1, []]]);
      expect(Buffer.compare(await readFile(join(dst, 'f')), data)).toBe(0);
    });

    it(`refuses corrupted content with DIGEST_MISMATCH and keeps the old file (${size} bytes)`, async () => {
      await writeFile(join(dst, 'f'), 'old content');
      const data = randomBytes(size);
      const corrupted = Buffer.from(data);
      corrupted[size >> 1] = corrupted[size >> 1] ^ 1;
      const acks = await applyRaw(writeItems(size, corrupted, digestOf(data)));
      expect(acks.map((a) => a.errors.map((e) => [e.path, e.code]))).toEqual([[['f', 'DIGEST_MISMATCH']]]);
      expect(await readFile(join(dst, 'f'), 'utf8')).toBe('old content');
      expect((await readdir(dst)).filter((n) => n.startsWith('.kx-tmp-'))).toEqual([]);
    });
  }

  it('refuses a write with no digest before or after its content, keeping the old file', async () => {
    await writeFile(join(dst, 'f'), 'old content');
    const data = randomBytes(100);
    const acks = await applyRaw(writeItems(100, data, ''));
    expect(acks.map((a) => a.errors.map((e) => e.code))).toEqual([['DIGEST_MISMATCH']]);
    expect(await readFile(join(dst, 'f'), 'utf8')).toBe('old content');
  });
});
