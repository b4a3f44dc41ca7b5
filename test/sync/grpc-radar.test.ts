// radar's gRPC service over a real socket on 127.0.0.1: authentication, protocol versions, the service's calls,
// and what a cut connection leaves behind.
import * as grpc from '@grpc/grpc-js';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createHasher } from '../../pkg/sync/hash.ts';
import type { Hasher } from '../../pkg/sync/hash.ts';
import { signatureOf } from '../../pkg/sync/signature.ts';
import type { BatchOp, DeltaOp, Manifest } from '../../pkg/sync/types.ts';
import { PLACE_THREAD_NAME } from '../../pkg/receiver/place-pool.ts';
import { RadarClient } from '../../pkg/transport/client.ts';
import { loadRadarProto } from '../../proto/load.ts';
import type * as M from '../../proto/messages.ts';
import { METADATA_AUTHORIZATION, METADATA_PROTOCOL_VERSION, PROTOCOL_VERSION } from '../../proto/version.ts';
import { RadarServer } from '../../radar/grpc/server.ts';
import type { Reloader, RootResolver, TargetRef } from '../../pkg/runtime/ports.ts';
import { ErrorCode, KxError } from '../../pkg/sync/errors.ts';
import { StaticRootResolver } from '../../radar/grpc/static-resolver.ts';
import { poll } from '../support/poll.ts';
import { enc, contentDigest, opsOf as ops } from '../support/batch-ops.ts';

const TOKEN = 'test-token-0123456789';
let hasher: Hasher;
let root: string;
let server: RadarServer;
let address: string;
const clients: RadarClient[] = [];

beforeAll(async () => {
  hasher = await createHasher();
});
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'kx-grpc-'));
  server = new RadarServer({ listen: '127.0.0.1:0', resolver: new StaticRootResolver(root, TOKEN), hasher, closeGraceMs: 500 });
  address = (await server.start()).address;
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await server.close();
  await rm(root, { recursive: true, force: true });
});

/** null: no token at all. */
function client(token: string | null = TOKEN): RadarClient {
  const c = new RadarClient({ address, target: { containerId: '' }, ...(token === null ? {} : { token }) });
  clients.push(c);
  return c;
}
const digestOf = (data: Uint8Array): string => contentDigest(hasher, data);
function write(path: string, text: string): BatchOp {
  const data = enc(text);
  return { op: 'write', path, mode: 0o644, mtimeMs: 1_000_000, size: data.length, digest: digestOf(data), basis: 'whole', body: (async function* (): AsyncIterable<DeltaOp> { yield { kind: 'literal', data }; })() };
}
const tempFiles = async (): Promise<string[]> => (await readdir(root, { recursive: true })).filter((n) => n.split('/').pop()!.startsWith('.kx-tmp-'));
async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  await poll(what, check, 10_000, 20);
}

/** A raw stub, to send what RadarClient never would. */
function rawStub(): grpc.Client & Record<string, (...args: unknown[]) => unknown> {
  const { Client } = loadRadarProto();
  const stub = new Client(address, grpc.credentials.createInsecure()) as unknown as grpc.Client & Record<string, (...args: unknown[]) => unknown>;
  return stub;
}
function md(token = TOKEN, version = PROTOCOL_VERSION): grpc.Metadata {
  const m = new grpc.Metadata();
  m.set(METADATA_AUTHORIZATION, `Bearer ${token}`);
  m.set(METADATA_PROTOCOL_VERSION, String(version));
  return m;
}

describe('authentication', () => {
  it('accepts the shared token', async () => {
    const info = await client().handshake();
    expect(info.protocolVersion).toBe(PROTOCOL_VERSION);
    expect(info.capabilities).toContain('zlib');
  });

  it('refuses a wrong token with UNAUTHENTICATED and writes nothing', async () => {
    const c = client('wrong-token');
    await expect(c.handshake()).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    await expect(c.apply(ops({ op: 'mkdir', path: 'd', mode: 0o755 }, write('f', 'x')))).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    expect(await readdir(root)).toEqual([]);
  });

  it('refuses a missing token with UNAUTHENTICATED and writes nothing', async () => {
    const c = client(null);
    await expect(c.manifest([])).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    expect(await readdir(root)).toEqual([]);
  });

  it('refuses a wrong token on an Apply stream opened without a handshake, writing nothing', async () => {
    const stub = rawStub();
    const call = (stub.Apply as (m: grpc.Metadata) => grpc.ClientDuplexStream<M.ApplyFrame, M.ApplyAck>)(md('nope'));
    const status = once(call, 'error');
    call.on('data', () => undefined);
    call.write({ open: { target: { containerId: '', runtime: '', remotePath: '' } }, items: [{ item: 'op', op: { op: 'mkdir', path: 'd', from: '', mode: 0o755, size: 0, digest: '', basis: '', blockSize: 0, linkTarget: '' } }], flush: true });
    call.end();
    const [err] = (await status) as [grpc.ServiceError];
    expect(err.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(await readdir(root)).toEqual([]);
    stub.close();
  });
});

describe('protocol versions', () => {
  it('refuses a Handshake of another version with FAILED_PRECONDITION naming both versions', async () => {
    const stub = rawStub();
    const err = await new Promise<grpc.ServiceError>((res) => {
      (stub.Handshake as (r: M.HandshakeRequest, m: grpc.Metadata, cb: (e: grpc.ServiceError) => void) => void)(
        { protocolVersion: PROTOCOL_VERSION + 1, capabilities: [], client: 'future-kx', target: null }, md(TOKEN, PROTOCOL_VERSION + 1), res);
    });
    expect(err.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(err.details).toContain(`kx speaks ${PROTOCOL_VERSION + 1}, radar speaks ${PROTOCOL_VERSION}`);
    stub.close();
  });

  it('refuses any call whose version header differs, before touching the tree', async () => {
    const stub = rawStub();
    const call = (stub.GetManifest as (r: M.ManifestRequest, m: grpc.Metadata) => grpc.ClientReadableStream<M.ManifestChunk>)({ target: null, rules: [] }, md(TOKEN, 0));
    call.on('data', () => undefined);
    const [err] = (await once(call, 'error')) as [grpc.ServiceError];
    expect(err.code).toBe(grpc.status.FAILED_PRECONDITION);
    stub.close();
  });
});

describe('service calls', () => {
  it('returns the manifest and signatures of the root', async () => {
    const big = new Uint8Array(100_000).map((_, i) => (i * 31) & 0xff);
    await writeFile(join(root, 'big'), big);
    const c = client();
    const m = await c.manifest([]);
    expect(m.get('big')).toMatchObject({ kind: 'file', size: big.length, digest: digestOf(big) });
    const sigs = [];
    for await (const s of c.signatures(['big', 'missing'])) sigs.push(s);
    expect(sigs).toEqual([{ path: 'big', signature: await signatureOf(join(root, 'big'), hasher) }, { path: 'missing', signature: null }]);
  });

  it("starts the placement thread at a full sync's manifest request when the sender's files it lacks are more than it places without the thread", async () => {
    const placeThreads = (): string[] => readdirSync('/proc/self/task').filter((tid) => readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim() === PLACE_THREAD_NAME);
    await writeFile(join(root, 'same'), 'same');
    const st = await stat(join(root, 'same'));
    const known = (n: number): Manifest => new Map([
      ['same', { path: 'same', kind: 'file', mode: 0o644, size: st.size, mtimeMs: Math.floor(st.mtimeMs) }],
      ...Array.from({ length: n }, (_, i) => [`new${i}`, { path: `new${i}`, kind: 'file', mode: 0o644, size: 10, mtimeMs: 1_000_000 }] as const),
    ]);
    expect(placeThreads()).toEqual([]);
    await client().manifest([], undefined, known(100)); // few files to come: placed without the thread
    expect(placeThreads()).toEqual([]);
    await client().manifest([], undefined, known(5000));
    await eventually(() => Promise.resolve(placeThreads().length === 1), 'the placement thread');
  });

  it('applies a batch and acknowledges it with per-path errors', async () => {
    const res = await client().apply(ops(write('ok', 'hello'), write('../escape', 'x'), { op: 'symlink', path: 'l', target: 'ok' }));
    expect(res.applied).toBe(2);
    expect(res.errors).toEqual([expect.objectContaining({ path: '../escape', code: 'INVALID_PATH' })]);
    expect(await readFile(join(root, 'ok'), 'utf8')).toBe('hello');
  });

  it('compresses literals that compress, and counts the bytes that crossed', async () => {
    const text = 'the same line again\n'.repeat(5000);
    const res = await client().apply(ops(write('t', text)));
    expect(res.errors).toEqual([]);
    expect(res.bytesSent).toBeLessThan(text.length / 10);
    expect(await readFile(join(root, 't'), 'utf8')).toBe(text);
  });

  it('describes the default root', async () => {
    expect(await client().describe()).toMatchObject({ path: root, onVolume: undefined });
  });

  it('reloads with mode none, and refuses restart without a reloader', async () => {
    const c = client();
    expect(await c.reload('none')).toMatchObject({ action: 'none', filesKept: true });
    await expect(c.reload('restart')).rejects.toMatchObject({ code: 'INVALID_CONFIG' });
  });

  it('runs over a channel handed in by its owner, leaving it open on close', async () => {
    const channel = new grpc.Channel(address, grpc.credentials.createInsecure(), {});
    try {
      const c = new RadarClient({ channel, token: TOKEN, target: { containerId: '' } });
      expect((await c.handshake()).server).toBe('radar');
      await c.close();
      expect(channel.getConnectivityState(false)).not.toBe(grpc.connectivityState.SHUTDOWN);
    } finally {
      channel.close();
    }
  });

  it('hands an authorized reload to the Reloader with its target and mode, and returns its outcome', async () => {
    const calls: [TargetRef, string][] = [];
    const reloader: Reloader = {
      reload: async (target, mode) => {
        calls.push([target, mode]);
        return { action: 'restarted', filesKept: false, newContainerId: 'containerd://new', message: 'replaced by the kubelet' };
      },
    };
    const resolver: RootResolver = {
      authenticate: async (token) => {
        if (token !== TOKEN) throw new KxError(ErrorCode.Unauthenticated, 'no');
      },
      resolve: async (_t, token) => {
      if (token !== TOKEN) throw new KxError(ErrorCode.Unauthenticated, 'no');
      return { path: root, containerPath: '/app', onVolume: true, namespace: 'dev', containerName: 'web', runtime: 'containerd', owner: { uid: 1, gid: 2 } };
    } };
    const s2 = new RadarServer({ listen: '127.0.0.1:0', resolver, reloader, hasher, closeGraceMs: 500 });
    try {
      const target = { containerId: 'containerd://abc', runtime: 'containerd', remotePath: '/app' };
      const c = new RadarClient({ address: (await s2.start()).address, token: TOKEN, target });
      clients.push(c);
      expect(await c.reload('signal:HUP')).toEqual({ action: 'restarted', filesKept: false, newContainerId: 'containerd://new', message: 'replaced by the kubelet' });
      expect(calls).toEqual([[target, 'signal:HUP']]);
      expect(await c.describe()).toEqual({ path: '/app', onVolume: true, owner: { uid: 1, gid: 2 }, runtime: 'containerd', containerName: 'web', namespace: 'dev' });
      const intruder = new RadarClient({ address: (await s2.start()).address, token: 'other', target });
      clients.push(intruder);
      await expect(intruder.reload('restart')).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
      expect(calls).toHaveLength(1);
    } finally {
      await s2.close();
    }
  });

  it('refuses a container target on a directory radar with NOT_FOUND', async () => {
    const c = new RadarClient({ address, token: TOKEN, target: { containerId: 'docker://abc' } });
    clients.push(c);
    await expect(c.handshake()).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});

describe('the Apply stream', () => {
  it('acknowledges each flushed batch of one stream separately', async () => {
    const stub = rawStub();
    const call = (stub.Apply as (m: grpc.Metadata) => grpc.ClientDuplexStream<M.ApplyFrame, M.ApplyAck>)(md());
    const acks: M.ApplyAck[] = [];
    call.on('data', (a: M.ApplyAck) => acks.push(a));
    const mkdir = (path: string): M.ApplyItem => ({ item: 'op', op: { op: 'mkdir', path, from: '', mode: 0o755, size: 0, digest: '', basis: '', blockSize: 0, linkTarget: '' } });
    call.write({ open: { target: null }, items: [mkdir('a'), mkdir('b')], flush: true });
    call.write({ open: null, items: [mkdir('../c')], flush: true });
    call.end();
    await once(call, 'status');
    expect(acks.map((a) => [a.applied, a.errors.map((e) => e.code)])).toEqual([[2, []], [0, ['INVALID_PATH']]]);
    stub.close();
  });

  it('skips the content of a refused write and applies the ops after it', async () => {
    // Large enough to be streamed: the refusal comes before radar reads any of its content.
    const res = await client().apply(ops(write('no/such/dir/f', 'x'.repeat(2 * 1024 * 1024)), write('after', 'fine')));
    expect(res.errors).toEqual([expect.objectContaining({ path: 'no/such/dir/f' })]);
    expect(await readFile(join(root, 'after'), 'utf8')).toBe('fine');
  });
});

describe('a connection cut mid-file', () => {
  // A large file: small ones are received into memory first and never reach the disk half-done.
  it('leaves the old file intact and no temporary file', async () => {
    await writeFile(join(root, 'f'), 'old content');
    const stub = rawStub();
    const call = (stub.Apply as (m: grpc.Metadata) => grpc.ClientDuplexStream<M.ApplyFrame, M.ApplyAck>)(md());
    call.on('data', () => undefined);
    call.on('error', () => undefined);
    call.write({
      open: { target: null },
      items: [
        { item: 'op', op: { op: 'write', path: 'f', from: '', mode: 0o644, mtimeMs: 1, size: 8_000_000, digest: '0000000000000000', basis: 'whole', blockSize: 0, linkTarget: '' } },
        { item: 'literal', literal: { data: new Uint8Array(64 * 1024).fill(7), deflated: false, rawSize: 65536 } },
      ],
      flush: false,
    });
    await eventually(async () => (await tempFiles()).length === 1, 'radar started writing the temp file');
    call.cancel();
    stub.close();
    await eventually(async () => (await tempFiles()).length === 0, 'the temp file is removed');
    expect(await readFile(join(root, 'f'), 'utf8')).toBe('old content');
  });

  it('surfaces a connection lost mid-stream as a KxError UNAVAILABLE, never a raw gRPC status', async () => {
    const c = client();
    await c.start();
    const stopping = (async function* (): AsyncIterable<BatchOp> {
      yield write('a', 'one');
      await server.close(); // the server goes away while the stream is open
      yield write('b', 'two');
    })();
    const err = await c.apply(stopping).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KxError);
    expect((err as KxError).code).toBe(ErrorCode.Unavailable);
  });

  it('cleans stale temp files when radar starts serving a root', async () => {
    await writeFile(join(root, '.kx-tmp-stale'), 'x');
    await client().manifest([]);
    expect(await tempFiles()).toEqual([]);
  });
});

describe('radar/main.ts', () => {
  it('serves a root with a token file and exits cleanly on SIGTERM', async () => {
    const tokenFile = join(root, '..', `kx-token-${process.pid}-${Date.now()}`);
    await writeFile(tokenFile, `${TOKEN}\n`);
    const dir = await mkdtemp(join(tmpdir(), 'kx-radar-main-'));
    const child = spawn(process.execPath, [resolve('radar/main.ts'), '--root', dir, '--listen', '127.0.0.1:0', '--token-file', tokenFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const [line] = (await once(child.stdout, 'data')) as [Buffer];
      const m = /radar listening on (\S+)/.exec(line.toString());
      expect(m).not.toBeNull();
      const c = new RadarClient({ address: m![1], token: TOKEN, target: { containerId: '' } });
      clients.push(c);
      await c.apply(ops(write('hello', 'world')));
      expect(await readFile(join(dir, 'hello'), 'utf8')).toBe('world');
      child.kill('SIGTERM');
      const [code] = (await once(child, 'exit')) as [number];
      expect(code).toBe(0);
    } finally {
      child.kill('SIGKILL');
      await rm(tokenFile, { force: true });
      await rm(dir, { recursive: true, force: true });
    }
  });
});
