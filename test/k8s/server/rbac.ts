// RBAC from the stored objects, for the users whose rights the cluster's objects decide (service accounts): the
// rules of every ClusterRoleBinding (cluster-wide) and RoleBinding (its namespace only) naming the user, one of its
// groups, or its service account, turned into the authorizer's allow rules.
import type { Rule } from './auth.ts';
import { meta } from './objects.ts';
import type { ObjectStore } from './store.ts';
import type { Json } from './wire.ts';

export interface Subject {
  /** e.g. system:serviceaccount:kx-system:kx-radar */
  user: string;
  groups: readonly string[];
}

export function rbacRules(store: ObjectStore, s: Subject): Rule[] {
  const out: Rule[] = [];
  for (const b of store.list('clusterrolebindings')) {
    if (!names(b, s)) continue;
    out.push(...roleRules(store, b, undefined));
  }
  for (const b of store.list('rolebindings')) {
    if (!names(b, s)) continue;
    out.push(...roleRules(store, b, String(meta(b).namespace)));
  }
  return out;
}

/** The subjects a service account is authenticated as. */
export function serviceAccountSubject(namespace: string, name: string): Subject {
  return {
    user: `system:serviceaccount:${namespace}:${name}`,
    groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'],
  };
}

function names(binding: Json, s: Subject): boolean {
  const bindingNs = meta(binding).namespace as string | undefined;
  return ((binding.subjects as Json[] | undefined) ?? []).some((sub) => {
    if (sub.kind === 'User') return sub.name === s.user;
    if (sub.kind === 'Group') return s.groups.includes(String(sub.name));
    if (sub.kind === 'ServiceAccount') return s.user === `system:serviceaccount:${String(sub.namespace ?? bindingNs)}:${String(sub.name)}`;
    return false;
  });
}

function roleRules(store: ObjectStore, binding: Json, namespace: string | undefined): Rule[] {
  const ref = binding.roleRef as Json | undefined;
  if (!ref) return [];
  const role = ref.kind === 'ClusterRole' ? store.get('clusterroles', '', String(ref.name)) : store.get('roles', namespace ?? '', String(ref.name));
  if (!role) return [];
  return ((role.rules as Json[] | undefined) ?? []).map((r) => ({
    verbs: (r.verbs as string[] | undefined) ?? [],
    resources: (r.resources as string[] | undefined) ?? [],
    apiGroups: (r.apiGroups as string[] | undefined) ?? [],
    ...(namespace === undefined ? {} : { namespaces: [namespace] }),
    ...(r.resourceNames ? { resourceNames: r.resourceNames as string[] } : {}),
  }));
}
