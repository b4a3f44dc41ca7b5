// One accepted TCP socket joined to a pod's port through one pods/portforward WebSocket (client-node's PortForward
// does the framing). Both the tunnel to radar and a spec's port forwards carry their connections this way.
import type { Socket } from 'node:net';
import { Writable } from 'node:stream';

/** The part of client-node's PortForward kx uses. */
export interface PortForwarder {
  portForward(namespace: string, pod: string, ports: number[], output: Writable, err: Writable | null,
    input: Socket): Promise<unknown>;
}

export interface ForwardedSocket {
  /** The socket was closed before the WebSocket opened: nothing was carried, the WebSocket is closed again. */
  readonly abandoned: boolean;
  /**
   * Settles when the WebSocket is gone (the socket is destroyed by then): `byFarEnd` when the API server, the
   * kubelet or the target closed it rather than the local side; `errorText`, what came on the error channel.
   */
  readonly closed: Promise<{ readonly byFarEnd: boolean; readonly errorText: string }>;
}

/**
 * Opens the forward and bridges `socket` over it. Rejects when the forward cannot be opened (HTTP refusal, no such
 * pod); the socket is then left to the caller.
 */
export async function forwardSocket(forwarder: PortForwarder, namespace: string, pod: string, port: number, socket: Socket): Promise<ForwardedSocket> {
  const errText: string[] = [];
  const errStream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (chunk.length > 0) errText.push(chunk.toString('utf8'));
      cb();
    },
  });
  const ws = (await forwarder.portForward(namespace, pod, [port], socket, errStream, socket)) as WsLike;
  if (socket.closed || socket.destroyed) {
    ws.close();
    return { abandoned: true, closed: Promise.resolve({ byFarEnd: false, errorText: '' }) };
  }
  const closed = new Promise<{ byFarEnd: boolean; errorText: string }>((resolve) => {
    let localEnd = false;
    socket.once('close', () => {
      localEnd = true;
      ws.close();
    });
    ws.on('close', () => {
      socket.destroy();
      resolve({ byFarEnd: !localEnd, errorText: errText.join('').trim() });
    });
    ws.on('error', () => socket.destroy());
  });
  return { abandoned: false, closed };
}

interface WsLike {
  close(): void;
  on(event: 'close' | 'error', listener: () => void): void;
}
