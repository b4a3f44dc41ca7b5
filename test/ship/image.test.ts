// `npm run image:offline` builds radar's image from the checkout with no registry, and the image runs radar.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { defaultValues, radarObjects } from '../../pkg/cluster/radar-objects.ts';
import { RADAR_COMMAND } from '../../proto/radar-pod.ts';
import { bundleRadar } from '../../radar/image/bundle.ts';
import { radarImage } from '../setup/radar-image.ts';

const run = promisify(execFile);
const repo = resolve(import.meta.dirname, '../..');

let image = '';

beforeAll(async () => {
  // `npm run image:offline`, run once for every test that needs the image (and again only when its inputs change).
  image = await radarImage();
}, 300_000);

const docker = async (...args: string[]) => (await run('docker', args, { maxBuffer: 1 << 24 })).stdout.trim();

describe('radar image built offline', () => {
  it('is tagged with the package version and labelled with its content hash', async () => {
    const labels = JSON.parse(await docker('image', 'inspect', '--format', '{{ json .Config.Labels }}', image)) as Record<string, string>;
    expect(labels['kx.content-hash']).toMatch(/^[0-9a-f]{64}$/);
    expect(labels['org.opencontainers.image.version']).toBe(image.split(':')[1]);
  });

  it('runs the same Node 24 that the project installs', async () => {
    const local = (await run(resolve(repo, 'node_modules/node/bin/node'), ['--version'])).stdout.trim();
    expect(local).toMatch(/^v24\./);
    expect(await docker('run', '--rm', image, 'node', '--version')).toBe(local);
  });

  it("starts radar by default and answers radar's --help", async () => {
    const cmd = JSON.parse(await docker('image', 'inspect', '--format', '{{ json .Config.Cmd }}', image)) as string[];
    expect(cmd).toEqual(['node', 'dist/radar.mjs']);
    const help = await docker('run', '--rm', image, ...RADAR_COMMAND, '--help');
    expect(help).toMatch(/--listen/); // the flag the DaemonSet starts radar with
  });

  it("starts radar from the V8 compile cache it carries, with RADAR_COMMAND's flags, on a read-only root as radar's pod and container run it", async () => {
    // Node's own debug output of its compile cache (keyed by V8's flags, so run exactly as radar runs).
    const out = await run('docker', ['run', '--rm', '--read-only', '-e', 'NODE_DEBUG_NATIVE=COMPILE_CACHE', image, ...RADAR_COMMAND, '--help'], { maxBuffer: 1 << 24 });
    const log = out.stdout + out.stderr;
    expect(log).toMatch(/--listen/);
    expect(log).toMatch(/V8 code cache for ESM file:\/\/\/app\/dist\/radar\.mjs was accepted/);
    expect(log).not.toMatch(/Cannot create cache directory/);
  });

  it('runs radar as plain JavaScript: no TypeScript and no node_modules in the image, so no transformer loads', async () => {
    const out = await docker('run', '--rm', image, 'node', '-e',
      "const fs = require('fs'); const all = fs.readdirSync('/app', { recursive: true });" +
      "console.log(all.filter((f) => f.endsWith('.ts') || f.startsWith('node_modules')).length, all.filter((f) => f.endsWith('.mjs')).length > 0)");
    expect(out).toBe('0 true');
  });

  it("hands large buffers back to the kernel once freed, even when small ones stay among them (radar's RSS falls after a sync)", async () => {
    // 400 × 200 KiB buffers, each followed by a 512-byte one that stays: under glibc's default (thresholds raised by the
    // first large free) the large ones land in the heap between the small ones and stay resident once freed.
    const script = [
      "const anon = () => Number(/RssAnon:\\s+(\\d+)/.exec(require('fs').readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;",
      'Buffer.allocUnsafeSlow(256 * 1024).fill(1); gc();',
      'const before = anon(); let big = []; const small = [];',
      'for (let i = 0; i < 400; i++) { big.push(Buffer.allocUnsafeSlow(200 * 1024).fill(1)); small.push(Buffer.allocUnsafeSlow(512).fill(1)); }',
      'const held = anon(); big = null;',
      "gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });",
      'console.log(JSON.stringify({ held: held - before, kept: anon() - before, small: small.length }));',
    ].join('\n');
    const { held, kept } = JSON.parse(await docker('run', '--rm', image, 'node', '--expose-gc', '-e', script)) as { held: number; kept: number };
    expect(held).toBeGreaterThan(70);
    expect(kept).toBeLessThan(10);
  });

  it("bundles radar's packages and none of the CLI's or the test tooling", async () => {
    const out = await mkdtemp(join(tmpdir(), 'kx-radar-bundle-'));
    try {
      const packages = await bundleRadar(repo, out);
      expect(packages).toEqual(expect.arrayContaining(['@grpc/grpc-js', 'xxhash-wasm', 'dockerode', '@kubernetes/client-node']));
      expect(packages.filter((p) => ['vitest', 'typescript', 'ink', 'yargs', 'chokidar', 'esbuild'].includes(p))).toEqual([]);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });

  it("carries every mount point of radar's pod, so a read-only root needs none created", async () => {
    const radar = radarObjects(defaultValues('0.0.0')).daemonSet.spec!.template.spec!.containers[0];
    const points = [...radar.volumeMounts!.map((m) => m.mountPath), '/var/run/secrets/kubernetes.io/serviceaccount',
      // The other node layouts radar knows (k3s/RKE2, MicroK8s), for the socket values that point there.
      '/host/run/k3s/containerd', '/host/var/snap/microk8s/common/run'];
    const out = await docker('run', '--rm', image, 'node', '-p',
      `${JSON.stringify(points)}.filter((p) => !require('fs').statSync(p, { throwIfNoEntry: false })?.isDirectory()).join(' ') || 'all there'`);
    expect(out).toBe('all there');
  });

  it('loads into containerd with docker save | ctr images import, and runs there', async () => {
    // Docker's own containerd, in a throwaway namespace removed afterwards (as an air-gapped node would do with k8s.io).
    const address = '/var/run/docker/containerd/containerd.sock';
    const ns = `kx-test-${randomBytes(4).toString('hex')}`;
    const ctr = async (...args: string[]) => (await run('ctr', ['-a', address, '-n', ns, ...args], { maxBuffer: 1 << 24 })).stdout.trim();
    const ref = `docker.io/library/${image}`;
    try {
      await run('bash', ['-o', 'pipefail', '-c', `docker save ${image} | ctr -a ${address} -n ${ns} images import -`]);
      expect(await ctr('images', 'ls', '-q')).toBe(ref);
      expect(await ctr('run', '--rm', ref, `kx-test-${randomBytes(4).toString('hex')}`, 'node', '--version')).toMatch(/^v24\./);
    } finally {
      await ctr('images', 'rm', ref).catch(() => undefined);
      // Content is garbage-collected shortly after the image goes; the namespace can be removed once it is empty.
      for (let i = 0; i < 20; i++) {
        if (await run('ctr', ['-a', address, 'namespaces', 'rm', ns]).then(() => true, () => false)) break;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  });
});
