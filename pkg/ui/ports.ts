// The port forwards of a spec as one line under `kx get`'s table:
// `api-src ports: 8080→8080 ok (api-7f9c/app), 9229→9229 in use: 127.0.0.1:9229 is in use by another program; retrying`.

import type { PortForwardStatus, SpecStatus } from '../daemon/status.ts';

/** One line per spec that has port forwards; healthy when every forward of it is ok. */
export function portLines(specs: readonly SpecStatus[]): { text: string; healthy: boolean }[] {
  return specs.flatMap((s) => (s.ports && s.ports.length > 0
    ? [{ text: `${s.name} ports: ${s.ports.map(portText).join(', ')}`, healthy: s.ports.every((p) => p.state === 'ok') }]
    : []));
}

export function portText(p: PortForwardStatus): string {
  const local = p.address === '127.0.0.1' ? String(p.local) : `${p.address}:${p.local}`;
  const label = `${local}→${p.remote}`;
  switch (p.state) {
    case 'ok':
      return `${label} ok${p.target ? ` (${p.target}${p.connections > 0 ? `, ${p.connections} open` : ''})` : ''}`;
    case 'in-use':
      return `${label} in use${p.message ? `: ${p.message}` : ''}`;
    case 'waiting':
      return `${label} waiting${p.message ? `: ${p.message}` : ''}`;
    case 'error':
      return `${label} error${p.message ? `: ${p.message}` : ''}`;
  }
}
