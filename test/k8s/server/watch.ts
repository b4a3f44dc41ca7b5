// A watch stream (README §2, §3, §7): 200 + chunked JSON lines, one event per chunk, replay from a
// resourceVersion out of the event window (or synthetic ADDED without one), 410 inside an ERROR event when the
// RV is too old, BOOKMARKs, and the end of the body when timeoutSeconds runs out.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ResourceType } from './resources.ts';
import type { Selector } from './selectors.ts';
import type { ObjectStore, StoreEvent } from './store.ts';
import { baseHeaders, tooOldWatch, tooOldWatchFromEtcd } from './wire.ts';
import type { FlowControl, Json } from './wire.ts';

export interface WatchParams {
  type: ResourceType;
  namespace?: string;
  selector: Selector;
  resourceVersion?: string;
  allowBookmarks: boolean;
  timeoutSeconds?: number;
}

export interface WatchSettings {
  store: ObjectStore;
  flow: FlowControl;
  /** The real watch cache sends bookmarks about every 60 s. */
  bookmarkIntervalMs: number;
  /** Stream length when the client gives no timeoutSeconds (the apiserver picks 30–60 min). */
  defaultTimeoutSeconds: number;
}

/** One open watch; `bookmark()` sends a BOOKMARK now (if the client allowed them), `end()` ends the body. */
export interface OpenWatch { bookmark(): void; end(): void }

export function serveWatch(req: IncomingMessage, res: ServerResponse, p: WatchParams, s: WatchSettings): OpenWatch {
  res.writeHead(200, baseHeaders({ flow: s.flow }).flat());
  res.flushHeaders();
  let ended = false;
  const timers: NodeJS.Timeout[] = [];
  let unsubscribe = () => {};
  const end = () => {
    if (ended) return;
    ended = true;
    unsubscribe();
    for (const t of timers) clearTimeout(t);
    if (!res.writableEnded) res.end();
  };
  const write = (type: string, object: Json) => {
    if (!ended) res.write(JSON.stringify({ type, object }) + '\n');
  };
  const bookmark = () => { if (p.allowBookmarks) write('BOOKMARK', p.type.bookmark(s.store.currentRV())); };
  req.on('close', end);
  res.on('close', end);

  const inScope = (e: StoreEvent) => e.resource === p.type.resource && (p.namespace === undefined || e.namespace === p.namespace);
  const deliver = (e: StoreEvent) => {
    if (!inScope(e)) return;
    const now = e.type !== 'DELETED' && p.selector(e.object);
    const before = e.prev !== null && p.selector(e.prev);
    if (e.type === 'DELETED') { if (before) write('DELETED', e.object); return; }
    if (now && before) write('MODIFIED', e.object);
    else if (now) write('ADDED', e.object);
    else if (before) write('DELETED', e.object);
  };

  const rv = p.resourceVersion;
  if (rv === undefined || rv === '' || rv === '0') {
    for (const o of s.store.list(p.type.resource, p.namespace)) if (p.selector(o)) write('ADDED', o);
  } else {
    const from = Number(rv);
    const past = Number.isFinite(from) ? s.store.eventsSince(from) : 'expired';
    if (past === 'expired') {
      write('ERROR', p.type.watchCache ? tooOldWatch(rv, s.store.windowStart() + 1) : tooOldWatchFromEtcd());
      end();
      return { bookmark, end };
    }
    for (const e of past) deliver(e);
  }
  // Replay and subscribe happen in one synchronous turn: no event can fall between them.
  unsubscribe = s.store.subscribe(deliver);

  const timeoutMs = (p.timeoutSeconds ?? s.defaultTimeoutSeconds) * 1000;
  timers.push(setTimeout(end, timeoutMs));
  if (p.allowBookmarks) {
    const every = setInterval(bookmark, s.bookmarkIntervalMs);
    timers.push(every);
    // The 1.24 cache also sent one in the last ~2 s before the timeout.
    if (timeoutMs > 2000) timers.push(setTimeout(bookmark, timeoutMs - 1500));
  }
  return { bookmark, end };
}
