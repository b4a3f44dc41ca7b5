// A call is bound to the container it was authorized for. A stand-in /proc (plain directories, a stat file whose
// field 22 is the start time) makes the PID-reuse race deterministic: between two batches of one Apply stream the
// container's process exits and its PID is handed to another tenant's process, whose root is elsewhere.
import * as grpc from '@grpc/grpc-js';
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode, KxError } from '../../pkg/sync/errors.ts';
import { createHasher, type Hasher } from '../../pkg/sync/hash.ts';
import { LocalTree } from '../../pkg/receiver/local-tree.ts';
import { ContainerRootResolver, type ContainerInspector } from '../../pkg/runtime/resolve.ts';
import { newToken } from '../../proto/kx-token.ts';
import { METADATA_ERROR_CODE } from '../../proto/version.ts';
import { NamespaceAuthorizer, type TokenSource } from '../../radar/auth/authorize.ts';
import { RadarServer } from '../../radar/grpc/server.ts';
import { ApplyStream, rawStub, writeItems, type RawStub } from './helpers/apply-stream.ts';
import { fakeStat } from './helpers/fake-proc.ts';

const PID = 4242;
const NAME = 'web-a/app';
const ID = 'a'.repeat(64);
let hasher: Hasher;
let base: string;
let procDir: string;
let containerRoot: string;
let tenantB: string;
let tokens: Map<string, string>;
let tokenA: string;
let server: RadarServer;
let stub: RawStub;

const inspector: ContainerInspector = {
  inspect: async (id) => {
    if (id !== ID) throw new KxError(ErrorCode.NotFound, `container ${id} not found`);
    return { id, name: NAME, pid: PID, labels: { 'io.kubernetes.pod.namespace': 'team-a' } };
  },
};
const source: TokenSource = { tokenFor: async (ns) => tokens.get(ns) };
const target = { containerId: `containerd://${ID}`, runtime: '', remotePath: '/app' };

function resolver(hooks?: { afterRootPinned?(pid: number): void }): ContainerRootResolver {
  return new ContainerRootResolver({
    runtimes: { containerd: inspector },
    authorizer: new NamespaceAuthorizer({ tokens: source }),
    procRoot: join(base, 'proc'),
    ...(hooks ? { hooks } : {}),
  });
}

/** The container's process exits; another tenant's process gets its PID (its root is tenant B's directory). */
async function handPidToTenantB(): Promise<void> {
  await rename(procDir, join(base, 'exited'));
  await mkdir(procDir);
  await symlink(tenantB, join(procDir, 'root'));
  await writeFile(join(procDir, 'stat'), fakeStat(PID, 'other tenant', 2000));
  await writeFile(join(procDir, 'mountinfo'), '1 0 8:1 / / rw - ext4 /dev/sda1 rw\n');
}

function codeOf(err: grpc.ServiceError): string | undefined {
  return err.metadata?.get(METADATA_ERROR_CODE)[0] as string | undefined;
}

beforeAll(async () => {
  hasher = await createHasher();
});
beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), 'kx-test-session-'));
  procDir = join(base, 'proc', String(PID));
  containerRoot = join(procDir, 'root');
  tenantB = join(base, 'tenant-b');
  await mkdir(join(containerRoot, 'app'), { recursive: true });
  await mkdir(join(tenantB, 'app'), { recursive: true });
  await writeFile(join(procDir, 'stat'), fakeStat(PID, 'sh', 1000));
  await writeFile(join(procDir, 'mountinfo'), '1 0 8:1 / / rw - ext4 /dev/sda1 rw\n');
  tokenA = newToken('team-a');
  tokens = new Map([['team-a', tokenA]]);
  server = new RadarServer({ listen: '127.0.0.1:0', resolver: resolver(), hasher, closeGraceMs: 200 });
  stub = rawStub((await server.start()).address);
});
afterEach(async () => {
  stub.close();
  await server.close();
  await rm(base, { recursive: true, force: true });
});

describe('an Apply stream bound to its container', () => {
  it('fails with NOT_FOUND naming the container when its PID now belongs to another process, writing nothing there', async () => {
    const s = new ApplyStream(stub, tokenA, target);
    expect((await s.batch(writeItems(hasher, 'one.txt', 'first batch\n'))).errors).toEqual([]);
    await handPidToTenantB();

    const err = (await s.batch(writeItems(hasher, 'two.txt', 'second batch\n')).catch((e: unknown) => e)) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.NOT_FOUND);
    expect(codeOf(err)).toBe(ErrorCode.NotFound);
    expect(err.details).toContain(NAME);
    expect(err.details).toContain(ID);
    expect(await readdir(join(tenantB, 'app'))).toEqual([]);
    expect(await readdir(join(base, 'exited/root/app'))).toEqual(['one.txt']);
  });

  it('fails with NOT_FOUND when the container exited and nothing took its PID', async () => {
    const s = new ApplyStream(stub, tokenA, target);
    await s.batch(writeItems(hasher, 'one.txt', 'x'));
    await rm(procDir, { recursive: true });
    const err = (await s.batch(writeItems(hasher, 'two.txt', 'y')).catch((e: unknown) => e)) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.NOT_FOUND);
    expect(err.details).toContain(NAME);
  });

  it('ends with UNAUTHENTICATED at the next batch once the namespace token is rotated', async () => {
    const s = new ApplyStream(stub, tokenA, target);
    expect((await s.batch(writeItems(hasher, 'one.txt', 'x'))).errors).toEqual([]);
    tokens.set('team-a', newToken('team-a'));
    const err = (await s.batch(writeItems(hasher, 'two.txt', 'y')).catch((e: unknown) => e)) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(await readdir(join(containerRoot, 'app'))).toEqual(['one.txt']);
  });
});

describe('resolving a container', () => {
  it('refuses with NOT_FOUND when the PID changes hands between the runtime answering and the root being opened', async () => {
    const racing = resolver({ afterRootPinned: () => handPidToTenantBSync() });
    const err = await racing.resolve(target, tokenA).then(() => undefined, (e: unknown) => e as KxError);
    expect(err?.code).toBe(ErrorCode.NotFound);
    expect(err?.message).toContain(NAME);
  });

  it("writes through the pinned root, never whatever process holds the PID now (even without the check)", async () => {
    const root = await resolver().resolve(target, tokenA);
    try {
      await handPidToTenantB();
      // A tree on the root without its verify step: the pinned fd still leads to the exited container's root.
      const tree = new LocalTree({ root: root.path, anchor: root.anchor, hasher });
      const data = Buffer.from('pinned\n');
      const h = hasher.stream();
      h.update(data);
      const res = await tree.apply((async function* () {
        yield { op: 'write' as const, path: 'f', mode: 0o644, mtimeMs: 1_000_000, size: data.length, digest: h.digest(), basis: 'whole' as const, body: (async function* () { yield { kind: 'literal' as const, data }; })() };
      })());
      expect(res.errors).toEqual([]);
      expect(await readdir(join(tenantB, 'app'))).toEqual([]);
      expect(await readdir(join(base, 'exited/root/app'))).toEqual(['f']);
      await expect(root.verify()).rejects.toMatchObject({ code: ErrorCode.NotFound });
    } finally {
      root.close();
    }
  });

  it('reports the path the container sees, not the host path with its PID', async () => {
    const root = await resolver().resolve(target, tokenA);
    root.close();
    expect(root.containerPath).toBe('/app');
    expect(root.path).not.toContain(String(PID));
  });
});

/** handPidToTenantB with synchronous calls, for the resolver's synchronous hook. */
function handPidToTenantBSync(): void {
  renameSync(procDir, join(base, 'exited'));
  mkdirSync(procDir);
  symlinkSync(tenantB, join(procDir, 'root'));
  writeFileSync(join(procDir, 'stat'), fakeStat(PID, 'other tenant', 2000));
}
