// Walks the recordings 1–7 of ../shared/k8s-wire and sends the same requests to our server, in the same order,
// driving the same cluster events (Deployment, container kill, pod delete, scale, DaemonSet): status codes,
// header names, body shape and key order, Content-Length vs chunked, one watch event per chunk, and the
// port-forward frames must match what the real 1.24 apiserver sent. Grace periods are shortened to 1 s.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { execFile } from 'node:child_process';
import type { IncomingMessage } from 'node:http';
import { promisify } from 'node:util';
import { startFakeApiServer } from './fake-cluster.ts';
import type { FakeCluster } from './fake-cluster.ts';
import { eventually } from './helpers.ts';
import { comparableHeaderNames, header, loadExchanges, podSignature, rawHttp, shapeDiff } from './recordings.ts';
import type { Exchange, RawResult } from './recordings.ts';

const NOBODY_TOKEN = 'nobody-token';
let cluster: FakeCluster;

beforeAll(async () => {
  cluster = await startFakeApiServer({
    nodes: ['k8srig'], namespaces: ['wire', 'wire-inf'],
    users: { [NOBODY_TOKEN]: { name: 'system:serviceaccount:wire:nobody', rules: [] } },
  });
});
afterAll(async () => { await cluster?.close(); });

/** Keys the recordings have that this server does not produce, by path (see README "newer servers" for why). */
// The real managedFields order varies (status writer first on the DaemonSet pod); ours always appends the kubelet's.
const LACKING = ['.metadata.managedFields[].subresource'];

const json = (r: RawResult) => JSON.parse(r.body.toString());

/** What must hold for every plain JSON answer: same code, same headers, "\n" end, the 2048-byte rule. */
function expectLikeRecorded(r: RawResult, ex: Exchange): void {
  expect(r.status).toBe(ex.status);
  expect(comparableHeaderNames(r.headers.map(([k]) => k))).toEqual(comparableHeaderNames(ex.headerNames));
  expect(r.body.at(-1)).toBe(0x0a);
  expect(r.body.subarray(0, -1).toString()).toBe(JSON.stringify(json(r)));
  if (r.body.length < 2048) expect(header(r, 'content-length')).toBe(String(r.body.length));
  else expect(header(r, 'transfer-encoding')).toBe('chunked');
  // The recording obeys the same rule.
  if (ex.bodyLen !== undefined) expect(ex.headers['content-length'] !== undefined).toBe(ex.bodyLen < 2048);
}

/** Replace the recorded spec markers with the pod's previous spec, so signatures can read nodeName. */
function untrim(events: Exchange['events']): Exchange['events'] {
  const last = new Map<string, unknown>();
  return events.map((e) => {
    const name = e.object.metadata?.name;
    const spec = typeof e.object.spec === 'string' ? last.get(name) : e.object.spec;
    if (name) last.set(name, spec);
    return { ...e, object: { ...e.object, spec } };
  });
}

function byPod(events: Exchange['events']): Map<string, Exchange['events']> {
  const m = new Map<string, Exchange['events']>();
  for (const e of events) {
    if (e.type === 'BOOKMARK' || e.type === 'ERROR') continue;
    const n = e.object.metadata.name;
    m.set(n, [...(m.get(n) ?? []), e]);
  }
  return m;
}

function watchEvents(r: RawResult): { type: string; object: any; bytes: number }[] {
  return (r.chunkBodies ?? []).map((b) => ({ ...JSON.parse(b.toString()), bytes: b.length }));
}

function expectOneEventPerChunk(r: RawResult): void {
  expect(r.chunks!.at(-1)).toBe(0);
  for (const b of r.chunkBodies!) {
    expect(b.at(-1)).toBe(0x0a);
    expect(b.subarray(0, -1).includes(0x0a)).toBe(false);
  }
}

const f1 = loadExchanges('1-list-pods.jsonl');
const f2 = loadExchanges('2-watch-pods.jsonl');
const f3 = loadExchanges('3-too-old-resource-version.jsonl');
const f4 = loadExchanges('4-portforward-websocket.jsonl');
const f5 = loadExchanges('5-forbidden-unauthorized.jsonl');
const f6 = loadExchanges('6-notfound-and-daemonset-status.jsonl');
const f7 = loadExchanges('7-watch-without-rv-chunk-framing.jsonl');

describe('recordings 1 and 2: list, then watch a Deployment\'s life', () => {
  let watch: Promise<RawResult>;
  const firstRV = { value: '' };

  it('1: LIST with a label selector, empty', async () => {
    const ex = f1[0];
    const r = await rawHttp(cluster.server, ex.method, ex.url, cluster.adminToken);
    expectLikeRecorded(r, ex);
    firstRV.value = json(r).metadata.resourceVersion;
    expect(r.body.toString()).toBe(JSON.stringify({ ...(ex.body as object), metadata: { resourceVersion: firstRV.value } }) + '\n');
  });

  it('2: the watch, the Deployment POST, a container kill, a pod DELETE and a scale to 0 produce the recorded event sequence', async () => {
    const wx = f2.find((e) => e.url.includes('watch=true'))!;
    const url = wx.url.replace('resourceVersion=359', `resourceVersion=${firstRV.value}`).replace('timeoutSeconds=170', 'timeoutSeconds=120');
    watch = rawHttp(cluster.server, 'GET', url, cluster.adminToken);
    // (a) Deployment POST, as recorded but with a 1 s grace period.
    const post = f2.find((e) => e.method === 'POST')!;
    const body = structuredClone(post.requestBody) as any;
    body.spec.template.spec.terminationGracePeriodSeconds = 1;
    body.spec.template.spec.containers[0].image = 'kx-test-busybox:1';
    const created = await rawHttp(cluster.server, 'POST', post.url, cluster.adminToken, body);
    expectLikeRecorded(created, post);
    expect(shapeDiff(json(created), post.body, LACKING)).toEqual([]);
    const running = async () => eventually(() => {
      const pods = cluster.listPods('wire', 'app=api').filter((p) => p.status.phase === 'Running' && !p.metadata.deletionTimestamp);
      return pods.length === 2 ? pods : undefined;
    }, 30_000, 'two running replicas');
    const [p1, p2] = (await running()).sort((a, b) => Number(a.metadata.resourceVersion) - Number(b.metadata.resourceVersion));
    // (b) the second replica's container is killed; the kubelet replaces it.
    await cluster.restartContainer('wire', p2.metadata.name);
    // (c) DELETE of that pod (no body), 200 with the Pod object.
    const del = f2.find((e) => e.method === 'DELETE')!;
    const d = await rawHttp(cluster.server, 'DELETE', `/api/v1/namespaces/wire/pods/${p2.metadata.name}`, cluster.adminToken);
    expectLikeRecorded(d, del);
    expect(shapeDiff(json(d), del.body, LACKING)).toEqual([]);
    await eventually(() => !cluster.getPod('wire', p2.metadata.name), 30_000, 'deleted');
    await running();
    // (d) scale to 0 through the scale subresource.
    const sc = f2.find((e) => e.method === 'PATCH')!;
    const s = await rawHttp(cluster.server, 'PATCH', sc.url, cluster.adminToken, sc.requestBody, 'application/merge-patch+json');
    expectLikeRecorded(s, sc);
    expect(shapeDiff(json(s), sc.body, LACKING)).toEqual([]);
    expect(json(s).spec).toEqual({});
    await eventually(() => cluster.listPods('wire', 'app=api').length === 0, 30_000, 'scaled to 0');
    cluster.sendBookmarks();
    cluster.endWatches();
    const r = await watch;
    expect(r.status).toBe(200);
    expect(comparableHeaderNames(r.headers.map(([k]) => k))).toEqual(comparableHeaderNames(wx.headerNames));
    expectOneEventPerChunk(r);
    const ours = watchEvents(r);
    expect(ours.at(-1)).toMatchObject({ type: 'BOOKMARK' });
    expect(ours.at(-1)!.object).toEqual({ ...wx.events.at(-1)!.object, metadata: { resourceVersion: cluster.resourceVersion(), creationTimestamp: null } });
    // Per pod, the same sequence of states; our pods map to the recorded ones by role.
    const rec = byPod(untrim(wx.events));
    const got = byPod(ours);
    const roles: [string, string][] = [['api-74d79b8987-xp2ws', p1.metadata.name], ['api-74d79b8987-c69zt', p2.metadata.name]];
    const replacement = [...got.keys()].find((n) => n !== p1.metadata.name && n !== p2.metadata.name)!;
    roles.push(['api-74d79b8987-cjrc9', replacement]);
    for (const [recName, ourName] of roles) {
      const want = rec.get(recName)!.map((e) => podSignature(e.type, e.object));
      expect(got.get(ourName)!.map((e) => podSignature(e.type, e.object))).toEqual(want);
      rec.get(recName)!.forEach((e, i) => expect(shapeDiff(got.get(ourName)![i].object, e.object, LACKING)).toEqual([]));
    }
  }, 120_000);
});

describe('recording 3: too-old resourceVersion', () => {
  it('replays history for RV=1 while nothing has been evicted', async () => {
    const ex = f3[0];
    const r = await rawHttp(cluster.server, 'GET', ex.url.replace('timeoutSeconds=30', 'timeoutSeconds=1'), cluster.adminToken);
    expect(r.status).toBe(ex.status);
    expectOneEventPerChunk(r);
    // The recording's replay is file 2's history; ours is our file-2 run: same types per pod.
    const types = [...byPod(watchEvents(r)).values()].map((evs) => evs.map((e) => e.type).join(','));
    const recTypes = [...byPod(f2.find((e) => e.url.includes('watch=true'))!.events).values()].map((evs) => evs.map((e) => e.type).join(','));
    expect(types.sort()).toEqual(recTypes.sort());
  });

  it('answers an exact-RV list after compaction with HTTP 410 and the recorded body', async () => {
    const ex = f3.find((e) => e.url.includes('resourceVersionMatch=Exact'))!;
    const old = cluster.resourceVersion();
    cluster.createPod('wire-inf', { metadata: { name: 'churn' }, spec: { nodeName: 'elsewhere', containers: [{ name: 'c', image: 'x' }] } });
    cluster.forgetHistory();
    const r = await rawHttp(cluster.server, 'GET', ex.url.replace('resourceVersion=359', `resourceVersion=${old}`), cluster.adminToken);
    expectLikeRecorded(r, ex);
    expect(json(r)).toEqual(ex.body);
  });

  it('answers watches from a compacted RV with 200, one ERROR event in one chunk, and the end', async () => {
    for (const ex of f3.filter((e) => e.events.length === 1 && e.events[0].type === 'ERROR')) {
      // Any RV from before forgetHistory() is compacted here, as the recorded ones were there.
      const r = await rawHttp(cluster.server, 'GET', ex.url.replace(/resourceVersion=\d+/, 'resourceVersion=101'), cluster.adminToken);
      expect(r.status).toBe(200);
      expect(header(r, 'transfer-encoding')).toBe('chunked');
      expectOneEventPerChunk(r);
      const evs = watchEvents(r);
      expect(evs).toHaveLength(1);
      const want = ex.events[0].object;
      const message = String(want.message).replace(/: \d+ \(\d+\)$/, ': ');
      expect({ ...evs[0].object, message: String(evs[0].object.message).replace(/: \d+ \(\d+\)$/, ': ') }).toEqual({ ...want, message });
      if (ex.chunks) expect(r.chunks!.length).toBe(ex.chunks.length);
    }
  });

  it('answers the informer\'s event list as an EventList', async () => {
    const ex = f3.find((e) => e.url === '/api/v1/namespaces/wire-inf/events' && e.body)!;
    const r = await rawHttp(cluster.server, 'GET', ex.url, cluster.adminToken);
    expectLikeRecorded(r, ex);
    expect({ ...json(r), metadata: {} }).toEqual({ ...(ex.body as object), metadata: {} });
  });
});

describe('recording 4: port-forward', () => {
  interface Opened { ws: WebSocket; res: IncomingMessage; frames: Buffer[]; closed: Promise<number> }
  const open = (url: string, protocols: string[]) => new Promise<Opened>((resolve, reject) => {
    const ws = new WebSocket(`${cluster.server.replace('http', 'ws')}${url}`, protocols, { headers: { Authorization: `Bearer ${cluster.adminToken}` } });
    const frames: Buffer[] = [];
    const closed = new Promise<number>((r) => ws.on('close', (c) => r(c)));
    ws.on('message', (d: Buffer) => frames.push(d));
    ws.on('upgrade', (res) => ws.once('open', () => resolve({ ws, res, frames, closed })));
    ws.on('error', reject);
  });
  const offered = (ex: Exchange) =>
    (ex.requestHeaders.find(([k]) => k.toLowerCase() === 'sec-websocket-protocol')?.[1] ?? '').split(',');

  it('creates the pod as recorded (404 for the delete before, 201 for the POST)', async () => {
    const del = f4[0];
    const r = await rawHttp(cluster.server, 'DELETE', del.url, cluster.adminToken);
    expectLikeRecorded(r, del);
    expect(json(r)).toEqual(del.body);
    const post = f4[1];
    const body = structuredClone(post.requestBody) as any;
    body.spec.terminationGracePeriodSeconds = 1;
    body.spec.containers[0].image = 'kx-test-busybox:1';
    body.spec.containers[0].ports = [{ containerPort: 8080 }];
    const c = await rawHttp(cluster.server, 'POST', post.url, cluster.adminToken, body);
    expectLikeRecorded(c, post);
    expect(shapeDiff(json(c), post.body, LACKING)).toEqual([]);
    await cluster.waitForRunning('wire', 'web');
    // The container runs before httpd listens (the recorded pod has no readiness probe): wait for its socket to be
    // in LISTEN (0A) on port 8080 (1F90), IPv4 or IPv6, or the next test's request could reach no one.
    const id = cluster.containerId('wire', 'web')!;
    const listening = () => promisify(execFile)('docker', ['exec', id, '/bin/busybox', 'grep', '-qE', ':1F90 0+:0000 0A', '/proc/net/tcp', '/proc/net/tcp6'])
      .then(() => true, () => false);
    await eventually(listening, 10_000, 'httpd listening');
  });

  it('forwards an HTTP request: v4, no extensions, prefix frames, channel-0 data, Close 1000 after the target closed', async () => {
    const ex = f4.find((e) => e.url.endsWith('ports=8080'))!;
    const o = await open(ex.url, offered(ex));
    expect(Object.keys(o.res.headers).filter((h) => h.startsWith('sec-websocket') || h === 'upgrade' || h === 'connection').sort())
      .toEqual(ex.upgradeHeaders!.map(([k]) => k.toLowerCase()).sort());
    expect(o.ws.protocol).toBe('v4.channel.k8s.io');
    await eventually(() => o.frames.length >= 2, 5000, 'prefix frames');
    const sent = ex.frames.find((f) => f.dir === 'c2s')!;
    o.ws.send(Buffer.concat([Buffer.from([0]), Buffer.from(sent.dataHex!, 'hex')]));
    expect(await o.closed).toBe(1000);
    const recS2c = ex.frames.filter((f) => f.dir === 's2c' && f.opcode === 2);
    expect(o.frames.slice(0, 2).map((b) => b.toString('hex'))).toEqual(recS2c.slice(0, 2).map((f) => `0${f.channel}${f.dataHex}`));
    expect(o.frames.slice(2).every((b) => b[0] === 0)).toBe(true);
    expect(Buffer.concat(o.frames.slice(2).map((b) => b.subarray(1))).toString()).toMatch(/^HTTP\/1\.[01] 200 OK\r\n/);
  });

  it('refuses a closed port: prefix frames, the error text on channel 1, Close 1000', async () => {
    const ex = f4.find((e) => e.url.endsWith('ports=9999'))!;
    const o = await open(ex.url, offered(ex));
    expect(await o.closed).toBe(1000);
    const rec = ex.frames.filter((f) => f.dir === 's2c' && f.opcode === 2);
    expect(o.frames.map((b) => b[0])).toEqual(rec.map((f) => f.channel));
    const pattern = rec[2].dataText!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/[0-9a-f]{64}/g, '[0-9a-f]{64}').replace('cni-<uuid>', 'cni-[-0-9a-f]+');
    expect(o.frames[2].subarray(1).toString()).toMatch(new RegExp(`^${pattern}$`));
  });

  it('closes an idle forward with Close 1000 and nothing else when the pod is deleted', async () => {
    const ex = f4.filter((e) => e.url.endsWith('ports=8080')).at(-1)!;
    const o = await open(ex.url, offered(ex));
    const del = f4.filter((e) => e.method === 'DELETE').at(-1)!;
    const r = await rawHttp(cluster.server, 'DELETE', del.url, cluster.adminToken);
    expectLikeRecorded(r, del);
    expect(shapeDiff(json(r), del.body, LACKING)).toEqual([]);
    expect(await o.closed).toBe(ex.frames.find((f) => f.opcode === 8)!.closeCode);
    expect(o.frames).toHaveLength(2);
  });
});

describe('recording 5: 403 and 401', () => {
  for (const ex of f5) {
    it(`${ex.note}: ${ex.method} ${ex.url} → ${ex.status}`, async () => {
      const token = ex.note?.includes('unauthorized') ? 'bogus' : NOBODY_TOKEN;
      if (ex.rawBody !== undefined) {
        const r = await rawUpgrade(ex.url, token);
        expect(r.statusLine).toBe(`HTTP/1.1 ${ex.status} ${ex.status === 403 ? 'Forbidden' : 'Unauthorized'}`);
        expect(r.headerNames).toEqual(ex.headerNames);
        expect(r.body).toBe(ex.rawBody);
        return;
      }
      const r = await rawHttp(cluster.server, ex.method, ex.url, token);
      expectLikeRecorded(r, ex);
      expect(json(r)).toEqual(ex.body);
      expect(r.body.length).toBe(ex.bodyLen);
    });
  }
});

describe('recording 6: 404 and DaemonSet status', () => {
  it('answers the 404s with the recorded bodies', async () => {
    for (const ex of f6.filter((e) => e.status === 404)) {
      const r = await rawHttp(cluster.server, ex.method, ex.url, cluster.adminToken);
      expectLikeRecorded(r, ex);
      expect(json(r)).toEqual(ex.body);
    }
  });

  it('creates, polls, patches and deletes the DaemonSet with the recorded shapes and final statuses', async () => {
    const post = f6.find((e) => e.method === 'POST')!;
    const body = structuredClone(post.requestBody) as any;
    body.spec.template.spec.containers[0].image = 'kx-test-busybox:1';
    body.spec.template.spec.terminationGracePeriodSeconds = 1;
    const c = await rawHttp(cluster.server, 'POST', post.url, cluster.adminToken, body);
    expectLikeRecorded(c, post);
    expect(shapeDiff(json(c), post.body, LACKING)).toEqual([]);
    expect(json(c).status).toEqual((post.body as any).status);
    const polls = f6.filter((e) => e.url.endsWith('/status'));
    const doneStatus = (ex: Exchange) => (ex.body as any).status;
    const poll = () => rawHttp(cluster.server, 'GET', polls[0].url, cluster.adminToken);
    const first = await eventually(async () => { const r = await poll(); return json(r).status.numberAvailable ? r : undefined; }, 30_000, 'rollout 1');
    expectLikeRecorded(first, polls[1]);
    expect(shapeDiff(json(first), polls[1].body, LACKING)).toEqual([]);
    expect(json(first).status).toEqual(doneStatus(polls[1]));
    const patch = f6.find((e) => e.method === 'PATCH')!;
    const p = await rawHttp(cluster.server, 'PATCH', patch.url, cluster.adminToken, patch.requestBody, 'application/merge-patch+json');
    expectLikeRecorded(p, patch);
    expect(json(p).metadata.generation).toBe(2);
    expect(json(p).status).toEqual((patch.body as any).status);
    const second = await eventually(async () => {
      const r = await poll();
      const s = json(r).status;
      return s.observedGeneration === 2 && s.updatedNumberScheduled === 1 && s.numberAvailable === 1 ? r : undefined;
    }, 30_000, 'rollout 2');
    expect(json(second).status).toEqual(doneStatus(polls.at(-1)!));
  }, 60_000);
});

describe('recording 7: watch without resourceVersion', () => {
  it('starts with synthetic ADDED, follows the DaemonSet pod to DELETED, one event per chunk, a bookmark, the end', async () => {
    const wx = f7[0];
    const before = cluster.listPods('wire').length;
    const watch = rawHttp(cluster.server, 'GET', wx.url, cluster.adminToken);
    await eventually(async () => (await rawHttp(cluster.server, 'GET', '/api/v1/namespaces/wire/pods', cluster.adminToken)).status === 200, 1000, 'server');
    const del = f6.find((e) => e.method === 'DELETE' && e.url.includes('daemonsets'))!;
    const uid = cluster.getObject('daemonsets', 'wire', 'agent')!.metadata.uid;
    const r = await rawHttp(cluster.server, 'DELETE', del.url, cluster.adminToken);
    expectLikeRecorded(r, del);
    expect(json(r)).toEqual({ ...(del.body as any), details: { ...(del.body as any).details, uid } });
    await eventually(() => cluster.listPods('wire', 'app=agent').length === 0, 30_000, 'agent pod gone');
    cluster.sendBookmarks();
    cluster.endWatches();
    const w = await watch;
    expect(w.status).toBe(200);
    expectOneEventPerChunk(w);
    const evs = watchEvents(w);
    expect(evs.slice(0, before).every((e) => e.type === 'ADDED')).toBe(true);
    const rec = byPod(untrim(wx.events));
    const ours = byPod(evs);
    const recAgent = [...rec.entries()].find(([n]) => n.startsWith('agent-'))![1];
    const ourAgent = [...ours.entries()].find(([n]) => n.startsWith('agent-'))![1];
    expect(ourAgent.map((e) => podSignature(e.type, e.object))).toEqual(recAgent.map((e) => podSignature(e.type, e.object)));
    recAgent.forEach((e, i) => expect(shapeDiff(ourAgent[i].object, e.object, LACKING)).toEqual([]));
    expect(evs.at(-1)!.type).toBe('BOOKMARK');
    expect(w.chunks!.length).toBe(evs.length + 1);
  }, 60_000);
});

/** A WebSocket upgrade written by hand, to read the plain HTTP refusal exactly. */
async function rawUpgrade(path: string, token: string): Promise<{ statusLine: string; headerNames: string[]; body: string }> {
  const { default: net } = await import('node:net');
  const url = new URL(cluster.server);
  const all = await new Promise<string>((resolve, reject) => {
    const s = net.connect(Number(url.port), '127.0.0.1', () => {
      s.write(`GET ${path} HTTP/1.1\r\nAuthorization: Bearer ${token}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: 812+Pqnx/IObr251LrqR1g==\r\n` +
        `Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n` +
        `Sec-WebSocket-Protocol: v5.channel.k8s.io,v4.channel.k8s.io,v3.channel.k8s.io,v2.channel.k8s.io,channel.k8s.io\r\nHost: ${url.host}\r\n\r\n`);
    });
    let got = '';
    s.on('data', (d) => { got += d.toString(); });
    s.on('close', () => resolve(got));
    s.on('error', reject);
  });
  const [head, body] = [all.slice(0, all.indexOf('\r\n\r\n')), all.slice(all.indexOf('\r\n\r\n') + 4)];
  const lines = head.split('\r\n');
  return { statusLine: lines[0], headerNames: lines.slice(1).map((l) => l.split(':')[0]), body };
}
