// Bytes on the wire of a process's TCP connections on loopback, from the kernel's tcp_info (`ss -ti`): no proxy
// in the path, so kx is measured on the very connection `kx watch` keeps to radar.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface WireCount {
  /** Per connection (local address → peer), bytes sent and received so far. */
  readonly sockets: ReadonlyMap<string, { readonly sent: number; readonly received: number }>;
}

/** Established TCP connections of `pid`, except those whose local port is `notLocalPort` (a server it runs). */
export async function wireOf(pid: number, notLocalPort?: number): Promise<WireCount> {
  const { stdout } = await run('ss', ['-tinpH', 'state', 'established']);
  return { sockets: parseSs(stdout, pid, notLocalPort) };
}

/** Bytes both ways between two counts; connections opened in between count from zero. */
export function wireDelta(before: WireCount, after: WireCount): number {
  let total = 0;
  for (const [key, a] of after.sockets) {
    const b = before.sockets.get(key) ?? { sent: 0, received: 0 };
    total += Math.max(0, a.sent - b.sent) + Math.max(0, a.received - b.received);
  }
  return total;
}

/** `ss -tinpH state established`: a socket line (addresses, users:((…,pid=N,…))) then an indented info line. */
export function parseSs(text: string, pid: number, notLocalPort?: number): Map<string, { sent: number; received: number }> {
  const out = new Map<string, { sent: number; received: number }>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (!line.includes(`pid=${pid},`)) continue;
    const cols = line.trim().split(/\s+/);
    // state is filtered away: Recv-Q Send-Q Local Peer users
    const [local, peer] = [cols[2], cols[3]];
    if (!local || !peer) continue;
    if (notLocalPort !== undefined && local.endsWith(`:${notLocalPort}`)) continue;
    const info = lines[i + 1] ?? '';
    const num = (k: string): number => Number(new RegExp(`\\b${k}:(\\d+)`).exec(info)?.[1] ?? 0);
    out.set(`${local}>${peer}`, { sent: num('bytes_sent'), received: num('bytes_received') });
  }
  return out;
}
