// Reading ../shared/k8s-wire/recordings and comparing our server's answers with them: a raw HTTP/1.1 client
// that keeps chunk boundaries, and a shape comparison (keys present, key order, value types).
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { resolve } from 'node:path';

/** shared/ lies beside the checkout (as CI lays it out); a workplace checkout may find it at /work/shared. */
export const RECORDINGS_DIR = [resolve(import.meta.dirname, '../../../shared/k8s-wire/recordings'), '/work/shared/k8s-wire/recordings']
  .find((d) => existsSync(d)) ?? resolve(import.meta.dirname, '../../../shared/k8s-wire/recordings');

export interface Exchange {
  id: number;
  method: string;
  url: string;
  requestBody?: unknown;
  requestHeaders: [string, string][];
  status?: number;
  headers: Record<string, string>;
  /** Header names in order, for upgrade refusals recorded as a raw header list. */
  headerNames: string[];
  body?: unknown;
  bodyLen?: number;
  rawBody?: string;
  events: { type: string; object: any; lineBytes?: number }[];
  chunks?: number[];
  frames: { dir: string; opcode: number; channel?: number; dataHex?: string; dataText?: string; closeCode?: number }[];
  upgradeHeaders?: [string, string][];
  ended: boolean;
  note?: string;
}

/** The exchanges of one recording file in order (ids repeat across sections of file 3; order disambiguates). */
export function loadExchanges(file: string): Exchange[] {
  const out: Exchange[] = [];
  const current = new Map<number, Exchange>();
  let note: string | undefined;
  for (const line of readFileSync(`${RECORDINGS_DIR}/${file}`, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const o = JSON.parse(line);
    if (o.kind === 'note') { note = o.text; continue; }
    if (o.kind === 'http_request' || o.kind === 'upgrade_request') {
      const ex: Exchange = { id: o.id, method: o.method, url: o.url, requestBody: o.body, requestHeaders: o.headers ?? [], headers: {}, headerNames: [], events: [], frames: [], ended: false, note };
      current.set(o.id, ex);
      out.push(ex);
      continue;
    }
    const ex = current.get(o.id);
    if (!ex) continue;
    switch (o.kind) {
      case 'http_response': ex.status = o.status; ex.headers = o.headers; ex.headerNames = Object.keys(o.headers); break;
      case 'http_response_body': ex.body = o.body; ex.bodyLen = o.body_len; break;
      case 'watch_event': ex.events.push({ type: o.event.type, object: o.event.object, lineBytes: o.line_bytes }); break;
      case 'watch_end': ex.ended = true; break;
      case 'watch_raw_chunk_framing': ex.chunks = o.chunks.map((c: { size: number }) => c.size); break;
      case 'upgrade_response':
        ex.status = o.status; ex.upgradeHeaders = o.headers;
        ex.headerNames = (o.headers as [string, string][]).map(([k]) => k);
        break;
      case 'upgrade_nonupgrade_body': ex.rawBody = o.body_raw; break;
      case 'ws_frame': ex.frames.push({ dir: o.dir, opcode: o.opcode, channel: o.channel, dataHex: o.data_hex, dataText: o.data_text, closeCode: o.close_code }); break;
    }
  }
  return out;
}

export interface RawResult {
  status: number;
  headers: [string, string][];
  body: Buffer;
  /** Chunk payload sizes including the final 0, when the body was chunked. */
  chunks?: number[];
  chunkBodies?: Buffer[];
}

/** One request on its own connection; resolves when the server has sent the whole response. */
export function rawHttp(server: string, method: string, path: string, token: string | null, body?: unknown, contentType = 'application/json'): Promise<RawResult> {
  const url = new URL(server);
  const data = body === undefined ? Buffer.alloc(0) : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  let head = `${method} ${path} HTTP/1.1\r\nHost: ${url.host}\r\nAccept: application/json, */*;q=0.8\r\nConnection: close\r\n`;
  if (token) head += `Authorization: Bearer ${token}\r\n`;
  if (data.length) head += `Content-Type: ${contentType}\r\nContent-Length: ${data.length}\r\n`;
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(url.port), '127.0.0.1', () => s.write(Buffer.concat([Buffer.from(head + '\r\n'), data])));
    const parts: Buffer[] = [];
    s.on('data', (d: Buffer) => parts.push(d));
    s.on('error', reject);
    s.on('close', () => {
      try { resolve(parseResponse(Buffer.concat(parts))); } catch (err) { reject(err instanceof Error ? err : new Error(String(err))); }
    });
  });
}

function parseResponse(all: Buffer): RawResult {
  const end = all.indexOf('\r\n\r\n');
  const lines = all.subarray(0, end).toString().split('\r\n');
  const status = Number(lines[0].split(' ')[1]);
  const headers = lines.slice(1).map((l) => { const i = l.indexOf(':'); return [l.slice(0, i), l.slice(i + 1).trim()] as [string, string]; });
  let rest = all.subarray(end + 4);
  const chunked = headers.some(([k, v]) => k.toLowerCase() === 'transfer-encoding' && v === 'chunked');
  if (!chunked) return { status, headers, body: rest };
  const chunks: number[] = [];
  const chunkBodies: Buffer[] = [];
  for (;;) {
    const nl = rest.indexOf('\r\n');
    const size = parseInt(rest.subarray(0, nl).toString(), 16);
    chunks.push(size);
    if (size === 0) break;
    chunkBodies.push(rest.subarray(nl + 2, nl + 2 + size));
    rest = rest.subarray(nl + 2 + size + 2);
  }
  return { status, headers, body: Buffer.concat(chunkBodies), chunks, chunkBodies };
}

export function header(r: RawResult, name: string): string | undefined {
  return r.headers.find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];
}

/** Headers both servers send whatever the request (hop-by-hop ones Node adds are not compared). */
export function comparableHeaderNames(names: string[]): string[] {
  const skip = new Set(['connection', 'keep-alive', 'content-length', 'transfer-encoding']);
  return names.map((n) => n.toLowerCase()).filter((n) => !skip.has(n)).sort();
}

/**
 * Differences in shape between our JSON and the recorded JSON: recorded keys we lack, common keys in another
 * order, values of another JSON type. Values themselves (names, times, IDs) are free to differ.
 * `lacking` lists dotted paths (with [] for array items) where a recorded key may be absent on our side.
 */
export function shapeDiff(ours: unknown, recorded: unknown, lacking: readonly string[] = [], path = ''): string[] {
  if (typeof recorded === 'string' && recorded.startsWith('<trimmed')) return [];
  if (path.endsWith('fieldsV1')) return [];
  const kind = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
  if (kind(ours) !== kind(recorded)) return [`${path || '.'}: ${kind(ours)} vs recorded ${kind(recorded)}`];
  if (Array.isArray(recorded)) {
    const o = ours as unknown[];
    const out: string[] = [];
    for (let i = 0; i < Math.min(o.length, recorded.length); i++) out.push(...shapeDiff(o[i], recorded[i], lacking, `${path}[]`));
    return out;
  }
  if (kind(recorded) !== 'object') return [];
  const o = ours as Record<string, unknown>;
  const r = recorded as Record<string, unknown>;
  const out: string[] = [];
  for (const k of Object.keys(r)) {
    if (!(k in o) && !lacking.includes(`${path}.${k}`)) out.push(`${path}.${k}: missing`);
  }
  const common = Object.keys(r).filter((k) => k in o);
  const oursOrder = Object.keys(o).filter((k) => k in r);
  if (common.join() !== oursOrder.join()) out.push(`${path || '.'}: key order ${oursOrder.join(',')} vs recorded ${common.join(',')}`);
  for (const k of common) out.push(...shapeDiff(o[k], r[k], lacking, `${path}.${k}`));
  return out;
}

/** What a pod looks like at one event, in the terms README §2's table uses. */
export function podSignature(type: string, pod: any): string {
  const cs = pod.status?.containerStatuses?.[0];
  const state = cs ? Object.keys(cs.state ?? {})[0] : '-';
  const grace = pod.metadata.deletionGracePeriodSeconds;
  return [type, pod.status?.phase, pod.spec?.nodeName ? 'bound' : 'unbound', state, `restarts=${cs?.restartCount ?? '-'}`,
    `ready=${cs?.ready ?? '-'}`, grace === undefined ? 'live' : grace === 0 ? 'grace0' : 'terminating'].join(' ');
}
