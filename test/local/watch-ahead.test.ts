// A service starts its folder's watcher before connecting: chokidar walks the local tree while radar starts and the
// connection is made, and the folder adopts that watcher once connected (its initial sync then starts at once).
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { SpecConfig } from '../../pkg/config/types.ts';
import type { Logger } from '../../pkg/daemon/logger.ts';
import { Service } from '../../pkg/daemon/service.ts';
import type { Connection, TargetConnector } from '../../pkg/daemon/target.ts';
import { LocalTree } from '../../pkg/receiver/local-tree.ts';
import { createHasher } from '../../pkg/sync/hash.ts';
import { syncPaths, syncTree } from '../../pkg/sync/push.ts';
import { removeDir, tempDir } from './helpers.ts';

/** A connector whose connect() waits until the test lets it through (radar still starting). */
class GatedConnector implements TargetConnector {
  calls = 0;
  #open: () => void = () => {};
  readonly #gate = new Promise<void>((resolve) => (this.#open = resolve));
  readonly #connection: Connection;

  constructor(connection: Connection) {
    this.#connection = connection;
  }

  open(): void {
    this.#open();
  }

  async connect(_spec: SpecConfig, _target: unknown, signal?: AbortSignal): Promise<Connection> {
    this.calls++;
    await Promise.race([this.#gate, new Promise((_, reject) => signal?.addEventListener('abort', () => reject(new Error('aborted'))))]);
    return this.#connection;
  }
}

describe('a service connecting to its target', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function setup(opts: { src?: string } = {}): Promise<{ service: Service; connector: GatedConnector; src: string; dst: string; lines: string[] }> {
    const hasher = await createHasher();
    const dir = await tempDir('ahead');
    cleanups.push(() => removeDir(dir));
    const src = opts.src ?? join(dir, 'src');
    const dst = join(dir, 'dst');
    await mkdir(join(src, 'lib'), { recursive: true }).catch(() => undefined);
    await mkdir(dst);
    for (let i = 0; i < 50; i++) await writeFile(join(src, 'lib', `f${i}.txt`), `file ${i}\n`);
    const tree = new LocalTree({ root: dst, hasher });
    await tree.start();
    cleanups.push(() => tree.close());
    const lines: string[] = [];
    const log: Logger = { error: (m) => lines.push(m), warn: (m) => lines.push(m), info: (m) => lines.push(m), debug: (m) => lines.push(m) };
    const connector = new GatedConnector({ receiver: tree, reload: async () => {}, describe: () => 'test target', close: async () => {} });
    const spec: SpecConfig = { name: 'site', local: src, remote: '/app', reload: 'none', ignore: [], target: 'docker', selector: 'app=x' };
    const service = new Service({
      spec,
      target: { id: 't1', name: 'c1' },
      connector,
      engine: { syncTree, syncPaths },
      hasher,
      log,
      onChange: () => {},
      timing: { retryMs: 20, quietMs: 5, maxWaitMs: 50 },
    });
    cleanups.push(() => service.close());
    return { service, connector, src, dst, lines };
  }

  it('has walked the local tree while the connection is still being made', async () => {
    const { service, connector, lines } = await setup();
    void service.start();
    await expect.poll(() => lines.find((l) => l.includes('ready in') && l.includes('ahead of the connection')), { timeout: 10_000 }).toBeDefined();
    expect(connector.calls).toBe(1);
    expect(service.status().state).toBe('starting');
    expect(lines.some((l) => l.includes('syncing'))).toBe(false);
  });

  it('syncs the tree, and what changed while it connected, once the connection is there; then follows saves', async () => {
    const { service, connector, src, dst, lines } = await setup();
    const started = service.start();
    await expect.poll(() => lines.some((l) => l.includes('ahead of the connection')), { timeout: 10_000 }).toBe(true);
    // Changed after the watcher was ready, before the folder exists: its events are dropped, the initial sync has it.
    await writeFile(join(src, 'lib', 'f1.txt'), 'changed while connecting\n');
    await writeFile(join(src, 'new.txt'), 'new while connecting\n');
    connector.open();
    await started;
    await service.idle();
    expect(service.status().state).toBe('watching');
    expect(await readFile(join(dst, 'lib', 'f1.txt'), 'utf8')).toBe('changed while connecting\n');
    expect(await readFile(join(dst, 'new.txt'), 'utf8')).toBe('new while connecting\n');
    expect(await readFile(join(dst, 'lib', 'f49.txt'), 'utf8')).toBe('file 49\n');
    // The adopted watcher reports to the folder: a save after the initial sync lands.
    await writeFile(join(src, 'lib', 'f2.txt'), 'saved later\n');
    await expect.poll(() => readFile(join(dst, 'lib', 'f2.txt'), 'utf8'), { timeout: 10_000 }).toBe('saved later\n');
  });

  it('leaves a missing local folder to the folder, which halts on it without deleting anything', async () => {
    const dir = await tempDir('ahead-missing');
    cleanups.push(() => removeDir(dir));
    const { service, connector, src, dst } = await setup({ src: join(dir, 'src') });
    await writeFile(join(dst, 'keep.txt'), 'in the container\n');
    await rm(src, { recursive: true });
    connector.open();
    await service.start();
    await expect.poll(() => service.status().state).toBe('halted');
    expect(service.status().haltReason).toContain('missing');
    expect(await readFile(join(dst, 'keep.txt'), 'utf8')).toBe('in the container\n');
  });

  it('closes while still connecting', async () => {
    const { service, lines } = await setup();
    void service.start();
    await expect.poll(() => lines.some((l) => l.includes('ahead of the connection')), { timeout: 10_000 }).toBe(true);
    await service.close();
    expect(service.status().state).not.toBe('watching');
  });
});
