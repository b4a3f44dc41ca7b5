// radar's connection watch: a connection that makes no authenticated call is closed soon; one that did is kept.
import * as grpc from '@grpc/grpc-js';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHasher } from '../../pkg/sync/hash.ts';
import { RadarServer } from '../../radar/grpc/server.ts';
import { StaticRootResolver } from '../../radar/grpc/static-resolver.ts';
import { RawPeer } from './helpers/radar-process.ts';
import * as hostile from './helpers/hostile-messages.ts';

const TOKEN = 'gate-test-token-0123456789';
let root: string;
let server: RadarServer;
let address: string;
const peers: RawPeer[] = [];

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'kx-test-gate-'));
  server = new RadarServer({ listen: '127.0.0.1:0', resolver: new StaticRootResolver(root, TOKEN), hasher: await createHasher(), closeGraceMs: 200, authenticateWithinMs: 300 });
  address = (await server.start()).address;
});
afterEach(async () => {
  for (const p of peers.splice(0)) p.close();
  await server.close();
  await rm(root, { recursive: true, force: true });
});

function peer(): RawPeer {
  const p = new RawPeer(address);
  peers.push(p);
  return p;
}

describe('connections', () => {
  it('closes one whose calls were all refused, and keeps one that made an authenticated call', async () => {
    const honest = peer();
    const refused = peer();
    expect((await honest.call('Handshake', hostile.handshake(), { token: TOKEN })).status).toBe(grpc.status.OK);
    expect((await refused.call('Handshake', hostile.handshake(), { token: 'wrong' })).status).toBe(grpc.status.UNAUTHENTICATED);
    // The refused connection's deadline started after the honest one's: once it is closed, the honest one's passed too.
    if (!refused.session.closed && !refused.session.destroyed) await once(refused.session, 'close');
    expect(honest.session.closed || honest.session.destroyed).toBe(false);
    expect((await honest.call('Handshake', hostile.handshake(), { token: TOKEN })).status).toBe(grpc.status.OK);
  });
});
