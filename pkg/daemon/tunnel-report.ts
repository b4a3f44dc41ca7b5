// What the daemon knows about the tunnels to each node's radar: drops and resumes are logged (with the time to
// resume) and counted for `kx get`. The events come from the Kubernetes driver, wired in cmd/.

import type { Logger } from './logger.ts';
import type { TunnelStatus } from './status.ts';

/** The tunnel events this report understands (pkg/kube's TunnelEvent has this shape). */
export type TunnelReportEvent =
  | { readonly kind: 'dropped'; readonly at: number }
  | { readonly kind: 'resumed'; readonly afterMs: number }
  | { readonly kind: 'failed'; readonly error: Error };

export class TunnelReport {
  private readonly log: Logger;
  private readonly onChange: () => void;
  private readonly nodes = new Map<string, { up: boolean; reconnects: number; lastResumeMs?: number; lastError?: string }>();

  constructor(log: Logger, onChange: () => void) {
    this.log = log;
    this.onChange = onChange;
  }

  event(node: string, e: TunnelReportEvent): void {
    const n = this.nodes.get(node) ?? { up: true, reconnects: 0 };
    this.nodes.set(node, n);
    switch (e.kind) {
      case 'dropped':
        if (n.up) this.log.warn(`tunnel to node ${node} dropped; reconnecting`);
        n.up = false;
        break;
      case 'resumed':
        n.up = true;
        n.reconnects++;
        n.lastResumeMs = Math.round(e.afterMs);
        delete n.lastError;
        this.log.info(`tunnel to node ${node} resumed after ${n.lastResumeMs} ms`);
        break;
      case 'failed': {
        const message = e.error.message.split('\n')[0];
        // Said once per reason: a failing forward is retried often while radar is away.
        if (n.lastError !== message) this.log.warn(`tunnel to node ${node}: ${message}`);
        n.up = false;
        n.lastError = message;
        break;
      }
    }
    this.onChange();
  }

  statuses(): TunnelStatus[] {
    return [...this.nodes].map(([node, n]) => ({
      node,
      state: n.up ? 'up' : 'reconnecting',
      reconnects: n.reconnects,
      ...(n.lastResumeMs !== undefined && { lastResumeMs: n.lastResumeMs }),
      ...(n.lastError !== undefined && { lastError: n.lastError }),
    }));
  }
}
