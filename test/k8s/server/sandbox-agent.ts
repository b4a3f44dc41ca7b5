// The agent a pod's sandbox container runs when the cluster has an image with node: it lives in the pod's network
// namespace, so it can do there what the node does on a real cluster without routing anything off loopback:
//  - 127.0.0.1:443 inside the pod → the API server's unix socket (bind-mounted): the pod's in-cluster API access,
//    TLS end to end (the pod sees the kubernetes Service at KUBERNETES_SERVICE_HOST/PORT);
//  - a unix socket for port-forwards (bind-mounted back to the host): "PORT\n", then a byte 0 and the stream to
//    127.0.0.1:PORT inside the pod, or a byte 1 when nothing listens there — what the kubelet's port-forward does
//    by entering the pod's network namespace.
import net from 'node:net';

export const API_IN_POD_PORT = 443;
/** Where the sandbox sees the API server's socket directory and its own directory. */
export const AGENT_API_DIR = '/kx-test/api';
export const AGENT_POD_DIR = '/kx-test/pod';
export const API_SOCKET_NAME = 'apiserver.sock';
export const PORTFORWARD_SOCKET_NAME = 'portforward.sock';

export const AGENT_SCRIPT = `
const net = require('node:net');
const fs = require('node:fs');
const pipe = (a, b) => {
  a.pipe(b); b.pipe(a);
  for (const [x, y] of [[a, b], [b, a]]) { x.on('error', () => y.destroy()); x.on('close', () => y.destroy()); }
};
process.on('SIGTERM', () => process.exit(0));
const pf = ${JSON.stringify(`${AGENT_POD_DIR}/${PORTFORWARD_SOCKET_NAME}`)};
net.createServer((c) => pipe(c, net.connect(${JSON.stringify(`${AGENT_API_DIR}/${API_SOCKET_NAME}`)})))
  .listen(${API_IN_POD_PORT}, '127.0.0.1', () => {
    try { fs.unlinkSync(pf); } catch {}
    net.createServer((c) => {
      let head = Buffer.alloc(0);
      const onData = (d) => {
        head = Buffer.concat([head, d]);
        const nl = head.indexOf(10);
        if (nl < 0) { if (head.length > 16) c.destroy(); return; }
        c.off('data', onData);
        c.pause();
        const port = Number(head.subarray(0, nl).toString());
        const rest = head.subarray(nl + 1);
        const t = net.connect({ host: '127.0.0.1', port });
        t.once('error', () => { c.end(Buffer.from([1])); });
        t.once('connect', () => {
          c.write(Buffer.from([0]));
          if (rest.length) t.write(rest);
          pipe(c, t);
          c.resume();
        });
      };
      c.on('data', onData);
      c.on('error', () => {});
    }).listen(pf);
  });
`;

/**
 * A stream to 127.0.0.1:`port` inside the pod whose agent listens on `socketPath`, paused (resume it after
 * attaching a reader); undefined when nothing listens there.
 */
export function dialInPod(socketPath: string, port: number): Promise<net.Socket | undefined> {
  return new Promise((resolve) => {
    const s = net.connect(socketPath);
    const fail = () => { s.destroy(); resolve(undefined); };
    s.once('error', fail);
    s.once('end', fail);
    s.once('connect', () => s.write(`${port}\n`));
    s.once('data', (d: Buffer) => {
      s.pause();
      s.off('error', fail);
      s.off('end', fail);
      if (d[0] !== 0) return fail();
      if (d.length > 1) s.unshift(d.subarray(1));
      resolve(s);
    });
  });
}
