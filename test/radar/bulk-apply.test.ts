// A full sync's Apply stream applied on a thread of its own (radar/grpc/bulk-apply.ts), over a root pinned the way a
// container's is (an anchor /proc/self/fd/N opened by the resolver, a check before each batch): which streams go
// there, that their files land and their refusals come back as on the main thread, that another stream's save is
// applied while a bulk batch is in the middle of a file, and that a cancelled stream ends its thread.
import * as grpc from '@grpc/grpc-js';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createHasher, type Hasher } from '../../pkg/sync/hash.ts';
import { ErrorCode, KxError } from '../../pkg/sync/errors.ts';
import type { DeltaOp, Manifest } from '../../pkg/sync/types.ts';
import type { ResolvedRoot, RootResolver, TargetRef } from '../../pkg/runtime/ports.ts';
import { RadarClient } from '../../pkg/transport/client.ts';
import { loadRadarProto } from '../../proto/load.ts';
import type * as M from '../../proto/messages.ts';
import { METADATA_AUTHORIZATION, METADATA_PROTOCOL_VERSION, PROTOCOL_VERSION } from '../../proto/version.ts';
import { BULK_THREAD_NAME } from '../../radar/grpc/bulk-apply.ts';
import { BULK_NICE } from '../../pkg/lifecycle/thread-priority.ts';
import { PLACE_THREAD_NAME } from '../../pkg/receiver/place-pool.ts';
import { threads } from '../support/threads.ts';
import { RadarServer } from '../../radar/grpc/server.ts';
import { contentDigest, enc, opsOf } from '../support/batch-ops.ts';
import { poll } from '../support/poll.ts';

const TOKEN = 'bulk-test-token-0123456789';
let hasher: Hasher;
let base: string;
let root: string;
let outside: string;
let resolver: PinnedResolver;
let server: RadarServer;
let address: string;
const closers: Array<() => unknown> = [];

/** Resolves every target to `root`, pinned through an open descriptor of its parent, as a container's root is. */
class PinnedResolver implements RootResolver {
  readonly #fd: number;
  /** Set: the token no longer grants the target (verify refuses the next batch). */
  revoked = false;
  verified = 0;

  constructor(dir: string) {
    this.#fd = openSync(dir, 'r');
  }

  async authenticate(token: string | undefined): Promise<void> {
    if (token !== TOKEN) throw new KxError(ErrorCode.Unauthenticated, 'unauthenticated');
  }

  async resolve(_target: TargetRef, token: string | undefined): Promise<ResolvedRoot> {
    await this.authenticate(token);
    const anchor = `/proc/self/fd/${this.#fd}`;
    return {
      path: `${anchor}/app`,
      anchor,
      verify: async () => {
        this.verified++;
        if (this.revoked) throw new KxError(ErrorCode.PermissionDenied, 'the token no longer grants this namespace');
      },
    };
  }

  close(): void {
    closeSync(this.#fd);
  }
}

beforeAll(async () => {
  hasher = await createHasher();
});
beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), 'kx-bulk-'));
  root = join(base, 'app');
  outside = await mkdtemp(join(tmpdir(), 'kx-bulk-outside-'));
  await mkdir(root);
  resolver = new PinnedResolver(base);
  server = new RadarServer({ listen: '127.0.0.1:0', resolver, hasher, closeGraceMs: 500 });
  address = (await server.start()).address;
});
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  await server.close();
  // A cancelled call's status reaches the client at once; its thread ends moments later, as radar's handler sees it.
  await poll('every bulk thread ended', () => bulkThreads().length === 0);
  resolver.close();
  await rm(base, { recursive: true, force: true });
  await rm(outside, { recursive: true, force: true });
});

const bulkThreads = (): string[] =>
  readdirSync('/proc/self/task').filter((tid) => {
    try {
      return readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim() === BULK_THREAD_NAME;
    } catch {
      return false; // the thread ended meanwhile
    }
  });
const tempFiles = async (dir: string): Promise<string[]> => (await readdir(dir, { recursive: true })).filter((n) => n.split('/').pop()!.startsWith('.kx-tmp-'));

function client(): RadarClient {
  const c = new RadarClient({ address, target: { containerId: '' }, token: TOKEN });
  closers.push(() => c.close());
  return c;
}

/** What a full sync's manifest request tells radar: `n` files it lacks are coming. */
async function expectFullSync(n: number): Promise<void> {
  const known: Manifest = new Map(Array.from({ length: n }, (_, i) => [`new${i}`, { path: `new${i}`, kind: 'file' as const, mode: 0o644, size: 10, mtimeMs: 1_000_000 }]));
  await client().manifest([], undefined, known);
}

const op = (o: Partial<M.OpMsg> & Pick<M.OpMsg, 'op' | 'path'>): M.ApplyItem => ({
  item: 'op',
  op: { from: '', mode: 0o644, mtimeMs: 1_000_000, size: 0, digest: '', basis: '', blockSize: 0, linkTarget: '', expect: null, ...o },
});
/** A whole file's items: its op, its content, its end. */
function fileItems(path: string, text: string, expectMsg: M.ExpectMsg | null = null): M.ApplyItem[] {
  const data = enc(text);
  return [
    op({ op: 'write', path, size: data.length, digest: contentDigest(hasher, data), basis: 'whole', expect: expectMsg }),
    { item: 'literal', literal: { data, deflated: false, rawSize: data.length } },
    { item: 'end', end: { abort: false, reason: '', code: '', digest: '' } },
  ];
}
const manyFiles = (prefix: string, n: number): M.ApplyItem[] => Array.from({ length: n }, (_, i) => fileItems(`${prefix}${i}`, `${prefix} ${i}`)).flat();

/** An Apply stream by hand: frames as written, acks as they come, and its final status. */
function stream(): { call: grpc.ClientDuplexStream<M.ApplyFrame, M.ApplyAck>; acks: M.ApplyAck[]; status: Promise<grpc.StatusObject> } {
  const { Client } = loadRadarProto();
  const stub = new Client(address, grpc.credentials.createInsecure()) as unknown as grpc.Client & Record<string, (m: grpc.Metadata) => grpc.ClientDuplexStream<M.ApplyFrame, M.ApplyAck>>;
  closers.push(() => stub.close());
  const md = new grpc.Metadata();
  md.set(METADATA_AUTHORIZATION, `Bearer ${TOKEN}`);
  md.set(METADATA_PROTOCOL_VERSION, String(PROTOCOL_VERSION));
  const call = stub.Apply(md);
  const acks: M.ApplyAck[] = [];
  call.on('data', (a: M.ApplyAck) => acks.push(a));
  call.on('error', () => undefined);
  const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  return { call, acks, status };
}

describe("a full sync's Apply stream", () => {
  it('is applied on a thread of its own once its manifest named many files to come, and its files land', async () => {
    await expectFullSync(2000);
    const s = stream();
    s.call.write({ open: { target: null }, items: manyFiles('a', 40), flush: true });
    await poll('the first batch acknowledged', () => s.acks.length === 1);
    // The stream is still open: its thread serves it until it ends.
    expect(bulkThreads()).toHaveLength(1);
    s.call.write({ open: null, items: manyFiles('b', 40), flush: true });
    s.call.end();
    expect((await s.status).code).toBe(grpc.status.OK);
    expect(s.acks.map((a) => [a.applied, a.errors])).toEqual([[40, []], [40, []]]);
    for (const name of ['a0', 'a39', 'b0', 'b39']) expect(await readFile(join(root, name), 'utf8')).toBe(`${name[0]} ${name.slice(1)}`);
    expect(await tempFiles(base)).toEqual([]);
    // Each batch was checked (the container, the token) by the main thread before it was applied.
    expect(resolver.verified).toBeGreaterThanOrEqual(2);
    await poll('the thread ended with its stream', () => bulkThreads().length === 0);
  });

  it("runs at a lower CPU priority (BULK_NICE) with its placement thread, while radar's main thread and the thread pool keep theirs", async () => {
    const mainNice = threads().find((t) => t.tid === process.pid)!.nice;
    await expectFullSync(2000);
    const s = stream();
    s.call.write({ open: { target: null }, items: manyFiles('a', 40), flush: true });
    await poll('the first batch acknowledged', () => s.acks.length === 1);
    const now = threads();
    expect(now.filter((t) => t.name === BULK_THREAD_NAME).map((t) => t.nice)).toEqual([BULK_NICE]);
    // Its placement thread started with it (the manifest said thousands of files are coming), below the main thread too.
    expect(now.filter((t) => t.name === PLACE_THREAD_NAME).map((t) => t.nice)).toEqual([BULK_NICE]);
    expect(now.find((t) => t.tid === process.pid)!.nice).toBe(mainNice);
    const pool = now.filter((t) => t.name.startsWith('libuv-worker'));
    expect(pool.length).toBeGreaterThan(0);
    for (const t of pool) expect(t.nice).toBe(mainNice);
    s.call.end();
    expect((await s.status).code).toBe(grpc.status.OK);
  });

  it('serves the streams of one full sync, one after another, on the same thread', async () => {
    await expectFullSync(2000);
    const tids: string[][] = [];
    for (const prefix of ['a', 'b', 'c']) {
      const s = stream();
      s.call.write({ open: { target: null }, items: manyFiles(prefix, 40), flush: true });
      await poll('the batch acknowledged', () => s.acks.length === 1);
      tids.push(bulkThreads());
      s.call.end();
      expect((await s.status).code).toBe(grpc.status.OK);
    }
    expect(tids[0]).toHaveLength(1);
    expect(tids).toEqual([tids[0], tids[0], tids[0]]);
    expect(await readFile(join(root, 'c39'), 'utf8')).toBe('c 39');
  });

  it('stays on the main thread without such a manifest, and for a stream whose frames carry a few ops', async () => {
    const s = stream();
    s.call.write({ open: { target: null }, items: manyFiles('a', 40), flush: true });
    await poll('the batch acknowledged', () => s.acks.length === 1);
    expect(bulkThreads()).toEqual([]);
    s.call.end();
    expect((await s.status).code).toBe(grpc.status.OK);

    // A full sync to come on this target; a save's stream to it still has its one file applied on the main thread.
    await expectFullSync(2000);
    expect((await client().apply(opsOf({ op: 'write', path: 'save', mode: 0o644, mtimeMs: 1_000_000, size: 4, digest: contentDigest(hasher, 'save'), basis: 'whole', body: literal('save') }))).errors).toEqual([]);
    expect(bulkThreads()).toEqual([]);
    expect(await readFile(join(root, 'save'), 'utf8')).toBe('save');
  });

  it("applies another stream's save while its own batch waits in the middle of a file", async () => {
    await writeFile(join(root, 'big'), 'old content');
    await expectFullSync(2000);
    const s = stream();
    const size = 4 * 1024 * 1024;
    s.call.write({
      open: { target: null },
      items: [...manyFiles('a', 40), op({ op: 'write', path: 'big', size, digest: '0000000000000000', basis: 'whole' }), { item: 'literal', literal: { data: new Uint8Array(64 * 1024).fill(7), deflated: false, rawSize: 65536 } }],
      flush: false,
    });
    await poll('the bulk thread writing the large file', async () => bulkThreads().length === 1 && (await tempFiles(root)).length === 1);
    const res = await client().apply(opsOf({ op: 'write', path: 'save', mode: 0o644, mtimeMs: 1_000_000, size: 4, digest: contentDigest(hasher, 'save'), basis: 'whole', body: literal('save') }));
    expect(res).toMatchObject({ applied: 1, errors: [] });
    expect(await readFile(join(root, 'save'), 'utf8')).toBe('save');
    // The bulk batch is still open, in the middle of its file.
    expect(s.acks).toEqual([]);
    expect(bulkThreads()).toHaveLength(1);
    s.call.cancel();
    await s.status;
  });

  it('ends its thread when the call is cancelled, leaving the old file and no temp file', async () => {
    await writeFile(join(root, 'big'), 'old content');
    await expectFullSync(2000);
    const s = stream();
    s.call.write({
      open: { target: null },
      items: [...manyFiles('a', 40), op({ op: 'write', path: 'big', size: 8_000_000, digest: '0000000000000000', basis: 'whole' }), { item: 'literal', literal: { data: new Uint8Array(64 * 1024).fill(7), deflated: false, rawSize: 65536 } }],
      flush: false,
    });
    await poll('the bulk thread writing the large file', async () => bulkThreads().length === 1 && (await tempFiles(root)).length === 1);
    s.call.cancel();
    expect((await s.status).code).toBe(grpc.status.CANCELLED);
    await poll('the thread ended', () => bulkThreads().length === 0);
    await poll('the temp file removed', async () => (await tempFiles(base)).length === 0);
    expect(await readFile(join(root, 'big'), 'utf8')).toBe('old content');
  });

  it('refuses a batch when the token no longer grants the target, with PERMISSION_DENIED, writing none of it', async () => {
    await expectFullSync(2000);
    const s = stream();
    s.call.write({ open: { target: null }, items: manyFiles('a', 40), flush: true });
    await poll('the first batch acknowledged', () => s.acks.length === 1);
    resolver.revoked = true;
    s.call.write({ open: null, items: manyFiles('b', 40), flush: true });
    const status = await s.status;
    expect(status.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(status.details).toContain('no longer grants');
    expect((await readdir(root)).filter((n) => n.startsWith('b'))).toEqual([]);
    await poll('the thread ended', () => bulkThreads().length === 0);
  });

  it('fails the call with PROTOCOL (INVALID_ARGUMENT) for a frame out of order, as the main thread does', async () => {
    await expectFullSync(2000);
    const s = stream();
    s.call.write({ open: { target: null }, items: manyFiles('a', 40), flush: true });
    await poll('the first batch acknowledged', () => s.acks.length === 1);
    s.call.write({ open: null, items: [...manyFiles('b', 40), { item: 'literal', literal: { data: enc('stray'), deflated: false, rawSize: 5 } }], flush: true });
    const status = await s.status;
    expect(status.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(status.metadata.get('kx-error-code')).toEqual([ErrorCode.Protocol]);
  });
});

describe('refusals on the thread', () => {
  // The same batch through the main thread (no full sync expected) and through the thread: the same acks, and
  // nothing written outside the root.
  const refused = async (): Promise<M.ApplyItem[]> => {
    await writeFile(join(root, 'exists'), 'theirs');
    await symlink(outside, join(root, 'out'));
    return [
      ...manyFiles('a', 40),
      ...fileItems('../escape', 'x'),
      ...fileItems('out/f', 'x'),
      // The sender believed `exists` absent: the container made it since (CHANGED), and it is kept.
      ...fileItems('exists', 'mine', { absent: true, kind: '', size: 0, mtimeMs: 0 }),
      op({ op: 'symlink', path: 'out/l', linkTarget: '/etc' }),
      ...fileItems('z', 'last'),
    ];
  };
  const applyOnce = async (items: M.ApplyItem[]): Promise<M.ApplyAck[]> => {
    const s = stream();
    s.call.write({ open: { target: null }, items, flush: true });
    s.call.end();
    expect((await s.status).code).toBe(grpc.status.OK);
    return s.acks;
  };

  it('confinement and `expect` refusals come back as on the main thread, nothing written outside the root', async () => {
    const items = await refused();
    const onMain = await applyOnce(items);
    expect(bulkThreads()).toEqual([]);
    await rm(join(root, 'z'));
    for (let i = 0; i < 40; i++) await rm(join(root, `a${i}`));

    await expectFullSync(2000);
    const seen: number[] = [];
    const probe = setInterval(() => seen.push(bulkThreads().length), 5);
    const onThread = await applyOnce(items).finally(() => clearInterval(probe));
    // (A thread it starts, its placement thread, bears its name for a moment: more than one may be seen.)
    expect(Math.max(0, ...seen, bulkThreads().length)).toBeGreaterThanOrEqual(1);

    const codes = (acks: M.ApplyAck[]): Array<[string, string]> => acks.flatMap((a) => a.errors.map((e) => [e.path, e.code] as [string, string]));
    expect(codes(onThread)).toEqual(codes(onMain));
    expect(new Map(codes(onThread))).toEqual(new Map([['../escape', ErrorCode.InvalidPath], ['out/f', expect.any(String)], ['exists', ErrorCode.Changed], ['out/l', expect.any(String)]]));
    expect(onThread.map((a) => a.applied)).toEqual(onMain.map((a) => a.applied));
    expect(await readFile(join(root, 'exists'), 'utf8')).toBe('theirs');
    expect(await readFile(join(root, 'z'), 'utf8')).toBe('last');
    expect(await readdir(outside)).toEqual([]);
  });
});

function literal(text: string): AsyncIterable<DeltaOp> {
  return (async function* () {
    yield { kind: 'literal' as const, data: enc(text) };
  })();
}
