// npm run demo: kx's main job on the embedded default (the local Docker engine), start to finish on this machine:
// a demo container, a folder, the daemon, an edit, and the change read back from inside the container.

import Docker from 'dockerode';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ConfigStore } from '../pkg/config/store.ts';
import { silentLogger } from '../pkg/daemon/logger.ts';
import { formatStatus } from '../pkg/ui/output.ts';
import { startDaemon, statusClient } from './composition/root.ts';

const IMAGE = 'kx-test-busybox:1';
const CONTAINER = 'kx-demo';
const run = promisify(execFile);
const say = (line: string): void => void process.stdout.write(`${line}\n`);

async function ensureContainer(docker: Docker): Promise<{ created: boolean }> {
  await docker.getImage(IMAGE).inspect().catch(() => {
    throw new Error(`image ${IMAGE} missing: build it with: bash test/setup/host.sh`);
  });
  const existing = await docker.getContainer(CONTAINER).inspect().catch(() => null);
  if (existing?.State.Running) return { created: false };
  if (existing) await docker.getContainer(CONTAINER).remove({ force: true });
  const container = await docker.createContainer({ name: CONTAINER, Image: IMAGE, Cmd: ['sleep', '3600'], Labels: { 'kx.demo': '1' } });
  await container.start();
  return { created: true };
}

async function main(): Promise<void> {
  const docker = new Docker({ socketPath: '/var/run/docker.sock' });
  const { created } = await ensureContainer(docker);
  say(`container ${CONTAINER} (${IMAGE}, label kx.demo=1) ${created ? 'started' : 'already running'}`);
  const home = await mkdtemp(join(tmpdir(), 'kx-demo-'));
  const folder = join(home, 'site');
  const running: { close(): Promise<void> }[] = [];
  try {
    await run('mkdir', ['-p', folder]);
    await writeFile(join(folder, 'hello.txt'), 'hello from kx\n');
    const store = new ConfigStore(join(home, 'kx.yaml'));
    await store.addSpec({ name: 'demo', selector: 'kx.demo=1', local: folder, remote: '/app', reload: 'none', ignore: [], target: 'docker' });
    say(`$ kx create --docker -l kx.demo=1 ${folder} /app`);
    say('$ kx watch');
    // Quiet, except for the one line that explains a wait: radar's image built on the engine on first use.
    const log = { ...silentLogger, info: (m: string) => void (m.startsWith('radar image') && say(`(${m})`)) };
    const daemon = await startDaemon({ store, config: (await store.load()).config, statusPort: 0, log });
    running.push(daemon);
    await daemon.idle();
    say(`$ docker exec ${CONTAINER} cat /app/hello.txt\n${(await run('docker', ['exec', CONTAINER, 'cat', '/app/hello.txt'])).stdout.trimEnd()}`);

    await writeFile(join(folder, 'hello.txt'), 'hello again: edited locally, synced by kx\n');
    say(`(edited ${join(folder, 'hello.txt')})`);
    await waitFor(async () => (await run('docker', ['exec', CONTAINER, 'cat', '/app/hello.txt'])).stdout.includes('edited'));
    say(`$ docker exec ${CONTAINER} cat /app/hello.txt\n${(await run('docker', ['exec', CONTAINER, 'cat', '/app/hello.txt'])).stdout.trimEnd()}`);

    const client = statusClient(daemon.statusPort);
    try {
      say(`$ kx get\n${formatStatus(await client.get(), 'table', Date.now())}`);
    } finally {
      client.close();
    }
  } finally {
    for (const r of running) await r.close();
    await rm(home, { recursive: true, force: true });
    if (created) await docker.getContainer(CONTAINER).remove({ force: true });
  }
  say('done: daemon stopped, temp folder removed');
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`the edit did not reach ${CONTAINER} within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

try {
  await main();
} catch (err) {
  process.stderr.write(`demo: ${(err as Error).message}\n`);
  process.exitCode = 1;
}
