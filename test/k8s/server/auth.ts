// Bearer-token authentication and a small RBAC-like authorizer (allow rules per user, no deny).
import type { IncomingMessage } from 'node:http';

export interface Rule {
  verbs: readonly string[];      // 'get', 'list', 'watch', 'create', 'update', 'patch', 'delete', '*'
  resources: readonly string[];  // 'pods', 'pods/portforward', 'secrets', '*'
  apiGroups?: readonly string[]; // default ['*']
  namespaces?: readonly string[]; // default: every namespace and cluster scope
  resourceNames?: readonly string[];
}

export interface UserSpec {
  /** e.g. "system:serviceaccount:wire:nobody" */
  name: string;
  /** Allowed to do everything (the kubeconfig's own user). */
  admin?: boolean;
  rules?: readonly Rule[];
  /** The user's groups; with them, the RBAC objects in the cluster add to `rules` (see rbac.ts). */
  groups?: readonly string[];
}

export interface Attributes {
  verb: string;
  resource: string;
  subresource?: string;
  group: string;
  namespace?: string;
  name?: string;
}

/** A token the table does not hold (e.g. a service-account JWT) → its user, or undefined. */
export type TokenVerifier = (token: string) => UserSpec | undefined;

export class Authenticator {
  private readonly tokens = new Map<string, UserSpec>();
  private readonly verifier: TokenVerifier | undefined;

  constructor(verifier?: TokenVerifier) {
    this.verifier = verifier;
  }

  set(token: string, user: UserSpec): void {
    this.tokens.set(token, user);
  }

  delete(token: string): void {
    this.tokens.delete(token);
  }

  /** undefined = 401. No Authorization header at all is the anonymous user (which has no rules unless given). */
  authenticate(req: IncomingMessage): UserSpec | undefined {
    const h = req.headers.authorization;
    if (!h) return this.tokens.get('') ?? { name: 'system:anonymous', rules: [] };
    const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
    if (!m) return undefined;
    return this.tokens.get(m[1]) ?? this.verifier?.(m[1]);
  }
}

export function authorize(user: UserSpec, a: Attributes): boolean {
  if (user.admin) return true;
  const full = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  return (user.rules ?? []).some((r) =>
    (r.verbs.includes('*') || r.verbs.includes(a.verb)) &&
    (r.resources.includes('*') || r.resources.includes(full)) &&
    (!r.apiGroups || r.apiGroups.includes('*') || r.apiGroups.includes(a.group)) &&
    (!r.namespaces || (a.namespace !== undefined && r.namespaces.includes(a.namespace))) &&
    (!r.resourceNames || (a.name !== undefined && r.resourceNames.includes(a.name))));
}
