// The kubeconfig context the cluster commands act on, checked up front so a wrong --context is one clear line
// instead of a confusing network or 401 error later.
import type { KubeConfig } from '@kubernetes/client-node';
import { ErrorCode, KxError } from '../sync/errors.ts';

/** Switch `kc` to `context` (default: its current context) and return the name; INVALID_CONFIG if it is unknown. */
export function selectContext(kc: KubeConfig, context?: string): string {
  const name = context ?? kc.getCurrentContext();
  const names = kc.getContexts().map((c) => c.name);
  if (!name || !kc.getContextObject(name)) {
    const available = names.length > 0 ? `available: ${names.join(', ')}` : 'the kubeconfig defines no contexts';
    throw new KxError(ErrorCode.InvalidConfig, name ? `context "${name}" not found in the kubeconfig (${available})` : `no current context set (${available}); pass --context`);
  }
  if (kc.getCurrentContext() !== name) kc.setCurrentContext(name);
  return name;
}
