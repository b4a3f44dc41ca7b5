// Port forwards to a spec's pods: each forwarded connection gets its own pods/portforward WebSocket to the pod's
// port (forwardSocket, as the tunnel to radar does), so a dropped or refused forward costs only that connection.
import type { Socket } from 'node:net';
import type { SpecConfig } from '../config/types.ts';
import type { ForwardedLink, PortDialer, Target } from '../daemon/target.ts';
import { ErrorCode, KxError } from '../sync/errors.ts';
import { apiError, httpStatusOf } from './api-errors.ts';
import { forwardSocket, type PortForwarder } from './forward-socket.ts';
import type { KubeTarget } from './radar-dial.ts';

export interface PodPortDialerOptions {
  /** The forwarder and context name (for messages) of the cluster a spec targets. */
  readonly cluster: (spec: SpecConfig) => { readonly forwarder: PortForwarder; readonly context: string };
}

export class PodPortDialer implements PortDialer {
  readonly #opts: PodPortDialerOptions;

  constructor(opts: PodPortDialerOptions) {
    this.#opts = opts;
  }

  async forward(spec: SpecConfig, target: Target, port: number, socket: Socket): Promise<ForwardedLink> {
    const remote = (target as Partial<KubeTarget>).remote;
    if (!remote) throw new KxError(ErrorCode.InvalidArgument, `${target.name}: not a Kubernetes pod`);
    const { forwarder, context } = this.#opts.cluster(spec);
    let forwarded;
    try {
      forwarded = await forwardSocket(forwarder, remote.namespace, remote.pod, port, socket);
    } catch (err) {
      if (httpStatusOf(err) === 403) {
        throw new KxError(ErrorCode.PermissionDenied,
          `RBAC forbids port-forward to pod "${remote.pod}" for context "${context}": grant get and create on pods/portforward in namespace "${remote.namespace}"`, { cause: err });
      }
      throw apiError(err, `port-forward to pod "${remote.pod}" in namespace "${remote.namespace}"`, context);
    }
    // The kubelet reports a port nothing listens on as text on the error channel, then closes the forward.
    return { closed: forwarded.closed.then(({ byFarEnd, errorText }) => (byFarEnd && errorText !== '' ? firstLine(errorText) : null)) };
  }
}

function firstLine(text: string): string {
  return text.split('\n')[0].trim();
}
