// pods/portforward over WebSocket as the 1.24 apiserver→kubelet path answers client-node (README §4):
// v4.channel.k8s.io, no compression, port-prefix frames on both channels, binary frames "channel byte + data",
// one TCP connection per WebSocket, error text on the error channel + Close 1000 when the target refuses,
// Close 1000 when the target closes.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';

/**
 * What a forward to `port` of this pod connects to: a 127.0.0.1 port, a dialer that opens the stream itself (inside
 * the pod's network namespace; a paused socket, or undefined when nothing listens there), or undefined when nothing
 * listens.
 */
export type ForwardTarget = number | (() => Promise<net.Socket | undefined>);
export type ForwardTargetResolver = (namespace: string, pod: string, port: number) => Promise<ForwardTarget | undefined>;

export interface PortForwardOptions {
  resolve: ForwardTargetResolver;
  /** The kubelet closed the WebSocket ~1 s after the pod side closed; 0 keeps tests quick. */
  closeDelayMs: number;
}

/** Preference order: the recorded server picked v4 out of client-node's v5..v1 offer. */
const PROTOCOLS = ['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];

export function pickProtocol(offered: Iterable<string>): string | undefined {
  const set = new Set(offered);
  return PROTOCOLS.find((p) => set.has(p));
}

export class PortForwarder {
  private readonly o: PortForwardOptions;
  private readonly wss: WebSocketServer;
  private readonly open = new Map<string, Set<WebSocket>>();

  constructor(opts: PortForwardOptions) {
    this.o = opts;
    this.wss = new WebSocketServer({
      noServer: true, perMessageDeflate: false, clientTracking: true,
      handleProtocols: (offered) => pickProtocol(offered) ?? false,
    });
  }

  /** Upgrade an authorised request for `namespace/pod` with the given ports; `sandbox` names the pod in errors. */
  handle(req: IncomingMessage, socket: Duplex, head: Buffer, namespace: string, pod: string, ports: number[], sandbox: string): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const k = `${namespace}/${pod}`;
      let set = this.open.get(k);
      if (!set) { set = new Set(); this.open.set(k, set); }
      set.add(ws);
      ws.on('close', () => { set.delete(ws); });
      this.run(ws, namespace, pod, ports, sandbox);
    });
  }

  /** The pod's containers are gone: every forward to it ends with Close 1000 (README §4, 04c). */
  closePod(namespace: string, pod: string): void {
    for (const ws of this.open.get(`${namespace}/${pod}`) ?? []) closeNormally(ws, 0);
  }

  close(): void {
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
  }

  private run(ws: WebSocket, namespace: string, pod: string, ports: number[], sandbox: string): void {
    ports.forEach((port, i) => {
      ws.send(Buffer.from([2 * i, port & 0xff, port >> 8]));
      ws.send(Buffer.from([2 * i + 1, port & 0xff, port >> 8]));
    });
    const conns: (net.Socket | undefined)[] = [];
    const pending: Buffer[][] = ports.map(() => []);
    let failed = false;
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const buf = isBinary ? data : Buffer.from(data);
      if (buf.length === 0) return;
      const ch = buf[0];
      if (ch % 2 !== 0 || ch / 2 >= ports.length || failed) return;
      const i = ch / 2;
      const payload = buf.subarray(1);
      const c = conns[i];
      if (c && !c.connecting) c.write(payload); else pending[i].push(payload);
    });
    ws.on('close', () => { for (const c of conns) c?.destroy(); });
    let openConns = ports.length;
    ports.forEach((port, i) => {
      void this.o.resolve(namespace, pod, port).then(async (target) => {
        if (ws.readyState !== ws.OPEN) return;
        const refuse = () => {
          if (failed) return;
          failed = true;
          ws.send(Buffer.concat([Buffer.from([2 * i + 1]), Buffer.from(refusedMessage(port, sandbox))]));
          closeNormally(ws, 0);
        };
        if (target === undefined) return refuse();
        let c: net.Socket;
        if (typeof target === 'number') {
          c = net.connect({ host: '127.0.0.1', port: target });
          c.on('connect', () => { for (const b of pending[i].splice(0)) c.write(b); });
        } else {
          const dialed = await target();
          if (!dialed) return refuse();
          if (ws.readyState !== ws.OPEN) { dialed.destroy(); return; }
          c = dialed;
          for (const b of pending[i].splice(0)) c.write(b);
          setImmediate(() => c.resume());
        }
        conns[i] = c;
        c.on('data', (d: Buffer) => { if (ws.readyState === ws.OPEN) ws.send(Buffer.concat([Buffer.from([2 * i]), d])); });
        c.on('error', (err: NodeJS.ErrnoException) => { if (err.code === 'ECONNREFUSED') refuse(); });
        c.on('close', () => {
          if (--openConns === 0 && !failed) closeNormally(ws, this.o.closeDelayMs);
        });
      });
    });
  }
}

function closeNormally(ws: WebSocket, delayMs: number): void {
  const go = () => {
    if (ws.readyState !== ws.OPEN) return;
    ws.close(1000);
    // The apiserver shut the TCP connection right after its Close frame, without waiting for the client's.
    setTimeout(() => ws.terminate(), 50).unref();
  };
  if (delayMs > 0) setTimeout(go, delayMs).unref(); else go();
}

/** containerd's wording, with its empty "uid :" (README §4, 04b). */
export function refusedMessage(port: number, sandbox: string): string {
  return `error forwarding port ${port} to pod ${sandbox}, uid : failed to execute portforward in network namespace ` +
    `"/var/run/netns/cni-${randomUUID()}": failed to connect to localhost:${port} inside namespace "${sandbox}", ` +
    `IPv4: dial tcp4 127.0.0.1:${port}: connect: connection refused IPv6 dial tcp6: address localhost: no suitable address found `;
}
