// What persistence tells the user: the state per workload joined into one line per spec, why a workload was not
// patched, and what the seed init container's status says about the image.
import { apiMessageOf, httpStatusOf } from '../api-errors.ts';
import { TemplateProblem } from './template-patch.ts';
import type { JsonObject } from './template-patch.ts';

/** Per spec: the state `kx get` shows (see PersistStatus in pkg/daemon/status.ts). */
export interface PersistReport {
  readonly state: 'seeded' | 'empty' | 'seeding' | 'volume' | 'waiting' | 'off';
  readonly detail: string;
}

/** One workload's state and what to call it (e.g. `deployment/api`). */
export interface WorkloadResult { readonly state: PersistReport['state']; readonly note: string }

/** The seed's outcome on the pods that have the init container: ok, failed (why), or not known yet. */
export function seedOutcome(pods: JsonObject[], init: string): { ok: true } | { ok: false; why: string } | undefined {
  for (const pod of pods) {
    const statuses = ((pod.status as JsonObject | undefined)?.initContainerStatuses as JsonObject[] | undefined) ?? [];
    const s = statuses.find((x) => x.name === init);
    if (!s) continue;
    const state = s.state as JsonObject | undefined;
    const done = state?.terminated as JsonObject | undefined;
    if (done && Number(done.exitCode ?? 0) === 0) return { ok: true };
    const failed = done ?? ((s.lastState as JsonObject | undefined)?.terminated as JsonObject | undefined);
    if (failed && Number(failed.exitCode ?? 0) !== 0) {
      const text = failed.message ?? failed.reason;
      const why = (typeof text === 'string' ? text : `exit ${Number(failed.exitCode)}`).split('\n')[0];
      return { ok: false, why };
    }
  }
  return undefined;
}

export function summary(results: ReadonlyMap<string, WorkloadResult>, refused: ReadonlySet<string>): PersistReport {
  const states = [...results.values()];
  if (states.length === 0) return { state: 'off', detail: [...refused].join('; ') || 'no workload found' };
  // The least settled state speaks for the spec: seeding until every seed is known.
  const order: PersistReport['state'][] = ['seeding', 'empty', 'seeded', 'volume'];
  const state = order.find((s) => states.some((r) => r.state === s)) ?? states[0].state;
  const detail = [...states.map((r) => `${r.state}: ${r.note}`), ...[...refused].map((r) => `not persisted: ${r}`)].join('; ');
  return { state, detail };
}

/** `cannot WHAT: why`, naming RBAC for a 403. */
export function cannot(what: string, err: unknown): string {
  if (err instanceof TemplateProblem) return `cannot ${what}: ${err.message}`;
  const status = httpStatusOf(err);
  if (status === 403) return `cannot ${what}: RBAC forbids it (${apiMessageOf(err)})`;
  return `cannot ${what}: ${apiMessageOf(err)}`;
}
