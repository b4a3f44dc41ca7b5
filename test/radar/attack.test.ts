// radar under attack, as a real process with a V8 heap limit, in --root mode: what an unauthenticated peer and an
// authorized client can send it, and that it stays up, within the chart's 512 MiB, and serving other clients.
// (Node mode on the Docker engine: attack-node.test.ts.)
import * as grpc from '@grpc/grpc-js';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHasher, type Hasher } from '../../pkg/sync/hash.ts';
import { syncTree } from '../../pkg/sync/push.ts';
import { RadarClient } from '../../pkg/transport/client.ts';
import { REFUSED_TOKEN_MESSAGE } from '../../radar/auth/authorize.ts';
import { ApplyStream, opMsg, rawStub, writeItems, type RawStub } from './helpers/apply-stream.ts';
import { RawPeer, grpcPrefix, startRadar, type RadarProcess } from './helpers/radar-process.ts';
import * as hostile from './helpers/hostile-messages.ts';

const TOKEN = 'attack-test-token-0123456789';
/** The memory limit the chart gives radar. */
const RSS_LIMIT = 512 * 1024 * 1024;
let hasher: Hasher;
let work: string;
let served: string;
let radar: RadarProcess;
let stub: RawStub;

beforeAll(async () => {
  hasher = await createHasher();
  work = await mkdtemp(join(tmpdir(), 'kx-test-attack-'));
  served = join(work, 'served');
  await mkdir(served);
  radar = await startRadar(['--root', served, '--listen', '127.0.0.1:0'], { env: { KX_TOKEN: TOKEN } });
  stub = rawStub(radar.address);
}, 30_000);

afterAll(async () => {
  stub?.close();
  await radar?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

/** Waits until radar's peak RSS has not grown for a second (bounded: 20 s). */
async function settledPeak(r: RadarProcess): Promise<void> {
  let last = -1;
  for (let i = 0; i < 100 && r.peakRss() !== last; i++) {
    last = r.peakRss();
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

/** radar is up, within its limit, and an honest client still syncs a tree through it. */
async function stillServes(tag: string): Promise<void> {
  expect(radar.alive()).toBe(true);
  expect(radar.peakRss()).toBeLessThan(RSS_LIMIT);
  const src = join(work, `src-${tag}`);
  await mkdir(src, { recursive: true });
  await writeFile(join(src, 'honest.txt'), `still syncing after ${tag}\n`);
  const c = new RadarClient({ address: radar.address, token: TOKEN, target: { containerId: '', remotePath: '' } });
  try {
    const res = await syncTree({ root: src, receiver: c, hasher, rules: [] });
    expect(res.errors).toEqual([]);
  } finally {
    await c.close();
  }
}

/**
 * What a refused peer that keeps sending sees: UNAUTHENTICATED, or — when it went on pushing data into the stream
 * radar had already answered — its stream reset (NGHTTP2_ENHANCE_YOUR_CALM) before it read the answer. Never OK.
 */
const REFUSED = [grpc.status.UNAUTHENTICATED, null];

describe('an unauthenticated peer', () => {
  it('is refused a 16 MiB GetManifest of 8M empty entries before radar decodes it', async () => {
    const peer = new RawPeer(radar.address);
    try {
      const msg = hostile.manifestOfEmptyEntries(8 * 1024 * 1024 - 8);
      const answers = await Promise.all([peer.call('GetManifest', msg), peer.call('GetManifest', msg, { token: 'made-up' })]);
      for (const a of answers) expect(REFUSED).toContain(a.status);
    } finally {
      peer.close();
    }
    await stillServes('empty-entries');
  });

  it('is refused a first ApplyFrame of 8M empty items', async () => {
    const peer = new RawPeer(radar.address);
    try {
      expect(REFUSED).toContain((await peer.call('Apply', hostile.applyFrameOfEmptyItems(8 * 1024 * 1024 - 64), { token: 'made-up', end: false })).status);
    } finally {
      peer.close();
    }
    await stillServes('empty-items');
  });

  it('cannot make radar buffer dozens of unfinished 16 MiB messages', async () => {
    const peers = Array.from({ length: 4 }, () => new RawPeer(radar.address));
    try {
      const part = Buffer.concat([grpcPrefix(16 * 1024 * 1024 - 1), Buffer.alloc(12 * 1024 * 1024)]); // one buffer, sent on every stream
      const calls = peers.flatMap((p) => Array.from({ length: 32 }, () => p.call('GetManifest', part, { end: false })));
      const answers = await Promise.all(calls);
      for (const a of answers) expect(REFUSED).toContain(a.status);
    } finally {
      for (const p of peers) p.close();
    }
    await stillServes('unfinished-messages');
  });

  it('learns nothing from the answer: a missing token, a wrong one and a made-up kx token read the same', async () => {
    const peer = new RawPeer(radar.address);
    try {
      const msg = hostile.handshake();
      const answers = await Promise.all([undefined, 'wrong', 'kx1.team-a.AAAAAAAAAAAAAAAAAAAAAAAA'].map((token) => peer.call('Handshake', msg, token === undefined ? {} : { token })));
      for (const a of answers) expect(a).toEqual({ status: grpc.status.UNAUTHENTICATED, message: REFUSED_TOKEN_MESSAGE });
    } finally {
      peer.close();
    }
  });
});

describe('an authorized client', () => {
  it('gets RESOURCE_EXHAUSTED for a GetManifest of 8M empty entries, counted without decoding them', async () => {
    const peer = new RawPeer(radar.address);
    try {
      const a = await peer.call('GetManifest', hostile.manifestOfEmptyEntries(8 * 1024 * 1024 - 8), { token: TOKEN });
      expect(a.status).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(a.message).toMatch(/GetManifest: more than \d+ known in one request/);
    } finally {
      peer.close();
    }
    await stillServes('authorized-empty-entries');
  });

  it("cannot make radar buffer dozens of unfinished messages either: each method's cap applies at the prefix", async () => {
    const peers = Array.from({ length: 2 }, () => new RawPeer(radar.address));
    const methods = ['GetManifest', 'GetSignatures', 'GetDigests', 'Apply'];
    const caps: Record<string, number> = { GetManifest: 16 << 20, GetSignatures: 8 << 20, GetDigests: 8 << 20, Apply: 4 << 20 };
    // Each announces its method's cap (the biggest message radar reads) and sends three quarters of it.
    const bodies = new Map(methods.map((m) => [m, Buffer.concat([grpcPrefix(caps[m]), Buffer.alloc((caps[m] * 3) / 4)])]));
    const calls = peers.flatMap((p) => Array.from({ length: 32 }, (_, i) => p.call(methods[i % 4], bodies.get(methods[i % 4])!, { token: TOKEN, end: false })));
    try {
      // Give radar every byte it will take: it has read what its slots allow once its peak stops growing.
      await settledPeak(radar);
      expect(radar.alive()).toBe(true);
      expect(radar.peakRss()).toBeLessThan(RSS_LIMIT);
    } finally {
      for (const p of peers) p.close();
      await Promise.all(calls);
    }
    // The one token's slots are free again once the hostile calls are gone.
    await stillServes('authorized-unfinished');
  });

  it('refuses a message announcing more than its method takes at its 5-byte prefix', async () => {
    const peer = new RawPeer(radar.address);
    try {
      const apply = await peer.call('Apply', Buffer.concat([grpcPrefix(5 << 20), Buffer.alloc(1 << 20)]), { token: TOKEN, end: false });
      expect(apply.status).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(apply.message).toContain(String(4 << 20));
      const handshake = await peer.call('Handshake', Buffer.concat([grpcPrefix(1 << 20), Buffer.alloc(256 << 10)]), { token: TOKEN, end: false });
      expect(handshake.status).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(handshake.message).toContain(String(64 << 10));
    } finally {
      peer.close();
    }
  });

  it('refuses a path deeper than radar walks, per path, with LIMIT', async () => {
    const deep = Array.from({ length: 200 }, (_, i) => `d${i}`).join('/');
    const s = new ApplyStream(stub, TOKEN, { containerId: '', runtime: '', remotePath: '' });
    const ack = await s.batch([{ item: 'op', op: opMsg({ op: 'mkdir', path: deep, mode: 0o755 }) }, ...writeItems(hasher, 'shallow.txt', 'ok')]);
    s.end();
    expect(ack.applied).toBe(1);
    expect(ack.errors).toEqual([{ path: deep, code: 'LIMIT', message: expect.stringMatching(/200 components, more than the 128 radar accepts/) }]);
  });

  it('fails a batch of nothing but refusals once it holds 1000 errors, not at the end of the batch', async () => {
    const s = new ApplyStream(stub, TOKEN, { containerId: '', runtime: '', remotePath: '' });
    const items = Array.from({ length: 5000 }, (_, i) => ({ item: 'op' as const, op: opMsg({ op: 'meta', path: `missing-${i}`, mode: 0o644 }) }));
    const err = (await s.batch(items).catch((e: unknown) => e)) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(err.details).toMatch(/1000 paths failed \(the first: missing-0: /);
  });

  it('cannot make radar write more than a delta declares: 300 copies of a 1 MiB block are refused at once', async () => {
    await writeFile(join(served, 'basis'), Buffer.alloc(128 * 1024, 7));
    const s = new ApplyStream(stub, TOKEN, { containerId: '', runtime: '', remotePath: '' });
    const bigBlock = await s.batch([
      { item: 'op', op: opMsg({ op: 'write', path: 'basis', size: 4 * 1024 * 1024, digest: '0123456789abcdef', basis: 'delta', blockSize: 1024 * 1024, mtimeMs: 1_000_000 }) },
      ...Array.from({ length: 300 }, () => ({ item: 'copy' as const, copy: { index: 0, count: 1 } })),
      { item: 'end', end: { abort: false, reason: '', code: '', digest: '' } },
    ]);
    expect(bigBlock.errors).toEqual([expect.objectContaining({ path: 'basis', code: 'DIGEST_MISMATCH', message: expect.stringMatching(/block size 1048576/) })]);
    const many = await s.batch([
      { item: 'op', op: opMsg({ op: 'write', path: 'basis', size: 2 * 1024 * 1024, digest: '0123456789abcdef', basis: 'delta', blockSize: 128 * 1024, mtimeMs: 1_000_000 }) },
      ...Array.from({ length: 3000 }, () => ({ item: 'copy' as const, copy: { index: 0, count: 1 } })),
      { item: 'end', end: { abort: false, reason: '', code: '', digest: '' } },
    ]);
    s.end();
    expect(many.errors).toEqual([expect.objectContaining({ path: 'basis', code: 'DIGEST_MISMATCH', message: expect.stringMatching(/longer than the announced 2097152 bytes/) })]);
    const temps = (await readdir(served)).filter((n) => n.startsWith('.kx-tmp-'));
    expect(temps).toEqual([]);
    expect((await stat(join(served, 'basis'))).size).toBe(128 * 1024);
  });

  it('strips set-id and sticky bits unless the target asks to keep them', async () => {
    const s = new ApplyStream(stub, TOKEN, { containerId: '', runtime: '', remotePath: '' });
    await s.batch([...writeItems(hasher, 'suid', '#!/bin/sh\n', 0o4755), { item: 'op', op: opMsg({ op: 'mkdir', path: 'sticky', mode: 0o1777 }) }]);
    s.end();
    expect((await stat(join(served, 'suid'))).mode & 0o7777).toBe(0o755);
    expect((await stat(join(served, 'sticky'))).mode & 0o7777).toBe(0o777);
    const keep = new ApplyStream(stub, TOKEN, { containerId: '', runtime: '', remotePath: '', keepSetIdBits: true });
    await keep.batch(writeItems(hasher, 'suid-kept', '#!/bin/sh\n', 0o4755));
    keep.end();
    expect((await stat(join(served, 'suid-kept'))).mode & 0o7777).toBe(0o4755);
  });
});
