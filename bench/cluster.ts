// The cluster path: `kx init` installs radar's real image on the test API server (test/k8s: real Docker containers
// run from pod specs, pods/portforward over WebSocket), and `kx watch` syncs through port-forwards to radar's pod,
// as on a real cluster. Measured: initial sync of the tree from `kx watch` starting, then save → visible p50/p95
// of a small project into the pod's container (seen through /proc/<pid>/root), with kx's and radar's RSS/CPU.
import { execFile, fork, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ClusterMethod, ClusterReply, ClusterRequest } from './cluster-process.ts';
import { RADAR_SELECTOR } from '../pkg/kube/radar-names.ts';
import { QUICK_TREE, SOURCE_TREE, writeTree } from './dataset.ts';
import { Cleanup, measure, stats, writeProject } from './latency.ts';
import { KxWatch } from './peers/kx-watch.ts';
import { containerPid, sideSamplers } from './support/proc.ts';
import { radarImageName } from '../pkg/docker/radar-image.ts';
import { formatBytes, type Row } from './summary.ts';
import { assertSame, syncPart } from './throughput.ts';

const run = promisify(execFile);
const KX = join(import.meta.dirname, '..', 'cmd', 'kx.ts');
export const NS = 'bench';
export const RADAR_NS = 'kx-system';
const RADAR_LABELS = Object.entries(RADAR_SELECTOR).map(([k, v]) => `${k}=${v}`).join(',');

/** A pod whose one container sleeps with the given directories made, from the busybox test image. */
export function sleeperPod(name: string, labels: Record<string, string>, dirs: readonly string[]): Record<string, unknown> {
  return {
    metadata: { name, labels },
    spec: {
      terminationGracePeriodSeconds: 1,
      containers: [{ name: 'app', image: 'kx-test-busybox:1', command: ['/bin/busybox', 'sh', '-c', `mkdir -p ${dirs.join(' ')} && exec sleep 7200`] }],
    },
  };
}

type Pod = { metadata: { name: string; labels?: Record<string, string> }; spec: { nodeName?: string } };

/** The test API server in its own process (cluster-process.ts); calls go over IPC. */
export class ClusterProcess {
  #child: ChildProcess | undefined;
  #next = 0;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #closing: Promise<void> | undefined;

  async start(options: Record<string, unknown>): Promise<void> {
    const child = fork(join(import.meta.dirname, 'cluster-process.ts'), [JSON.stringify(options)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    this.#child = child;
    await new Promise<void>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`the test API server exited ${code} before it was ready`)));
      child.on('message', (m: ClusterReply) => {
        if ('ready' in m) return resolve();
        const p = this.#pending.get(m.id);
        this.#pending.delete(m.id);
        if (m.error !== undefined) p?.reject(new Error(m.error));
        else p?.resolve(m.result);
      });
    });
    child.on('exit', () => {
      for (const p of this.#pending.values()) p.reject(new Error('the test API server exited'));
      this.#pending.clear();
    });
  }

  call<T>(method: ClusterMethod | 'close', ...args: unknown[]): Promise<T> {
    const child = this.#child;
    if (!child?.connected) return Promise.reject(new Error('the test API server is not running'));
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: (v) => resolve(v as T), reject });
      child.send({ id, method, args } satisfies ClusterRequest);
    });
  }

  createPod(ns: string, pod: Record<string, unknown>): Promise<Pod> {
    return this.call('createPod', ns, pod);
  }

  waitForRunning(ns: string, name: string, timeoutMs: number): Promise<Pod> {
    return this.call('waitForRunning', ns, name, timeoutMs);
  }

  listPods(ns: string, selector?: string): Promise<Pod[]> {
    return this.call('listPods', ns, selector);
  }

  containerId(ns: string, pod: string, container?: string): Promise<string | null> {
    return this.call('containerId', ns, pod, container);
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      const child = this.#child;
      if (!child || child.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      await this.call('close').catch(() => child.kill('SIGTERM'));
      await exited;
    })();
    return this.#closing;
  }
}

/** A test cluster with radar installed by `kx init`, and a kx home whose kubeconfig points at it. */
export interface BenchCluster {
  readonly cluster: ClusterProcess;
  readonly home: string;
  readonly env: Record<string, string>;
  /** Host pids of radar's containers (one per node). */
  radarPids(): Promise<number[]>;
  /** The host's view of a directory in a pod's (first) container. */
  podPath(pod: string, dir: string): Promise<string>;
}

export async function startBenchCluster(cleanup: Cleanup, opts: { nodes: readonly string[]; say: (line: string) => void }): Promise<BenchCluster> {
  const image = radarImageName();
  opts.say(`cluster: starting the test API server (${opts.nodes.length} node(s), radar image ${image})`);
  const cluster = new ClusterProcess();
  cleanup.add(() => cluster.close());
  await cluster.start({ nodes: opts.nodes, namespaces: [NS], agentImage: image });
  const home = await mkdtemp(join(tmpdir(), 'kx-bench-cluster-'));
  cleanup.add(() => rm(home, { recursive: true, force: true }));
  await writeFile(join(home, 'kubeconfig'), await cluster.call<string>('kubeconfigYaml', { namespace: NS }));
  const env = { KX_HOME: home, KUBECONFIG: join(home, 'kubeconfig') };
  opts.say('cluster: kx init');
  await run(process.execPath, [KX, 'init', '--image', image, '--timeout', '300'], { env: { ...process.env, ...env } }).catch((err: { stderr?: string; message: string }) => {
    throw new Error(`kx init failed: ${err.stderr?.trim() || err.message}`, { cause: err });
  });
  return {
    cluster,
    home,
    env,
    radarPids: async () => {
      const pods = await cluster.listPods(RADAR_NS, RADAR_LABELS);
      const ids = await Promise.all(pods.map((p) => cluster.containerId(RADAR_NS, p.metadata.name, 'radar')));
      return Promise.all(ids.filter((id): id is string => !!id).map(containerPid));
    },
    podPath: async (pod, dir) => {
      const id = await cluster.containerId(NS, pod);
      if (!id) throw new Error(`pod ${pod} has no container`);
      return join(`/proc/${await containerPid(id)}/root`, dir);
    },
  };
}

export async function runCluster(opts: { quick: boolean; say: (line: string) => void }): Promise<Row[]> {
  const { say } = opts;
  const shape = opts.quick ? QUICK_TREE : SOURCE_TREE;
  const cleanup = new Cleanup();
  try {
    const work = await mkdtemp(join(tmpdir(), 'kx-bench-cluster-src-'));
    cleanup.add(() => rm(work, { recursive: true, force: true }));
    const bc = await startBenchCluster(cleanup, { nodes: ['node-a'], say });
    const { cluster } = bc;
    await cluster.createPod(NS, sleeperPod('web', { app: 'web' }, ['/app', '/edit']));
    await cluster.waitForRunning(NS, 'web', 120_000);

    const tree = join(work, 'tree');
    const project = join(work, 'project');
    await mkdir(tree);
    await mkdir(project);
    say(`cluster: writing the tree (${shape.smallFiles + shape.binaries} files)`);
    const written = await writeTree(tree, shape, 42);
    writeProject(project);

    const kx = new KxWatch({ local: tree, remote: '/app', selector: 'app=web', home: bc.home, env: bc.env, spec: { target: 'kubernetes', namespace: NS, name: 'tree' } });
    cleanup.add(() => kx.close());
    const radarPids = await bc.radarPids();
    const { kxUse, radarUse } = sideSamplers(kx, () => radarPids, (c) => cleanup.add(c));
    say(`cluster: initial sync of ${written.files} files through the port-forward`);
    kxUse.begin();
    radarUse.begin();
    const spawned = await kx.start(600_000);
    const initialS = (performance.now() - spawned) / 1000;
    const syncS = await syncPart(kx);
    const initialUse = { kx: kxUse.end(), radar: radarUse.end() };
    say(`cluster: initial sync took ${initialS.toFixed(2)} s`);
    assertSame(tree, await bc.podPath('web', '/app'));

    await kx.addSpec({ name: 'edit', selector: 'app=web', namespace: NS, local: project, remote: '/edit', reload: 'none', ignore: [], target: 'kubernetes' });
    await kx.waitWatching(120_000, 2);
    const edits = opts.quick ? 20 : 60;
    say(`cluster: save → visible through the port-forward, ${edits} edits`);
    kxUse.begin();
    radarUse.begin();
    const ownView = async (): Promise<number | undefined> => (await kx.status()).specs.find((x) => x.name === 'edit')?.services[0]?.latencyMs;
    const r = await measure('kx', project, await bc.podPath('web', '/edit'), edits, opts.quick ? 100 : 250, ownView);
    const own = stats(r.samples.flatMap((x) => (x.daemonMs === undefined ? [] : [x.daemonMs])));
    const latencyUse = { kx: kxUse.end(), radar: radarUse.end() };
    const s = stats(r.samples.map((x) => x.ms));
    say(`cluster: save → visible p50 ${s.p50.toFixed(1)} ms, p95 ${s.p95.toFixed(1)} ms`);
    return [
      { case: `cluster: initial sync through a port-forward, ${written.files.toLocaleString('en')} files, ${formatBytes(written.bytes)}`, unit: 's', kx: initialS, goal: { kind: 'none' }, usage: initialUse, note: `from \`kx watch\` starting${syncS === undefined ? '' : `; the sync itself ${syncS.toFixed(2)} s`}` },
      { case: 'cluster: save → visible p50 through a port-forward', unit: 'ms', kx: s.p50, goal: { kind: 'at-most', max: 15 }, usage: latencyUse, note: `kx's own view, first event → landed: ${own.p50.toFixed(1)} ms` },
      { case: 'cluster: save → visible p95 through a port-forward', unit: 'ms', kx: s.p95, goal: { kind: 'none' }, note: `own view ${own.p95.toFixed(1)} ms` },
    ];
  } finally {
    await cleanup.run();
  }
}
