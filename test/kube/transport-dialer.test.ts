// The dialer's compression switch: a radar on this machine (the Docker target) gets raw literals on both of a
// folder's clients, the daemon's and the full-sync worker's (which dials from the bulk channel).
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TransportDialer } from '../../pkg/kube/transport-dialer.ts';
import type { RadarSession } from '../../pkg/kube/radar-dial.ts';
import { createHasher } from '../../pkg/sync/hash.ts';
import { syncTree } from '../../pkg/sync/push.ts';
import { RadarClient } from '../../pkg/transport/client.ts';
import { RadarServer } from '../../radar/grpc/server.ts';
import { StaticRootResolver } from '../../radar/grpc/static-resolver.ts';

const TOKEN = 'test-token-0123456789';
let dir: string;
let server: RadarServer;
let address: string;
const sessions: RadarSession[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kx-dialer-'));
  server = new RadarServer({ listen: '127.0.0.1:0', resolver: new StaticRootResolver(join(dir, 'dest'), TOKEN), hasher: await createHasher(), closeGraceMs: 500 });
  address = (await server.start()).address;
  await mkdir(join(dir, 'dest'));
});
afterEach(async () => {
  for (const s of sessions.splice(0)) await s.close();
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

/** Bytes a full sync of 64 KiB of repetitive text puts on the wire through a client made from the bulk channel. */
async function wireBytes(dialer: TransportDialer, name: string): Promise<number> {
  const src = join(dir, name);
  await mkdir(src, { recursive: true });
  await writeFile(join(src, 'f.txt'), 'the same line again\n'.repeat((64 * 1024) / 20));
  const session = await dialer.dial({ address, token: TOKEN, container: { id: '', runtime: 'docker' }, remotePath: '' });
  sessions.push(session);
  const worker = new RadarClient(session.bulk!);
  try {
    const r = await syncTree({ root: src, receiver: worker, hasher: await createHasher(), rules: [] });
    expect(r.errors).toEqual([]);
    return r.bytesSent;
  } finally {
    await worker.close();
  }
}

describe('TransportDialer', () => {
  it('with compress false, sends literals raw from the bulk channel too; by default deflates them', async () => {
    const raw = await wireBytes(new TransportDialer({ compress: false }), 'a');
    expect(raw).toBeGreaterThanOrEqual(64 * 1024 - 20);
    await rm(join(dir, 'dest'), { recursive: true });
    await mkdir(join(dir, 'dest'));
    const deflated = await wireBytes(new TransportDialer(), 'b');
    expect(deflated).toBeLessThan(raw / 10);
  });
});
