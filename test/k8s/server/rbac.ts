// RBAC from the stored objects, for the users whose rights the cluster's objects decide (service accounts, and
// users with groups): the rules of every ClusterRoleBinding (cluster-wide) and RoleBinding (its namespace only)
// naming the user, one of its groups, or its service account, turned into the authorizer's allow rules. ClusterRoles
// with an aggregationRule (edit, view, admin) hold the rules of the ClusterRoles their selectors match, as the
// clusterrole-aggregation controller fills them in.
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
  const rules = ref.kind === 'ClusterRole' ? aggregatedRules(store, role, new Set()) : ((role.rules as Json[] | undefined) ?? []);
  return rules.map((r) => ({
    verbs: (r.verbs as string[] | undefined) ?? [],
    resources: (r.resources as string[] | undefined) ?? [],
    apiGroups: (r.apiGroups as string[] | undefined) ?? [],
    ...(namespace === undefined ? {} : { namespaces: [namespace] }),
    ...(r.resourceNames ? { resourceNames: r.resourceNames as string[] } : {}),
  }));
}

/** A ClusterRole's rules, with those of every ClusterRole its aggregationRule selects (recursively). */
function aggregatedRules(store: ObjectStore, role: Json, seen: Set<string>): Json[] {
  const name = String(meta(role).name);
  if (seen.has(name)) return [];
  seen.add(name);
  const own = (role.rules as Json[] | undefined) ?? [];
  const selectors = ((role.aggregationRule as Json | undefined)?.clusterRoleSelectors as Json[] | undefined) ?? [];
  if (selectors.length === 0) return own;
  const matches = (r: Json) => selectors.some((sel) => Object.entries((sel.matchLabels as Record<string, string> | undefined) ?? {})
    .every(([k, v]) => (meta(r).labels as Record<string, string> | undefined)?.[k] === v));
  return [...own, ...store.list('clusterroles').filter((r) => matches(r)).flatMap((r) => aggregatedRules(store, r, seen))];
}

const AGGREGATE = 'rbac.authorization.k8s.io/aggregate-to-';
const WRITE = ['create', 'delete', 'deletecollection', 'patch', 'update'];
const READ = ['get', 'list', 'watch'];

/**
 * The user-facing ClusterRoles every cluster has, aggregated as on a real one (view ⊂ edit ⊂ admin), with the part
 * of their rules that kx's tests touch: pods and their subresources, Secrets, ConfigMaps, Services, workloads.
 */
export function bootstrapClusterRoles(): Json[] {
  const aggregated = (name: string, to?: string) => ({
    metadata: { name, labels: { 'kubernetes.io/bootstrapping': 'rbac-defaults', ...(to ? { [`${AGGREGATE}${to}`]: 'true' } : {}) } },
    aggregationRule: { clusterRoleSelectors: [{ matchLabels: { [`${AGGREGATE}${name}`]: 'true' } }] },
    rules: [],
  });
  const part = (name: string, to: string, rules: Json[]) => ({
    metadata: { name, labels: { 'kubernetes.io/bootstrapping': 'rbac-defaults', [`${AGGREGATE}${to}`]: 'true' } },
    rules,
  });
  return [
    aggregated('admin'),
    aggregated('edit', 'admin'),
    aggregated('view', 'edit'),
    part('system:aggregate-to-view', 'view', [
      { apiGroups: [''], resources: ['pods', 'pods/log', 'pods/status', 'configmaps', 'services', 'endpoints', 'events', 'serviceaccounts'], verbs: READ },
      { apiGroups: ['apps'], resources: ['daemonsets', 'deployments', 'deployments/scale', 'replicasets', 'statefulsets'], verbs: READ },
    ]),
    part('system:aggregate-to-edit', 'edit', [
      { apiGroups: [''], resources: ['pods/attach', 'pods/exec', 'pods/portforward', 'pods/proxy', 'secrets', 'services/proxy'], verbs: READ },
      { apiGroups: [''], resources: ['pods', 'pods/attach', 'pods/exec', 'pods/portforward', 'pods/proxy'], verbs: WRITE },
      { apiGroups: [''], resources: ['configmaps', 'secrets', 'serviceaccounts', 'services', 'services/proxy', 'persistentvolumeclaims'], verbs: WRITE },
      { apiGroups: ['apps'], resources: ['daemonsets', 'deployments', 'deployments/scale', 'replicasets', 'statefulsets'], verbs: WRITE },
    ]),
    part('system:aggregate-to-admin', 'admin', [
      { apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles', 'rolebindings'], verbs: [...READ, ...WRITE] },
    ]),
  ];
}
