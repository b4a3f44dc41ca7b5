// Persisted paths on Kubernetes: finds the workloads that own a spec's pods, patches their pod templates so the
// remote path is a volume (seeded from the image by an init container when the image can copy), records what it
// changed on each workload, and undoes exactly that. The daemon calls apply() before it follows the spec's pods
// (the rollout replaces them; pod following picks up the new ones); kx delete / kx reset call undo().
import type { SpecConfig } from '../../config/types.ts';
import { apiMessageOf, httpStatusOf } from '../api-errors.ts';
import { ownerOf } from './owner.ts';
import { cannot, seedOutcome, summary } from './report.ts';
import type { PersistReport, WorkloadResult } from './report.ts';
import type { PersistEntry } from './record.ts';
import { TemplateProblem, applyOps, dropSeedOps, existingMount, recordOf, seedingOps, undoOps } from './template-patch.ts';
export type { PersistReport } from './report.ts';
import type { JsonObject, PatchOp } from './template-patch.ts';
import { WORKLOAD_KINDS, describeRef } from './workloads.ts';
import type { WorkloadRef, Workloads } from './workloads.ts';


export interface PersistenceDeps {
  /** The API for a spec's cluster, and the namespace its pods are in. */
  cluster(spec: SpecConfig): { api: Workloads; namespace: string };
  log(level: 'info' | 'warn', line: string): void;
  /** How often to look for the spec's pods and the seed's outcome (default 1000 ms). */
  readonly pollMs?: number;
  /** How long to wait for the seed init container's outcome before reporting "seeding" and stopping (default 5 min). */
  readonly seedTimeoutMs?: number;
}

/** Rounds of read-build-patch before giving up on a workload that keeps changing under kx. */
const ROUNDS = 8;

export class KubePersistence {
  readonly #d: PersistenceDeps;

  constructor(deps: PersistenceDeps) {
    this.#d = deps;
  }

  /**
   * Persist the spec's path in every workload owning its pods (idempotent: a recorded, unchanged entry is left as
   * it is; a changed path or claim is undone and applied again). Resolves once the workloads are patched; the seed's
   * outcome is followed after that, through `report`, until it is known or `signal` aborts.
   */
  async apply(spec: SpecConfig, report: (r: PersistReport) => void, signal: AbortSignal): Promise<{ settled: Promise<void> }> {
    const { api, namespace } = this.#d.cluster(spec);
    report({ state: 'waiting', detail: 'looking for the pods\' workload' });
    const pods = await this.#pods(api, namespace, spec, signal);
    if (pods.length === 0) return { settled: Promise.resolve() };
    const refs = new Map<string, WorkloadRef>();
    const refused = new Set<string>();
    for (const pod of pods) {
      try {
        const o = await ownerOf(pod, api);
        if (!('ref' in o)) refused.add(o.refused);
        // Only a StatefulSet brings a pod back under its name; others would leave a spec that names the pod with none.
        else if (spec.pod !== undefined && o.ref.kind !== 'StatefulSet') refused.add(`pod ${spec.pod} belongs to ${describeRef(o.ref)}, whose rollout replaces it by a pod of another name: select the pods with a label selector to persist`);
        else refs.set(describeRef(o.ref), o.ref);
      } catch (err) {
        refused.add(`cannot read the owner of pod ${String((pod.metadata as JsonObject).name)}: ${apiMessageOf(err)}`);
      }
    }
    const results = new Map<string, WorkloadResult>();
    for (const [label, ref] of refs) {
      try {
        results.set(label, await this.#persistOne(ref, spec));
      } catch (err) {
        refused.add(cannot(`patch ${label}`, err));
      }
    }
    for (const line of refused) this.#d.log('warn', `${spec.name}: not persisted: ${line}; syncing without it`);
    const current = (): PersistReport => summary(results, refused);
    report(current());
    const seeding = [...results].filter(([, r]) => r.state === 'seeding').map(([label]) => refs.get(label)!);
    const settled = Promise.all(seeding.map(async (ref) => {
      const outcome = await this.#followSeed(api, ref, spec, signal).catch((err: unknown) => {
        this.#d.log('warn', `${spec.name}: ${describeRef(ref)}: cannot follow the seed: ${apiMessageOf(err)}`);
        return undefined;
      });
      if (outcome) {
        results.set(describeRef(ref), outcome);
        report(current());
      }
    })).then(() => undefined);
    return { settled };
  }

  /** Undo what kx recorded for the spec on every workload of its namespace; returns the workloads changed. */
  async undo(spec: SpecConfig): Promise<string[]> {
    const { api, namespace } = this.#d.cluster(spec);
    const done: string[] = [];
    const problems: string[] = [];
    for (const kind of WORKLOAD_KINDS) {
      let items: JsonObject[];
      try {
        items = await api.list(kind, namespace);
      } catch (err) {
        // A kind the user may not list (or the server does not serve) cannot hold kx's record for them either.
        if (httpStatusOf(err) === 403 || httpStatusOf(err) === 404) continue;
        throw new Error(cannot(`list ${kind.toLowerCase()}s in namespace "${namespace}"`, err), { cause: err });
      }
      for (const item of items) {
        if (!recordOf(item)[spec.name]) continue;
        const ref: WorkloadRef = { kind, namespace, name: String((item.metadata as JsonObject).name) };
        try {
          if (await this.#patchWithRetry(api, ref, (w) => undoOps(w, spec.name))) done.push(describeRef(ref));
        } catch (err) {
          problems.push(cannot(`undo persist in ${describeRef(ref)}`, err));
        }
      }
    }
    if (problems.length > 0) throw new Error(problems.join('; '));
    return done;
  }

  /** Patch one workload for the spec (or find it already done); its state and a note for the summary. */
  async #persistOne(ref: WorkloadRef, spec: SpecConfig): Promise<WorkloadResult> {
    const { api } = this.#d.cluster(spec);
    const plan = { spec: spec.name, container: spec.container, mountPath: spec.remote, claim: spec.persistClaim, seed: true };
    let entry: PersistEntry | undefined;
    let own: string | undefined;
    const label = describeRef(ref);
    await this.#patchWithRetry(api, ref, (w) => {
      const recorded = recordOf(w)[spec.name];
      if (recorded && matches(recorded, plan)) {
        entry = recorded;
        return [];
      }
      // A path, container or claim that changed: what was recorded goes first (its own patch), then the new one.
      if (recorded) return undoOps(w, spec.name);
      own = existingMount(w, plan);
      if (own !== undefined) return [];
      const built = applyOps(w, plan);
      entry = built.entry;
      return built.ops;
    });
    if (own !== undefined) return { state: 'volume', note: `${label}: already a volume (${own})` };
    if (!entry) throw new TemplateProblem('the recorded entry vanished while patching');
    this.#d.log('info', `${spec.name}: ${spec.remote} of ${label} is ${entry.claim !== undefined ? `claim ${entry.claim}` : 'an emptyDir'} (${entry.seeding === 'seeding' ? 'seeding from the image' : entry.seeding})`);
    return { state: entry.seeding, note: label };
  }

  /** Wait for a pod of the new template to run the seed init container: seeded when it completed, empty when it failed. */
  async #followSeed(api: Workloads, ref: WorkloadRef, spec: SpecConfig, signal: AbortSignal): Promise<WorkloadResult | undefined> {
    const deadline = Date.now() + (this.#d.seedTimeoutMs ?? 300_000);
    const label = describeRef(ref);
    while (!signal.aborted && Date.now() < deadline) {
      const w = await api.read(ref);
      const entry = recordOf(w)[spec.name];
      if (!entry?.init) return entry ? { state: entry.seeding, note: label } : undefined;
      const outcome = seedOutcome(await api.pods(ref.namespace, { labelSelector: spec.selector, name: spec.pod }), entry.init);
      if (outcome?.ok) {
        await this.#patchWithRetry(api, ref, (x) => seedingOps(x, spec.name, 'seeded'));
        this.#d.log('info', `${spec.name}: ${label}: the volume at ${spec.remote} was seeded with the image's content`);
        return { state: 'seeded', note: label };
      }
      if (outcome) {
        await this.#patchWithRetry(api, ref, (x) => dropSeedOps(x, spec.name));
        this.#d.log('info', `${spec.name}: ${label}: the image cannot copy ${spec.remote} (${outcome.why}); the volume starts empty and kx's initial sync fills it`);
        return { state: 'empty', note: label };
      }
      await sleep(this.#d.pollMs ?? 1000, signal);
    }
    return undefined;
  }

  /**
   * Read, build ops, patch, until the build has nothing left to do: an undo of a changed path is followed by the
   * apply on the next round. A conflict (409) or a failed test (422: someone edited what the ops rely on) also
   * reads again and rebuilds. True when a patch was sent.
   */
  async #patchWithRetry(api: Workloads, ref: WorkloadRef, build: (w: JsonObject) => PatchOp[]): Promise<boolean> {
    let sent = false;
    for (let round = 0; round < ROUNDS; round++) {
      const ops = build(await api.read(ref));
      if (ops.length === 0) return sent;
      try {
        await api.patch(ref, ops);
        sent = true;
      } catch (err) {
        const status = httpStatusOf(err);
        if (status !== 409 && status !== 422) throw err;
      }
    }
    throw new Error(`${describeRef(ref)} kept changing while kx patched it (${ROUNDS} tries)`);
  }

  async #pods(api: Workloads, namespace: string, spec: SpecConfig, signal: AbortSignal): Promise<JsonObject[]> {
    for (;;) {
      const pods = await api.pods(namespace, { labelSelector: spec.selector, name: spec.pod });
      const live = pods.filter((p) => !(p.metadata as JsonObject).deletionTimestamp);
      if (live.length > 0 || signal.aborted) return live;
      await sleep(this.#d.pollMs ?? 1000, signal);
    }
  }
}

function matches(e: PersistEntry, plan: { container?: string | undefined; mountPath: string; claim?: string | undefined }): boolean {
  return e.mountPath === plan.mountPath && e.claim === plan.claim && (plan.container === undefined || plan.container === e.container);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
