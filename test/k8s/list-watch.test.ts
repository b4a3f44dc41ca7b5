// LIST and WATCH semantics through the real client-node: selectors, resourceVersion, 410, bookmarks, timeouts,
// informer relist. No nodes here, so pods stay Pending and no container is started.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiException, CoreV1Api, PatchStrategy, makeInformer, setHeaderOptions } from '@kubernetes/client-node';
import type { KubeConfig, V1Pod } from '@kubernetes/client-node';
import { startFakeApiServer } from './fake-cluster.ts';
import type { FakeCluster } from './fake-cluster.ts';
import { collectWatch, eventually, rawRequest } from './helpers.ts';

const NS = 'wire';
let cluster: FakeCluster;
let kc: KubeConfig;
let api: CoreV1Api;

const pod = (name: string, labels: Record<string, string>, nodeName?: string) => ({
  metadata: { name, labels },
  spec: { ...(nodeName ? { nodeName } : {}), containers: [{ name: 'c', image: 'kx-test-busybox:1' }] },
});
const names = (items: V1Pod[]) => items.map((p) => p.metadata!.name).sort();

beforeAll(async () => {
  cluster = await startFakeApiServer({ nodes: [], namespaces: [NS, 'other'] });
  kc = cluster.kubeConfig();
  api = kc.makeApiClient(CoreV1Api);
  cluster.createPod(NS, pod('a1', { app: 'api', tier: 'web' }, 'ghost-1'));
  cluster.createPod(NS, pod('a2', { app: 'api', tier: 'db' }, 'ghost-2'));
  cluster.createPod(NS, pod('b1', { app: 'batch' }));
  cluster.createPod('other', pod('o1', { app: 'api' }));
});
afterAll(async () => { await cluster?.close(); });

describe('LIST pods', () => {
  it.each([
    ['app=api', ['a1', 'a2']],
    ['app!=api', ['b1']],
    ['tier in (web,cache)', ['a1']],
    ['tier notin (web)', ['a2', 'b1']],
    ['tier', ['a1', 'a2']],
    ['!tier', ['b1']],
    ['app=api,tier=db', ['a2']],
  ])('selects by label selector %s', async (labelSelector, want) => {
    const list = await api.listNamespacedPod({ namespace: NS, labelSelector });
    expect(names(list.items)).toEqual(want);
  });

  it('selects by fieldSelector metadata.name and spec.nodeName', async () => {
    expect(names((await api.listNamespacedPod({ namespace: NS, fieldSelector: 'metadata.name=a2' })).items)).toEqual(['a2']);
    expect(names((await api.listNamespacedPod({ namespace: NS, fieldSelector: 'spec.nodeName=ghost-1' })).items)).toEqual(['a1']);
    expect(names((await api.listNamespacedPod({ namespace: NS, fieldSelector: 'spec.nodeName!=ghost-1' })).items)).toEqual(['a2', 'b1']);
  });

  it('lists across namespaces at /api/v1/pods', async () => {
    const list = await api.listPodForAllNamespaces({ labelSelector: 'app=api' });
    expect(list.items.map((p) => `${p.metadata!.namespace}/${p.metadata!.name}`).sort()).toEqual(['other/o1', 'wire/a1', 'wire/a2']);
  });

  it('answers an empty list as recorded: 85-byte shape, Content-Length, compact JSON and a newline', async () => {
    const r = await rawRequest(cluster.server, 'GET', `/api/v1/namespaces/${NS}/pods?labelSelector=app%3Dnone`, cluster.adminToken);
    expect(r.status).toBe(200);
    expect(r.body).toBe(`{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"${cluster.resourceVersion()}"},"items":[]}\n`);
    expect(r.headers['content-length']).toBe(String(Buffer.byteLength(r.body)));
    for (const h of ['audit-id', 'cache-control', 'x-kubernetes-pf-flowschema-uid', 'x-kubernetes-pf-prioritylevel-uid', 'date']) expect(r.headers[h]).toBeTruthy();
    expect(r.headers['cache-control']).toBe('no-cache, private');
  });

  it('sends list items without kind/apiVersion, chunked once the body reaches 2048 bytes', async () => {
    const r = await rawRequest(cluster.server, 'GET', `/api/v1/namespaces/${NS}/pods`, cluster.adminToken);
    expect(r.headers['transfer-encoding']).toBe('chunked');
    expect(r.headers['content-length']).toBeUndefined();
    const body = JSON.parse(r.body);
    expect(Object.keys(body)).toEqual(['kind', 'apiVersion', 'metadata', 'items']);
    expect(Object.keys(body.metadata)).toEqual(['resourceVersion']);
    expect(Object.keys(body.items[0])).toEqual(['metadata', 'spec', 'status']);
  });

  it('answers 410 Expired to an exact-RV list whose RV is no longer retained', async () => {
    const old = cluster.resourceVersion();
    cluster.createPod(NS, pod('churn-1', { app: 'churn' }));
    cluster.forgetHistory();
    const err = await api.listNamespacedPod({ namespace: NS, resourceVersion: old, resourceVersionMatch: 'Exact' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiException);
    expect((err as ApiException<string>).code).toBe(410);
    const r = await rawRequest(cluster.server, 'GET', `/api/v1/namespaces/${NS}/pods?resourceVersion=${old}&resourceVersionMatch=Exact`, cluster.adminToken);
    expect(r.body).toBe('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"The resourceVersion for the provided list is too old.","reason":"Expired","code":410}\n');
    expect(r.headers['content-length']).toBe('165');
  });

  it('lists the state as of an exact RV still in the window', async () => {
    const before = cluster.resourceVersion();
    cluster.createPod(NS, pod('later', { app: 'exact' }));
    const then = await api.listNamespacedPod({ namespace: NS, labelSelector: 'app=exact', resourceVersion: before, resourceVersionMatch: 'Exact' });
    const now = await api.listNamespacedPod({ namespace: NS, labelSelector: 'app=exact' });
    expect(then.metadata!.resourceVersion).toBe(before);
    expect(names(then.items)).toEqual([]);
    expect(names(now.items)).toEqual(['later']);
  });
});

describe('WATCH pods', () => {
  it('starts with a synthetic ADDED per existing pod when no resourceVersion is given', async () => {
    const w = await collectWatch(kc, `/api/v1/namespaces/${NS}/pods`, { labelSelector: 'app=api', timeoutSeconds: 20 });
    await w.until((_e, all) => all.length >= 2);
    w.abort();
    expect(w.events.map((e) => `${e.type} ${e.object.metadata.name}`).sort()).toEqual(['ADDED a1', 'ADDED a2']);
    expect(w.events[0].object.kind).toBe('Pod');
    expect(w.events[0].object.apiVersion).toBe('v1');
  });

  it('delivers changes after the list RV in increasing RV order, including a pod leaving the selector', async () => {
    const list = await api.listNamespacedPod({ namespace: NS, labelSelector: 'app=live' });
    const w = await collectWatch(kc, `/api/v1/namespaces/${NS}/pods`, { labelSelector: 'app=live', resourceVersion: list.metadata!.resourceVersion, allowWatchBookmarks: true, timeoutSeconds: 30 });
    cluster.createPod(NS, pod('l1', { app: 'live' }));
    await api.patchNamespacedPod({ namespace: NS, name: 'l1', body: { metadata: { labels: { app: 'gone' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    await w.until((e) => e.type === 'DELETED');
    w.abort();
    // Between ADDED and DELETED the scheduler reports the pod unschedulable (MODIFIED): there are no nodes.
    const types = w.events.map((e) => e.type);
    expect(types[0]).toBe('ADDED');
    expect(types.at(-1)).toBe('DELETED');
    expect(types.slice(1, -1).every((t) => t === 'MODIFIED')).toBe(true);
    const rvs = w.events.map((e) => Number(e.object.metadata.resourceVersion));
    expect(rvs).toEqual([...rvs].sort((a, b) => a - b));
    expect(w.events.at(-1)!.object.metadata.labels.app).toBe('gone');
  });

  it('replays the events after a resourceVersion that is still in the window', async () => {
    const from = cluster.resourceVersion();
    cluster.createPod(NS, pod('r1', { app: 'replay' }));
    cluster.createPod(NS, pod('r2', { app: 'replay' }));
    const w = await collectWatch(kc, `/api/v1/namespaces/${NS}/pods`, { labelSelector: 'app=replay', resourceVersion: from, timeoutSeconds: 20 });
    await w.until((_e, all) => all.filter((e) => e.type === 'ADDED').length >= 2);
    w.abort();
    expect(w.events.filter((e) => e.type === 'ADDED').map((e) => e.object.metadata.name)).toEqual(['r1', 'r2']);
  });

  it('answers a too-old resourceVersion with 200, one ERROR 410 event and the end of the stream', async () => {
    const old = cluster.resourceVersion();
    cluster.createPod(NS, pod('x1', { app: 'expire' }));
    cluster.forgetHistory();
    const oldestServable = Number(cluster.resourceVersion()) + 1;
    const w = await collectWatch(kc, `/api/v1/namespaces/${NS}/pods`, { resourceVersion: old, allowWatchBookmarks: true, timeoutSeconds: 30 });
    expect(await w.done).toBeNull();
    expect(w.events).toHaveLength(1);
    expect(w.events[0].type).toBe('ERROR');
    expect(w.events[0].object).toEqual({
      kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
      message: `too old resource version: ${old} (${oldestServable})`, reason: 'Expired', code: 410,
    });
  });

  it('sends BOOKMARK events with the current RV when the client allows them', async () => {
    const w = await collectWatch(kc, `/api/v1/namespaces/${NS}/pods`, { labelSelector: 'app=none', resourceVersion: cluster.resourceVersion(), allowWatchBookmarks: true, timeoutSeconds: 30 });
    cluster.sendBookmarks();
    const b = await w.until((e) => e.type === 'BOOKMARK');
    w.abort();
    expect(b.object).toEqual({ kind: 'Pod', apiVersion: 'v1', metadata: { resourceVersion: cluster.resourceVersion(), creationTimestamp: null }, spec: { containers: null }, status: {} });
  });

  it('sends no BOOKMARK to a watch that did not ask for them', async () => {
    const w = await collectWatch(kc, `/api/v1/namespaces/${NS}/pods`, { labelSelector: 'app=quiet', resourceVersion: cluster.resourceVersion(), timeoutSeconds: 30 });
    cluster.sendBookmarks();
    cluster.createPod(NS, pod('q1', { app: 'quiet' }));
    await w.until((e) => e.type === 'ADDED');
    cluster.sendBookmarks();
    await w.until((e) => e.type === 'MODIFIED');
    w.abort();
    expect(w.events.map((e) => e.type)).not.toContain('BOOKMARK');
  });

  it('ends the body when timeoutSeconds runs out', async () => {
    const w = await collectWatch(kc, `/api/v1/namespaces/${NS}/pods`, { labelSelector: 'app=none', timeoutSeconds: 1 });
    expect(await w.done).toBeNull();
  });
});

describe('informer (makeInformer / ListWatch)', () => {
  it('relists after its watch gets 410 and then sees pods created meanwhile', async () => {
    let lists = 0;
    const path = `/api/v1/namespaces/${NS}/pods`;
    const informer = makeInformer(kc, path, () => { lists++; return api.listNamespacedPod({ namespace: NS, labelSelector: 'app=inf' }); }, 'app=inf');
    const added: string[] = [];
    informer.on('add', (p) => added.push(p.metadata!.name!));
    informer.on('error', () => {});
    cluster.createPod(NS, pod('i1', { app: 'inf' }));
    await informer.start();
    await eventually(() => added.includes('i1'), 10_000, 'i1 added');
    expect(lists).toBe(1);
    cluster.createPod(NS, pod('i2', { app: 'inf' }));
    await eventually(() => added.includes('i2'), 10_000, 'i2 added by the watch');
    // A write elsewhere moves the revision past what the informer saw; then history is dropped and its
    // watch ends: the re-watch from its last RV gets ERROR 410, and the informer relists.
    cluster.createPod('other', pod('elsewhere', { app: 'x' }));
    cluster.forgetHistory();
    cluster.endWatches();
    await eventually(() => lists >= 2, 20_000, 'relist');
    cluster.createPod(NS, pod('i3', { app: 'inf' }));
    await eventually(() => added.includes('i3'), 20_000, 'i3 added after the relist');
    await informer.stop();
    expect(informer.list().map((p) => p.metadata!.name).sort()).toEqual(['i1', 'i2', 'i3']);
  });
});
