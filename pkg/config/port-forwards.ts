// A spec's `ports`: `LOCAL[:REMOTE]` or `ADDRESS:LOCAL:REMOTE`, as kubectl port-forward writes them. kx listens on
// ADDRESS:LOCAL (127.0.0.1 unless given; loopback only, so a forward never exposes a pod beyond this machine: an
// address in 127.0.0.0/8, localhost, or IPv6's [::1]) and forwards each connection to REMOTE in the spec's container.

export interface PortForwardSpec {
  /** The entry as written, for messages. */
  readonly text: string;
  readonly address: string;
  readonly local: number;
  readonly remote: number;
}

export const DEFAULT_FORWARD_ADDRESS = '127.0.0.1';

/** Parses one entry; throws Error with what is wrong (callers prefix the file and field, or the flag). */
export function parsePortForward(entry: string | number): PortForwardSpec {
  const text = String(entry).trim();
  // An IPv6 address is written in brackets, as in a URL: [::1]:8080:80.
  const v6 = /^\[([^\]]*)\]:(.*)$/.exec(text);
  const parts = v6 ? [v6[1], ...v6[2].split(':')] : text.split(':');
  if (parts.length > 3 || text === '' || (v6 && parts.length !== 3)) throw new Error(`"${text}": expected LOCAL, LOCAL:REMOTE or ADDRESS:LOCAL:REMOTE (e.g. 8080, 9229:9229, [::1]:8080:80)`);
  const address = parts.length === 3 ? parts[0] : DEFAULT_FORWARD_ADDRESS;
  if (!isLoopback(address)) throw new Error(`"${text}": ${v6 ? `[${address}]` : address} is not a loopback address (127.0.0.0/8, localhost or [::1]): kx listens on this machine only`);
  const numbers = parts.length === 3 ? parts.slice(1) : parts;
  const local = portNumber(numbers[0], text, 'local');
  const remote = numbers.length > 1 ? portNumber(numbers[1], text, 'remote') : local;
  return { text, address: address === 'localhost' ? DEFAULT_FORWARD_ADDRESS : address, local, remote };
}

/** `8080→80`, or `8080` when both sides are the same; with the address when it is not 127.0.0.1. */
export function forwardLabel(f: Pick<PortForwardSpec, 'address' | 'local' | 'remote'>): string {
  const local = f.address === DEFAULT_FORWARD_ADDRESS ? String(f.local) : listenKey(f);
  return f.local === f.remote ? local : `${local}→${f.remote}`;
}

/** The listening socket a forward takes: two forwards with the same key cannot both listen. */
export function listenKey(f: Pick<PortForwardSpec, 'address' | 'local'>): string {
  return f.address.includes(':') ? `[${f.address}]:${f.local}` : `${f.address}:${f.local}`;
}

/**
 * The first problem in a list of specs' ports: an entry that does not parse, or a local port taken twice (in one
 * spec or across specs, naming both). `at` is the index of the spec and of its entry.
 */
export function portsProblem(specs: readonly { readonly name: string; readonly ports?: readonly (string | number)[] | undefined }[]):
  { spec: number; entry: number; message: string } | null {
  const taken = new Map<string, { spec: number; text: string }>();
  for (const [i, spec] of specs.entries()) {
    for (const [j, entry] of (spec.ports ?? []).entries()) {
      let f: PortForwardSpec;
      try {
        f = parsePortForward(entry);
      } catch (err) {
        return { spec: i, entry: j, message: (err as Error).message };
      }
      const key = listenKey(f);
      const before = taken.get(key);
      if (before !== undefined) {
        const where = before.spec === i ? 'in this spec' : `by spec '${specs[before.spec].name}' ("${before.text}")`;
        return { spec: i, entry: j, message: `"${f.text}": local port ${key} is already forwarded ${where}` };
      }
      taken.set(key, { spec: i, text: f.text });
    }
  }
  return null;
}

function portNumber(text: string, entry: string, side: 'local' | 'remote'): number {
  if (!/^\d{1,5}$/.test(text)) throw new Error(`"${entry}": ${side} port "${text}" is not a number`);
  const n = Number(text);
  if (n < 1 || n > 65535) throw new Error(`"${entry}": ${side} port ${n} is out of range (1-65535)`);
  return n;
}

function isLoopback(address: string): boolean {
  if (address === 'localhost' || address === '::1') return true;
  const octets = address.split('.');
  return octets.length === 4 && octets[0] === '127' && octets.every((o) => /^\d{1,3}$/.test(o) && Number(o) <= 255);
}
