// Small test helpers around client-node's real Watch and raw HTTP.
import http from 'node:http';
import { Watch } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { poll } from '../support/poll.ts';

export interface SeenEvent { type: string; object: Record<string, any> }

export interface Collected {
  events: SeenEvent[];
  /** Resolves when client-node calls done (with its error, or null). */
  done: Promise<unknown>;
  abort(): void;
  /** Resolves once an event satisfying `pred` has arrived. */
  until(pred: (e: SeenEvent, all: SeenEvent[]) => boolean, timeoutMs?: number): Promise<SeenEvent>;
}

export async function collectWatch(kc: KubeConfig, path: string, params: Record<string, string | number | boolean | undefined>): Promise<Collected> {
  const events: SeenEvent[] = [];
  const waiters: { pred: (e: SeenEvent, all: SeenEvent[]) => boolean; resolve: (e: SeenEvent) => void }[] = [];
  let finish!: (err: unknown) => void;
  const done = new Promise<unknown>((r) => { finish = r; });
  const ctl = await new Watch(kc).watch(path, params, (type, object) => {
    const e = { type, object };
    events.push(e);
    for (const w of [...waiters]) if (w.pred(e, events)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(e); }
  }, (err) => finish(err));
  return {
    events, done,
    abort: () => ctl.abort(),
    until(pred, timeoutMs = 30_000) {
      const hit = events.find((e) => pred(e, events));
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no matching watch event; saw ${events.map((e) => e.type).join(',')}`)), timeoutMs);
        waiters.push({ pred, resolve: (e) => { clearTimeout(t); resolve(e); } });
      });
    },
  };
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
}

/** One plain HTTP request, for checking what client-node's typed API hides (headers, exact bytes). */
export function rawRequest(server: string, method: string, path: string, token: string | null, body?: unknown, contentType = 'application/json'): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { Accept: 'application/json, */*;q=0.8' };
    if (token) headers.Authorization = `Bearer ${token}`;
    const data = body === undefined ? undefined : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    if (data) { headers['Content-Type'] = contentType; headers['Content-Length'] = String(data.length); }
    const req = http.request(`${server}${path}`, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

export function eventually<T>(fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 30_000, what = 'condition'): Promise<T> {
  return poll(what, fn, timeoutMs);
}

export const SLEEP_POD = (name: string, labels: Record<string, string> = { app: 'api' }) => ({
  metadata: { name, labels },
  spec: {
    terminationGracePeriodSeconds: 1,
    containers: [{ name: 'api', image: 'kx-test-busybox:1', command: ['/bin/busybox', 'sleep', '3600'] }],
  },
});
