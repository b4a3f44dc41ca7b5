// The etcd + watch-cache stand-in: objects by resource/namespace/name, one global, monotonically increasing
// resourceVersion, and a bounded window of past events that watches can resume from.
import { META_ORDER, ordered } from './objects.ts';
import type { Json } from './wire.ts';

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  type: EventType;
  rv: number;
  resource: string;
  namespace: string;
  object: Json;       // the object as of this event (DELETED: its last state with the delete's RV)
  prev: Json | null;  // the object before this event (null for ADDED)
}

export type StoreListener = (e: StoreEvent) => void;

export interface StoreOptions {
  /** How many events the watch cache keeps (the real one holds ~100 per resource at first). */
  windowSize: number;
  /** First resourceVersion handed out minus one. */
  initialRV?: number;
}

export class ObjectStore {
  private readonly objects = new Map<string, Json>();
  private readonly events: StoreEvent[] = [];
  private readonly listeners = new Set<StoreListener>();
  private readonly windowSize: number;
  private rv: number;
  /** Every event with rv > windowStart is still in `events`. */
  private windowStartRV: number;

  constructor(opts: StoreOptions) {
    this.windowSize = opts.windowSize;
    this.rv = opts.initialRV ?? 100;
    this.windowStartRV = 0;
  }

  currentRV(): number { return this.rv; }

  /** Oldest resourceVersion a watch can still start from. */
  windowStart(): number { return this.windowStartRV; }

  /** Drop every retained event, as etcd compaction plus watch-cache churn would: older RVs become "too old". */
  forgetHistory(): void {
    this.events.length = 0;
    this.windowStartRV = this.rv;
  }

  /** Advance the revision without an event in these resources (etcd writes elsewhere). */
  bump(): number { return ++this.rv; }

  get(resource: string, namespace: string, name: string): Json | undefined {
    const o = this.objects.get(key(resource, namespace, name));
    return o ? structuredClone(o) : undefined;
  }

  list(resource: string, namespace?: string): Json[] {
    const prefix = namespace === undefined ? `${resource}/` : `${resource}/${namespace}/`;
    const out: Json[] = [];
    for (const [k, v] of this.objects) if (k.startsWith(prefix)) out.push(structuredClone(v));
    return out.sort(byNamespaceAndName);
  }

  /** The objects as they were at `rv` (an exact-RV list), or 'expired' when that RV is outside the window. */
  listAt(resource: string, namespace: string | undefined, rv: number): Json[] | 'expired' {
    if (rv < this.windowStartRV) return 'expired';
    const state = new Map<string, Json>();
    for (const o of this.list(resource, namespace)) state.set(nameOf(o), o);
    for (let i = this.events.length - 1; i >= 0; i--) {
      const e = this.events[i];
      if (e.rv <= rv) break;
      if (e.resource !== resource || (namespace !== undefined && e.namespace !== namespace)) continue;
      const n = nameOf(e.object);
      if (e.prev) state.set(n, structuredClone(e.prev)); else state.delete(n);
    }
    return [...state.values()].sort(byNamespaceAndName);
  }

  /** Events after `rv`, or 'expired' when some of them are no longer retained. */
  eventsSince(rv: number): StoreEvent[] | 'expired' {
    if (rv < this.windowStartRV) return 'expired';
    return this.events.filter((e) => e.rv > rv);
  }

  create(resource: string, namespace: string, obj: Json): Json {
    const k = key(resource, namespace, nameOf(obj));
    if (this.objects.has(k)) throw new Error(`store: ${k} exists`);
    const stored = structuredClone(obj);
    setRV(stored, ++this.rv);
    this.objects.set(k, stored);
    this.emit({ type: 'ADDED', rv: this.rv, resource, namespace, object: stored, prev: null });
    return structuredClone(stored);
  }

  /** Apply `change` to a copy of the object and store it with a new RV; undefined when it does not exist. */
  mutate(resource: string, namespace: string, name: string, change: (draft: Json) => void): Json | undefined {
    const k = key(resource, namespace, name);
    const prev = this.objects.get(k);
    if (!prev) return undefined;
    const next = structuredClone(prev);
    change(next);
    setRV(next, ++this.rv);
    this.objects.set(k, next);
    this.emit({ type: 'MODIFIED', rv: this.rv, resource, namespace, object: next, prev });
    return structuredClone(next);
  }

  /** Replace the object wholesale (PUT); undefined when it does not exist. */
  replace(resource: string, namespace: string, obj: Json): Json | undefined {
    return this.mutate(resource, namespace, nameOf(obj), (draft) => {
      for (const k of Object.keys(draft)) delete draft[k];
      Object.assign(draft, structuredClone(obj));
    });
  }

  remove(resource: string, namespace: string, name: string): Json | undefined {
    const k = key(resource, namespace, name);
    const prev = this.objects.get(k);
    if (!prev) return undefined;
    this.objects.delete(k);
    const last = structuredClone(prev);
    setRV(last, ++this.rv);
    this.emit({ type: 'DELETED', rv: this.rv, resource, namespace, object: last, prev });
    return structuredClone(last);
  }

  subscribe(listener: StoreListener): () => void {
    this.listeners.add(listener);
    return () => { this.listeners.delete(listener); };
  }

  private emit(e: StoreEvent): void {
    this.events.push(e);
    while (this.events.length > this.windowSize) this.windowStartRV = this.events.shift()!.rv;
    for (const l of [...this.listeners]) l(e);
  }
}

export function nameOf(o: Json): string {
  return String((o.metadata as Json).name);
}

function key(resource: string, namespace: string, name: string): string {
  return `${resource}/${namespace}/${name}`;
}

function setRV(o: Json, rv: number): void {
  const m = o.metadata as Json;
  m.resourceVersion = String(rv);
  o.metadata = ordered(m, META_ORDER);
}

function byNamespaceAndName(a: Json, b: Json): number {
  const ma = a.metadata as Json;
  const mb = b.metadata as Json;
  const ka = `${String(ma.namespace ?? '')}/${String(ma.name)}`;
  const kb = `${String(mb.namespace ?? '')}/${String(mb.name)}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}
