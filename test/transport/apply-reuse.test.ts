// RadarClient against radar's real gRPC service on 127.0.0.1: the batches of one client go on one Apply call that
// stays open between them (radar announces apply-reuse), and an open call that waits for its next batch holds none
// of the caller's batch slots, so many folders sharing one token each keep one open.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createHasher, type Hasher } from '../../pkg/sync/hash.ts';
import type { BatchOp, DeltaOp } from '../../pkg/sync/types.ts';
import type { Reloader, ResolvedRoot, RootResolver, TargetRef } from '../../pkg/runtime/ports.ts';
import { RadarClient } from '../../pkg/transport/client.ts';
import { Capability } from '../../proto/version.ts';
import { LIMITS } from '../../radar/grpc/limits.ts';
import { RadarServer } from '../../radar/grpc/server.ts';
import { StaticRootResolver } from '../../radar/grpc/static-resolver.ts';
import { ApplyStream, rawStub, writeItems } from '../radar/helpers/apply-stream.ts';
import { opsOf as ops } from '../support/batch-ops.ts';

const TOKEN = 'test-token-0123456789';
let hasher: Hasher;
let root: string;
let server: RadarServer;
let address: string;
/** Targets radar resolved: one per call it served (the static resolver's roots are not kept between calls). */
let resolved: number;
const clients: RadarClient[] = [];

beforeAll(async () => {
  hasher = await createHasher();
});
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'kx-reuse-'));
  resolved = 0;
  const inner = new StaticRootResolver(root, TOKEN);
  const counting: RootResolver = {
    authenticate: (token) => inner.authenticate(token),
    resolve: (target: TargetRef, token): Promise<ResolvedRoot> => {
      resolved++;
      return inner.resolve(target, token);
    },
  };
  // A reload that restarts the container (the stand-in only says so).
  const reloader: Reloader = { reload: async () => ({ action: 'restart' }) };
  server = new RadarServer({ listen: '127.0.0.1:0', resolver: counting, reloader, hasher, closeGraceMs: 500 });
  address = (await server.start()).address;
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await server.close();
  await rm(root, { recursive: true, force: true });
});

function client(): RadarClient {
  const c = new RadarClient({ address, token: TOKEN, target: { containerId: '' } });
  clients.push(c);
  return c;
}
function write(path: string, text: string): BatchOp {
  const data = new TextEncoder().encode(text);
  const h = hasher.stream();
  h.update(data);
  return { op: 'write', path, mode: 0o644, mtimeMs: 1_000_000, size: data.length, digest: h.digest(), basis: 'whole', body: (async function* (): AsyncIterable<DeltaOp> { yield { kind: 'literal', data }; })() };
}

describe('batches on one Apply call', () => {
  it('radar announces that one call may carry several batches', async () => {
    expect((await client().start()).capabilities).toContain(Capability.ApplyReuse);
  });

  it('sends a client\'s batches one after another on the call kept from the first', async () => {
    const c = client();
    await c.start();
    const afterHandshake = resolved;
    for (let i = 0; i < 3; i++) {
      const res = await c.apply(ops(write(`f${i}`, `content ${i}`)));
      expect(res).toMatchObject({ applied: 1, errors: [] });
      expect(await readFile(join(root, `f${i}`), 'utf8')).toBe(`content ${i}`);
    }
    // One Apply call served all three batches: radar resolved the target once for them.
    expect(resolved - afterHandshake).toBe(1);
  });

  it('gives up a call whose batch had path errors: the next batch goes on a fresh call', async () => {
    const c = client();
    await c.start();
    const afterHandshake = resolved;
    const refused = await c.apply(ops(write('../escape', 'x'), write('ok', 'fine')));
    expect(refused.errors.map((e) => e.path)).toEqual(['../escape']);
    await c.apply(ops(write('next', 'after')));
    expect(await readFile(join(root, 'next'), 'utf8')).toBe('after');
    // The first call, then the one opened ahead in its place after the refused path.
    expect(resolved - afterHandshake).toBe(2);
  });

  it('opens a fresh call for the batch after a reload that restarted the container', async () => {
    const c = client();
    await c.apply(ops(write('a', '1')));
    const before = resolved;
    await c.reload('restart');
    await c.apply(ops(write('b', '2')));
    // The reload's own resolution, then the new call's: the kept call (bound to the old process) was let go.
    expect(resolved - before).toBe(2);
    expect(await readFile(join(root, 'b'), 'utf8')).toBe('2');
  });

  it('applies batches while more callers keep calls open than the token has batch slots', async () => {
    const open = LIMITS.applyBatches.perCaller + 2;
    const stub = rawStub(address);
    const streams = Array.from({ length: open }, () => new ApplyStream(stub, TOKEN, { containerId: '', runtime: '', remotePath: '' }));
    try {
      // Each stream applies one batch and then stays open, waiting for its next one.
      for (const [i, s] of streams.entries()) expect((await s.batch(writeItems(hasher, `held-${i}`, 'x'))).applied).toBe(1);
      // More batches on each of them, and on a client of its own: none waits for a slot an idle stream holds.
      for (const [i, s] of streams.entries()) expect((await s.batch(writeItems(hasher, `again-${i}`, 'y'))).applied).toBe(1);
      expect((await client().apply(ops(write('more', 'z')))).applied).toBe(1);
    } finally {
      for (const s of streams) s.end();
      stub.close();
    }
  });
});

