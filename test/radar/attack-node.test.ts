// radar under attack in node mode, as the DaemonSet runs it: a memory-limited process on the real Docker engine,
// tokens per namespace from the test API server. What an unauthenticated caller learns, what a tenant of one
// namespace can make radar do to another's syncs, and what radar reports. (--root mode: attack.test.ts.)
import * as grpc from '@grpc/grpc-js';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../pkg/sync/errors.ts';
import { createHasher, type Hasher } from '../../pkg/sync/hash.ts';
import { syncTree } from '../../pkg/sync/push.ts';
import { RadarClient } from '../../pkg/transport/client.ts';
import { newToken } from '../../proto/kx-token.ts';
import { REFUSED_TOKEN_MESSAGE } from '../../radar/auth/authorize.ts';
import { docker } from './containers.ts';
import { RawPeer, grpcPrefix, startRadar, type RadarProcess } from './helpers/radar-process.ts';
import { startTeamCluster, type TeamCluster } from './helpers/team-cluster.ts';
import * as hostile from './helpers/hostile-messages.ts';
import { refusal } from '../support/refusal.ts';

const RSS_LIMIT = 512 * 1024 * 1024;
let team: TeamCluster;
let work: string;
let hasher: Hasher;
let tokenA: string;
let tokenB: string;
let containerA: string; // docker://<64 hex> of a pod container in namespace team-a
let radar: RadarProcess;
const clients: RadarClient[] = [];

function client(token: string | undefined, remotePath: string, containerId = containerA, extra: { keepSetIdBits?: boolean } = {}): RadarClient {
  const c = new RadarClient({ address: radar.address, ...(token === undefined ? {} : { token }), target: { containerId, remotePath, ...extra } });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  hasher = await createHasher();
  team = await startTeamCluster('kx-test-attack-node-');
  ({ work, tokenA, tokenB, containerA } = team);
  radar = await startRadar(['--listen', '127.0.0.1:0', '--kubeconfig', team.kubeconfig, '--containerd-socket', '', '--node-name', 'node-1']);
}, 120_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await radar?.stop();
  await team?.close();
});

const idOf = (ref: string): string => ref.slice('docker://'.length);

describe('an unauthenticated caller (node mode)', () => {
  it('gets the same answer for a real container, one that does not exist and an ID prefix, naming neither', async () => {
    const id = idOf(containerA);
    const targets = [containerA, `docker://${'0'.repeat(64)}`, `docker://${id.slice(0, 4)}`];
    for (const token of [undefined, 'wrong', newToken('team-a'), newToken('made-up-ns')]) {
      for (const target of targets) {
        const err = await refusal(client(token, '/app', target).start());
        expect(err.code).toBe(ErrorCode.Unauthenticated);
        expect(err.message).toBe(REFUSED_TOKEN_MESSAGE);
      }
    }
  });

  it('is refused a 16 MiB GetManifest of 8M empty entries before radar decodes it, and radar stays within its limit', async () => {
    const peer = new RawPeer(radar.address);
    try {
      const a = await peer.call('GetManifest', hostile.manifestOfEmptyEntries(8 * 1024 * 1024 - 8), { token: newToken('team-a') });
      expect([grpc.status.UNAUTHENTICATED, null]).toContain(a.status);
    } finally {
      peer.close();
    }
    expect(radar.alive()).toBe(true);
    expect(radar.peakRss()).toBeLessThan(RSS_LIMIT);
  });
});

describe('an authorized tenant (node mode)', () => {
  it('cannot reach a container by an ID prefix: NOT_FOUND, and the answer names no container or namespace', async () => {
    const id = idOf(containerA);
    const err = await refusal(client(tokenA, '/app', `docker://${id.slice(0, 12)}`).start());
    expect(err.code).toBe(ErrorCode.NotFound);
    expect(err.message).not.toContain(id);
    expect(err.message).not.toContain('team-a');
  });

  it("reports the container's path and names, never a host PID", async () => {
    const info = await client(tokenA, '/app').describe();
    expect(info).toMatchObject({ path: '/app', runtime: 'docker', namespace: 'team-a' });
    expect(JSON.stringify(info)).not.toMatch(/\/proc\//);
  });

  it('refuses a remote path deeper than radar creates, with LIMIT', async () => {
    const deep = `/app/${Array.from({ length: 100 }, (_, i) => `d${i}`).join('/')}`;
    const err = await refusal(client(tokenA, deep).start());
    expect(err.code).toBe(ErrorCode.Limit);
    expect(err.message).toMatch(/101 components, more than the 64 radar accepts/);
    await expect(docker('exec', idOf(containerA), 'test', '-e', '/app/d0')).rejects.toThrow();
  });

  it('strips set-id bits in the container unless the target keeps them', async () => {
    const src = join(work, 'suid');
    await mkdir(src, { recursive: true });
    await writeFile(join(src, 'tool'), '#!/bin/sh\n', { mode: 0o4755 });
    const stripped = await syncTree({ root: src, receiver: client(tokenA, '/app/suid-stripped'), hasher, rules: [] });
    expect(stripped.errors).toEqual([]);
    expect(await docker('exec', idOf(containerA), 'stat', '-c', '%a', '/app/suid-stripped/tool')).toBe('755');
    const kept = await syncTree({ root: src, receiver: client(tokenA, '/app/suid-kept', containerA, { keepSetIdBits: true }), hasher, rules: [] });
    expect(kept.errors).toEqual([]);
    expect(await docker('exec', idOf(containerA), 'stat', '-c', '%a', '/app/suid-kept/tool')).toBe('4755');
  });

  it("cannot stop another namespace's syncs: team-a syncs while team-b floods radar, which stays within its limit", async () => {
    const peers = Array.from({ length: 2 }, () => new RawPeer(radar.address));
    const methods = ['GetManifest', 'GetSignatures', 'GetDigests', 'Apply'];
    const caps: Record<string, number> = { GetManifest: 16 << 20, GetSignatures: 8 << 20, GetDigests: 8 << 20, Apply: 4 << 20 };
    const bodies = new Map(methods.map((m) => [m, Buffer.concat([grpcPrefix(caps[m]), Buffer.alloc((caps[m] * 3) / 4)])]));
    const flood = peers.flatMap((p) => Array.from({ length: 32 }, (_, i) => p.call(methods[i % 4], bodies.get(methods[i % 4])!, { token: tokenB, end: false })));
    try {
      const src = join(work, 'honest');
      await mkdir(join(src, 'sub'), { recursive: true });
      for (let i = 0; i < 50; i++) await writeFile(join(src, 'sub', `f${i}.txt`), `file ${i}\n`);
      const res = await syncTree({ root: src, receiver: client(tokenA, '/app/honest'), hasher, rules: [] });
      expect(res.errors).toEqual([]);
      expect(await docker('exec', idOf(containerA), 'cat', '/app/honest/sub/f49.txt')).toBe('file 49');
      expect(radar.alive()).toBe(true);
      expect(radar.peakRss()).toBeLessThan(RSS_LIMIT);
    } finally {
      for (const p of peers) p.close();
      await Promise.all(flood);
    }
  });
});
