// PodWatch over the real client-node against the test API server, whose pods are real Docker containers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeApiServer } from '../k8s/fake-cluster.ts';
import type { FakeCluster, Json } from '../k8s/fake-cluster.ts';
import { PodWatch } from '../../pkg/kube/pod-watch.ts';
import type { PodSelection } from '../../pkg/kube/pod-watch.ts';
import type { RemoteContainer } from '../../pkg/kube/remote-container.ts';
import { instanceKey, slotKey } from '../../pkg/kube/remote-container.ts';
import type { KxError } from '../../pkg/sync/errors.ts';

const NS = 'podwatch';
let cluster: FakeCluster;

beforeAll(async () => {
  cluster = await startFakeApiServer({ nodes: ['node-a', 'node-b'], namespaces: [NS] });
});
afterAll(async () => {
  await cluster?.close();
});

function podBody(name: string, labels: Record<string, string>, containers = ['app']): Json {
  return {
    metadata: { name, labels },
    spec: {
      terminationGracePeriodSeconds: 1,
      containers: containers.map((c) => ({ name: c, image: 'kx-test-busybox:1', command: ['/bin/busybox', 'sleep', '3600'] })),
    },
  };
}

/** Records what a PodWatch reports, and lets a test wait for a condition on it. */
class Recorder {
  readonly log: string[] = [];
  readonly live = new Map<string, RemoteContainer>();
  readonly problems = new Map<string, KxError>();
  #waiters: (() => void)[] = [];

  readonly listener = {
    added: (t: RemoteContainer) => {
      if (this.live.has(slotKey(t))) this.log.push(`DUPLICATE ${slotKey(t)}`);
      this.live.set(slotKey(t), t);
      this.log.push(`+${t.pod} ${t.containerRef.id.slice(0, 12)}`);
      this.#poke();
    },
    removed: (t: RemoteContainer, reason: string) => {
      if (this.live.get(slotKey(t)) === undefined || instanceKey(this.live.get(slotKey(t))!) !== instanceKey(t)) this.log.push(`STRAY ${slotKey(t)}`);
      this.live.delete(slotKey(t));
      this.log.push(`-${t.pod} ${t.containerRef.id.slice(0, 12)} (${reason})`);
      this.#poke();
    },
    problem: (subject: string, err: KxError) => { this.problems.set(subject, err); this.#poke(); },
    resolved: (subject: string) => { this.problems.delete(subject); this.#poke(); },
  };

  until(what: string, cond: () => boolean, timeoutMs = 30_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out: ${what}; log: ${this.log.join(', ')}`)), timeoutMs);
      const check = (): void => {
        if (cond()) {
          clearTimeout(timer);
          this.#waiters = this.#waiters.filter((w) => w !== check);
          resolve();
        }
      };
      this.#waiters.push(check);
      check();
    });
  }

  #poke(): void {
    for (const w of [...this.#waiters]) w();
  }
}

async function watching(selection: PodSelection, extra: Partial<ConstructorParameters<typeof PodWatch>[0]> = {}): Promise<{ rec: Recorder; watch: PodWatch }> {
  const rec = new Recorder();
  const watch = new PodWatch({ kc: cluster.kubeConfig(), context: 'fake', selection, listener: rec.listener, ...extra });
  await watch.start();
  return { rec, watch };
}

const dockerId = (t: RemoteContainer | undefined): string | undefined => t?.containerRef.id;

describe('PodWatch', () => {
  it('adds a selected pod once its container runs, with its node and Docker container ID', async () => {
    const { rec, watch } = await watching({ namespace: NS, selector: 'app=add' });
    try {
      cluster.createPod(NS, podBody('add-1', { app: 'add' }));
      cluster.createPod(NS, podBody('other-1', { app: 'other' }));
      await rec.until('add-1 added', () => rec.live.has(`${NS}/add-1/app`));
      const t = rec.live.get(`${NS}/add-1/app`)!;
      expect(t.containerRef).toEqual({ runtime: 'docker', id: cluster.containerId(NS, 'add-1') });
      expect(cluster.nodes()).toContain(t.nodeName);
      expect([...rec.live.keys()]).toEqual([`${NS}/add-1/app`]);
    } finally {
      await watch.close();
    }
  });

  it('removes the target when its pod is deleted', async () => {
    cluster.createPod(NS, podBody('del-1', { app: 'del' }));
    await cluster.waitForRunning(NS, 'del-1');
    const { rec, watch } = await watching({ namespace: NS, selector: 'app=del' });
    try {
      await rec.until('del-1 listed', () => rec.live.has(`${NS}/del-1/app`));
      await cluster.deletePod(NS, 'del-1', 1);
      await rec.until('del-1 removed', () => rec.live.size === 0);
      expect(rec.log.filter((l) => l.startsWith('-'))).toHaveLength(1);
      expect(rec.log.some((l) => /DUPLICATE|STRAY/.test(l))).toBe(false);
    } finally {
      await watch.close();
    }
  });

  it('replaces a container restarted with a new ID: the old target closes, the new one is added, no duplicate', async () => {
    cluster.createPod(NS, podBody('rst-1', { app: 'rst' }));
    await cluster.waitForRunning(NS, 'rst-1');
    const { rec, watch } = await watching({ namespace: NS, selector: 'app=rst' }, { stableAfterMs: 0 });
    try {
      await rec.until('rst-1 listed', () => rec.live.has(`${NS}/rst-1/app`));
      const { oldId, newId } = await cluster.restartContainer(NS, 'rst-1');
      await rec.until('new container', () => dockerId(rec.live.get(`${NS}/rst-1/app`)) === newId);
      const removedOld = rec.log.findIndex((l) => l.startsWith(`-rst-1 ${oldId.slice(0, 12)}`));
      expect(removedOld).toBeGreaterThan(-1);
      expect(removedOld).toBeLessThan(rec.log.indexOf(`+rst-1 ${newId.slice(0, 12)}`));
      expect(rec.log.filter((l) => l.startsWith('+'))).toEqual([`+rst-1 ${oldId.slice(0, 12)}`, `+rst-1 ${newId.slice(0, 12)}`]);
      expect(rec.log.some((l) => /DUPLICATE|STRAY/.test(l))).toBe(false);
    } finally {
      await watch.close();
    }
  });

  it('re-lists when the watch expires (410 Gone) and still follows changes made meanwhile', async () => {
    cluster.createPod(NS, podBody('exp-1', { app: 'exp' }));
    await cluster.waitForRunning(NS, 'exp-1');
    const { rec, watch } = await watching({ namespace: NS, selector: 'app=exp' });
    try {
      await rec.until('exp-1 listed', () => rec.live.has(`${NS}/exp-1/app`));
      cluster.forgetHistory();
      cluster.endWatches();
      // Deleted while the informer is between watches: the re-list must notice it is gone.
      await cluster.deletePod(NS, 'exp-1', 0);
      cluster.createPod(NS, podBody('exp-2', { app: 'exp' }));
      await rec.until('exp-2 added, exp-1 removed', () => rec.live.has(`${NS}/exp-2/app`) && !rec.live.has(`${NS}/exp-1/app`));
      expect(rec.problems.size).toBe(0);
      expect(rec.log.some((l) => /DUPLICATE|STRAY/.test(l))).toBe(false);
    } finally {
      await watch.close();
    }
  });

  it('names the containers of a pod that has several when none was chosen, and keeps syncing the others', async () => {
    const { rec, watch } = await watching({ namespace: NS, selector: 'app=two' });
    try {
      cluster.createPod(NS, podBody('two-1', { app: 'two' }, ['web', 'sidecar']));
      cluster.createPod(NS, podBody('one-1', { app: 'two' }, ['web']));
      await rec.until('problem and sibling', () => rec.problems.has('two-1') && rec.live.has(`${NS}/one-1/web`));
      expect(rec.problems.get('two-1')!.message).toBe(`pod ${NS}/two-1 has 2 containers (web, sidecar); choose one with --container`);
      expect([...rec.live.keys()]).toEqual([`${NS}/one-1/web`]);
    } finally {
      await watch.close();
    }
  });

  it('follows the named container of a multi-container pod', async () => {
    const { rec, watch } = await watching({ namespace: NS, selector: 'app=named', container: 'sidecar' });
    try {
      cluster.createPod(NS, podBody('named-1', { app: 'named' }, ['web', 'sidecar']));
      await rec.until('sidecar added', () => rec.live.has(`${NS}/named-1/sidecar`));
      expect(dockerId(rec.live.get(`${NS}/named-1/sidecar`))).toBe(cluster.containerId(NS, 'named-1', 'sidecar'));
    } finally {
      await watch.close();
    }
  });

  it('follows one pod by name', async () => {
    const { rec, watch } = await watching({ namespace: NS, pod: 'byname-2' });
    try {
      cluster.createPod(NS, podBody('byname-1', { app: 'byname' }));
      cluster.createPod(NS, podBody('byname-2', { app: 'byname' }));
      await rec.until('byname-2 added', () => rec.live.has(`${NS}/byname-2/app`));
      await cluster.waitForRunning(NS, 'byname-1');
      expect([...rec.live.keys()]).toEqual([`${NS}/byname-2/app`]);
    } finally {
      await watch.close();
    }
  });

  it('reports a forbidden watch in words and recovers by itself once RBAC allows it', async () => {
    const token = `limited-${Math.random().toString(36).slice(2)}`;
    cluster.addUser(token, { name: 'system:serviceaccount:podwatch:limited', rules: [] });
    cluster.createPod(NS, podBody('rbac-1', { app: 'rbac' }));
    const rec = new Recorder();
    const watch = new PodWatch({ kc: cluster.kubeConfig({ token }), context: 'fake', selection: { namespace: NS, selector: 'app=rbac' },
      listener: rec.listener, watchBackoff: { baseMs: 50, maxMs: 200 } });
    try {
      await watch.start();
      await rec.until('problem', () => rec.problems.has(''));
      expect(rec.problems.get('')!.code).toBe('PERMISSION_DENIED');
      expect(rec.problems.get('')!.message).toMatch(/^cannot watch pods matching "app=rbac" in namespace "podwatch": RBAC forbids it \(pods is forbidden: .*cannot list resource "pods"/);
      cluster.addUser(token, { name: 'system:serviceaccount:podwatch:limited', rules: [{ verbs: ['list', 'watch'], resources: ['pods'] }] });
      await rec.until('recovered', () => !rec.problems.has('') && rec.live.has(`${NS}/rbac-1/app`));
    } finally {
      await watch.close();
    }
  });

  it('syncs a crash-looping container again once it runs, while its siblings stay synced untouched', async () => {
    cluster.createPod(NS, podBody('crash-1', { app: 'crash' }));
    cluster.createPod(NS, podBody('calm-1', { app: 'crash' }));
    await cluster.waitForRunning(NS, 'crash-1');
    await cluster.waitForRunning(NS, 'calm-1');
    const { rec, watch } = await watching({ namespace: NS, selector: 'app=crash' },
      { crashBackoff: { baseMs: 300, maxMs: 1000 }, stableAfterMs: 60_000 });
    try {
      await rec.until('both listed', () => rec.live.size === 2);
      const calm = instanceKey(rec.live.get(`${NS}/calm-1/app`)!);
      await cluster.crashContainer(NS, 'crash-1', { times: 3 });
      const settled = await cluster.waitForPod(NS, 'crash-1', () => (cluster.getPod(NS, 'crash-1')?.status as { containerStatuses?: { restartCount: number; state: Json }[] })
        ?.containerStatuses?.[0]?.restartCount === 3 && !!(cluster.getPod(NS, 'crash-1')!.status as { containerStatuses: { state: Json }[] }).containerStatuses[0].state.running);
      const finalId = cluster.containerId(NS, 'crash-1');
      expect(settled).toBeDefined();
      await rec.until('crash-1 synced again', () => dockerId(rec.live.get(`${NS}/crash-1/app`)) === finalId);
      expect(instanceKey(rec.live.get(`${NS}/calm-1/app`)!)).toBe(calm);
      expect(rec.log.filter((l) => l.startsWith('+calm-1'))).toHaveLength(1);
      expect(rec.log.some((l) => /DUPLICATE|STRAY/.test(l))).toBe(false);
    } finally {
      await watch.close();
    }
  });

  it('removes the target when its pod stops matching the selector', async () => {
    cluster.createPod(NS, podBody('relabel-1', { app: 'relabel' }));
    await cluster.waitForRunning(NS, 'relabel-1');
    const { rec, watch } = await watching({ namespace: NS, selector: 'app=relabel' });
    try {
      await rec.until('listed', () => rec.live.has(`${NS}/relabel-1/app`));
      const res = await fetch(`${cluster.server}/api/v1/namespaces/${NS}/pods/relabel-1`, {
        method: 'PATCH',
        headers: { Authorization: `Bearer ${cluster.adminToken}`, 'Content-Type': 'application/merge-patch+json' },
        body: JSON.stringify({ metadata: { labels: { app: 'elsewhere' } } }),
      });
      expect(res.status).toBe(200);
      await rec.until('removed', () => rec.live.size === 0);
      expect(rec.log.filter((l) => l.startsWith('-relabel-1'))).toHaveLength(1);
    } finally {
      await watch.close();
    }
  });
});
