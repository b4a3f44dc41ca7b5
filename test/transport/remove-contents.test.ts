// A continuous sync that removes a directory, through RadarClient and radar's real gRPC service on 127.0.0.1: radar
// announces expect-contents, the sender lists what it knows beneath the directory, and radar removes it only when
// it holds nothing else; a file the container made there is kept and the directory reported CHANGED.
import { mkdir, mkdtemp, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createHasher, type Hasher } from '../../pkg/sync/hash.ts';
import { syncPaths, syncTree } from '../../pkg/sync/push.ts';
import { RadarClient } from '../../pkg/transport/client.ts';
import { Capability } from '../../proto/version.ts';
import { RadarServer } from '../../radar/grpc/server.ts';
import { StaticRootResolver } from '../../radar/grpc/static-resolver.ts';

const TOKEN = 'test-token-0123456789';
let hasher: Hasher;
let base: string;
let src: string;
let dst: string;
let server: RadarServer;
let client: RadarClient;

beforeAll(async () => {
  hasher = await createHasher();
});
beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), 'kx-remove-contents-grpc-'));
  src = join(base, 'src');
  dst = join(base, 'dst');
  await mkdir(join(src, 'feature'), { recursive: true });
  await mkdir(dst);
  for (let i = 0; i < 20; i++) await writeFile(join(src, 'feature', `f${i}.ts`), `export const f${i} = ${i};\n`);
  await writeFile(join(src, 'main.ts'), 'main\n');
  server = new RadarServer({ listen: '127.0.0.1:0', resolver: new StaticRootResolver(dst, TOKEN), hasher, closeGraceMs: 500 });
  const { address } = await server.start();
  client = new RadarClient({ address, token: TOKEN, target: { containerId: '' } });
});
afterEach(async () => {
  await client.close();
  await server.close();
  await rm(base, { recursive: true, force: true });
});

const sync = () => syncTree({ root: src, receiver: client, hasher, rules: [], safety: { mode: 'safe', ancestor: undefined } });

describe('a directory removed in a continuous sync, through radar', () => {
  it('radar announces that it checks a directory\'s contents before removing it', async () => {
    expect((await client.start()).capabilities).toContain(Capability.ExpectContents);
    expect(client.checksDirContents()).toBe(true);
  });

  it('renames a directory as moves and a checked remove, with no full sync and no content sent', async () => {
    const first = await sync();
    await rename(join(src, 'feature'), join(src, 'feature-moved'));
    const batch = await syncPaths({ root: src, receiver: client, hasher, rules: [], paths: ['feature', 'feature-moved'], local: first.local, remote: first.remote, safety: { mode: 'safe', ancestor: first.ancestor } });
    expect(batch.needsFullSync).toBeUndefined();
    expect(batch).toMatchObject({ errors: [], removed: ['feature'], bytesSent: 0 });
    expect(await readdir(dst)).toEqual(['feature-moved', 'main.ts']);
    expect(await readFile(join(dst, 'feature-moved', 'f7.ts'), 'utf8')).toBe('export const f7 = 7;\n');
  });

  it('keeps the directory and the file the container made in it, and reports CHANGED', async () => {
    const first = await sync();
    await writeFile(join(dst, 'feature', 'cache.json'), '{}\n'); // the container's, made after the last full manifest
    await rm(join(src, 'feature'), { recursive: true });
    const batch = await syncPaths({ root: src, receiver: client, hasher, rules: [], paths: ['feature'], local: first.local, remote: first.remote, safety: { mode: 'safe', ancestor: first.ancestor } });
    expect(batch.needsFullSync).toBeUndefined();
    expect(batch.errors).toEqual([expect.objectContaining({ path: 'feature', code: 'CHANGED', message: expect.stringContaining('cache.json was made there') })]);
    expect(batch.removed).not.toContain('feature');
    expect(await readFile(join(dst, 'feature', 'cache.json'), 'utf8')).toBe('{}\n');
  });
});
