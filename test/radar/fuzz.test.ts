// Structure-aware fuzzing of every RPC against a memory-limited radar process (--root mode), as an authorized
// client: valid messages of each kind, mutated field by field (hostile paths, sizes, block indexes, modes, kinds)
// and byte by byte (flips, truncations, inserted varints), framed by hand so malformed bytes reach the decoder.
// radar must answer each call with some status, stay up, stay under the chart's 512 MiB, write nothing outside
// its root, and still sync for an honest client afterwards. Seeded: a failure names its seed to replay.
// CI runs it for KX_FUZZ_MS (default 3 s); the benchmark script runs it longer.
import protobuf from 'protobufjs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHasher, type Hasher } from '../../pkg/sync/hash.ts';
import { syncTree } from '../../pkg/sync/push.ts';
import { RadarClient } from '../../pkg/transport/client.ts';
import { PROTO_FILE } from '../../proto/load.ts';
import { RawPeer, grpcPrefix, startRadar, type RadarProcess } from './helpers/radar-process.ts';
import { rng as seeded } from '../sync/helpers/trees.ts';

const TOKEN = 'fuzz-test-token-0123456789';
const RSS_LIMIT = 512 * 1024 * 1024;
const DURATION_MS = Number(process.env.KX_FUZZ_MS ?? 3000);
const SEED = Number(process.env.KX_FUZZ_SEED ?? Date.now() % 1_000_000);

let hasher: Hasher;
let work: string;
let served: string;
let outside: string;
let radar: RadarProcess;
let root: protobuf.Root;

beforeAll(async () => {
  hasher = await createHasher();
  work = await mkdtemp(join(tmpdir(), 'kx-test-fuzz-'));
  served = join(work, 'served');
  outside = join(work, 'outside');
  await mkdir(join(served, 'dir'), { recursive: true });
  await mkdir(outside);
  await writeFile(join(served, 'dir', 'file.txt'), 'basis content '.repeat(1000));
  radar = await startRadar(['--root', served, '--listen', '127.0.0.1:0'], { env: { KX_TOKEN: TOKEN } });
  root = new protobuf.Root().loadSync(PROTO_FILE, { keepCase: false });
  root.resolveAll();
}, 30_000);

afterAll(async () => {
  await radar?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

/** The suite's seeded PRNG (mulberry32: the same seed, the same run), with int(n) meaning 0 ≤ i < n. */
function rng(seed: number): { int(n: number): number; pick<T>(xs: readonly T[]): T; chance(p: number): boolean } {
  const r = seeded(seed);
  return { int: (n) => r.int(0, n - 1), pick: (xs) => r.pick(xs), chance: (p) => r.chance(p) };
}
type Rng = ReturnType<typeof rng>;

const PATHS = ['f', 'dir/file.txt', '../escape', '/abs', '', 'a\0b', 'dir/../../x', 'x/'.repeat(300) + 'y', 'é/ü', '.', 'dir', 'dir/new/deeper/f', 'a'.repeat(300), '.kx-tmp-x'];
const STRINGS = ['', 'x', 'write', 'delta', 'whole', 'mkdir', 'remove', 'symlink', 'move', 'copy', 'meta', 'file', 'dir', 'restart', 'signal:HUP', 'signal:KILL', '0123456789abcdef', 'z'.repeat(5000)];
const NUMBERS = [0, 1, -1, 7, 0o4755, 0o7777, 0xffffffff, 2 ** 31, 2 ** 53 - 1, 128 * 1024, 1024 * 1024, 64 * 1024 * 1024];

function target(r: Rng): Record<string, unknown> {
  return { containerId: r.chance(0.8) ? '' : r.pick(['docker://abc', 'containerd://' + 'f'.repeat(64), 'x']), runtime: '', remotePath: r.chance(0.8) ? '' : r.pick(['/', '/app', 'rel', '/' + 'd/'.repeat(100)]) };
}

function op(r: Rng): Record<string, unknown> {
  return {
    op: r.pick(['write', 'mkdir', 'remove', 'symlink', 'move', 'copy', 'meta', 'bogus']),
    path: r.pick(PATHS),
    from: r.pick(PATHS),
    mode: r.pick(NUMBERS),
    mtimeMs: r.pick(NUMBERS),
    size: r.pick(NUMBERS),
    digest: r.pick(['', '0123456789abcdef', 'nothex']),
    basis: r.pick(['whole', 'delta', '']),
    blockSize: r.pick(NUMBERS),
    linkTarget: r.pick(['f', '/etc/passwd', '../..', '']),
  };
}

function applyItems(r: Rng): Record<string, unknown>[] {
  return Array.from({ length: 1 + r.int(12) }, () => {
    switch (r.int(4)) {
      case 0:
        return { op: op(r) };
      case 1:
        return { copy: { index: r.pick(NUMBERS), count: r.pick(NUMBERS) } };
      case 2: {
        const data = Buffer.alloc(r.pick([0, 1, 100, 70_000]), r.int(256));
        return { literal: { data, deflated: r.chance(0.3), rawSize: r.pick(NUMBERS) } };
      }
      default:
        return { end: { abort: r.chance(0.2), reason: 'r', code: r.pick(['IO', 'NOPE', '']), digest: r.pick(['', '0123456789abcdef']) } };
    }
  });
}

/** A valid-shaped request of `method`, its fields drawn from hostile values. */
function request(method: string, r: Rng): { type: string; values: Record<string, unknown>[] } {
  switch (method) {
    case 'Handshake':
      return { type: 'HandshakeRequest', values: [{ protocolVersion: r.pick([1, 1, 0, 2, 0xffffffff]), capabilities: ['zlib'], client: r.pick(STRINGS), target: target(r) }] };
    case 'GetManifest':
      return { type: 'ManifestRequest', values: [{ target: target(r), rules: [{ base: r.pick(PATHS), patterns: [r.pick(['*', '!x', '**/', '[', '\\'])] }], known: Array.from({ length: r.int(50) }, () => ({ path: r.pick(PATHS), kind: r.pick(STRINGS), mode: r.pick(NUMBERS), size: r.pick(NUMBERS), mtimeMs: r.pick(NUMBERS), digest: r.pick(STRINGS), linkTarget: '' })) }] };
    case 'GetSignatures':
      return { type: 'SignaturesRequest', values: [{ target: target(r), paths: Array.from({ length: r.int(20) }, () => r.pick(PATHS)) }] };
    case 'GetDigests':
      return { type: 'DigestsRequest', values: [{ target: target(r), paths: Array.from({ length: r.int(20) }, () => r.pick(PATHS)) }] };
    case 'Describe':
      return { type: 'DescribeRequest', values: [{ target: target(r) }] };
    case 'Reload':
      return { type: 'ReloadRequest', values: [{ target: target(r), mode: r.pick(STRINGS) }] };
    default:
      return {
        type: 'ApplyFrame',
        values: Array.from({ length: 1 + r.int(4) }, (_, i) => ({ ...(i === 0 && r.chance(0.9) ? { open: { target: target(r) } } : {}), items: applyItems(r), flush: r.chance(0.5) })),
      };
  }
}

/** Byte-level damage to an encoded message. */
function damage(bytes: Uint8Array, r: Rng): Buffer {
  const b = Buffer.from(bytes);
  switch (r.int(4)) {
    case 0:
      for (let i = 0; i < 1 + r.int(4) && b.length > 0; i++) b[r.int(b.length)] = r.int(256);
      return b;
    case 1:
      return b.subarray(0, r.int(b.length + 1));
    case 2: {
      const at = r.int(b.length + 1);
      return Buffer.concat([b.subarray(0, at), Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]), b.subarray(at)]);
    }
    default:
      return b;
  }
}

describe('fuzzing every RPC', () => {
  it(`keeps radar up, bounded and confined (seed ${SEED}, ${DURATION_MS} ms)`, async () => {
    const r = rng(SEED);
    const methods = ['Handshake', 'GetManifest', 'GetSignatures', 'GetDigests', 'Apply', 'Describe', 'Reload'];
    const peer = new RawPeer(radar.address);
    const end = Date.now() + DURATION_MS;
    let calls = 0;
    try {
      while (Date.now() < end) {
        const method = methods[calls % methods.length];
        const { type, values } = request(method, r);
        const t = root.lookupType(`kx.v1.${type}`);
        const frames = values.map((v) => {
          let bytes: Uint8Array;
          try {
            bytes = t.encode(t.fromObject(v)).finish();
          } catch {
            bytes = new Uint8Array(0);
          }
          const body = r.chance(0.3) ? damage(bytes, r) : Buffer.from(bytes);
          return Buffer.concat([grpcPrefix(body.byteLength), body]);
        });
        const answer = await peer.call(method, Buffer.concat(frames), { token: TOKEN });
        // Every call ends with a status, OK or a refusal; a stream reset without one would be radar failing.
        expect(answer.status, `seed ${SEED}, call ${calls} (${method})`).not.toBeNull();
        calls++;
      }
    } finally {
      peer.close();
    }
    expect(calls).toBeGreaterThan(0);
    expect(radar.alive()).toBe(true);
    expect(radar.peakRss()).toBeLessThan(RSS_LIMIT);
    expect(await readdir(outside)).toEqual([]);

    const src = join(work, 'honest');
    await mkdir(src, { recursive: true });
    await writeFile(join(src, 'after-fuzz.txt'), `seed ${SEED}\n`);
    const c = new RadarClient({ address: radar.address, token: TOKEN, target: { containerId: '' } });
    try {
      expect((await syncTree({ root: src, receiver: c, hasher, rules: [] })).errors).toEqual([]);
    } finally {
      await c.close();
    }
  }, DURATION_MS + 60_000);
});
