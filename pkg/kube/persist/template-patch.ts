// The JSON patches (RFC 6902) that persist a spec's path in a workload's pod template and undo exactly that. Pure:
// built from the workload as just read; every entry a patch removes or relies on is guarded by a `test` op, so a
// concurrent edit that moved it makes the API server refuse the patch (422) instead of removing someone else's
// entry, and the caller reads again and rebuilds.
import { PERSIST_ANNOTATION, SEED_MOUNT, initName, readRecord, volumeName, writeRecord } from './record.ts';
import type { PersistEntry, PersistRecord, Seeding } from './record.ts';

export type JsonObject = Record<string, unknown>;
export interface PatchOp { readonly op: 'add' | 'remove' | 'replace' | 'test'; readonly path: string; readonly value?: unknown }

/** What to persist: the spec's remote path in one container, on an emptyDir or a claim, seeded from the image or not. */
export interface PersistPlan {
  readonly spec: string;
  readonly container?: string | undefined;
  readonly mountPath: string;
  readonly claim?: string | undefined;
  /** Add the init container that copies the image's content into the volume. */
  readonly seed: boolean;
}

/** Why a template cannot take the volume; the message is one line for the user. */
export class TemplateProblem extends Error {}

const TEMPLATE = '/spec/template/spec';

/** The record as the workload carries it now. */
export function recordOf(workload: JsonObject): PersistRecord {
  return readRecord(annotationsOf(workload));
}

/** The container the plan means: the named one, else the template's only container. */
export function chooseContainer(workload: JsonObject, name: string | undefined): { index: number; container: JsonObject } {
  const containers = listAt(workload, 'containers');
  if (name !== undefined) {
    const index = containers.findIndex((c) => c.name === name);
    if (index < 0) throw new TemplateProblem(`its pod template has no container "${name}" (it has ${containers.map((c) => String(c.name)).join(', ')})`);
    return { index, container: containers[index] };
  }
  if (containers.length !== 1) throw new TemplateProblem(`its pod template has ${containers.length} containers: name one with container: in the spec`);
  return { index: 0, container: containers[0] };
}

/** A volume the user already mounts at the path (then there is nothing to persist), else undefined. */
export function existingMount(workload: JsonObject, plan: PersistPlan): string | undefined {
  const { container } = chooseContainer(workload, plan.container);
  const mounts = (container.volumeMounts as JsonObject[] | undefined) ?? [];
  const own = volumeName(plan.spec);
  const hit = mounts.find((m) => m.mountPath === plan.mountPath && m.name !== own);
  return hit ? String(hit.name) : undefined;
}

/** Ops adding the volume, its mount, (seed) the init container and the record entry. */
export function applyOps(workload: JsonObject, plan: PersistPlan): { ops: PatchOp[]; entry: PersistEntry } {
  const { index, container } = chooseContainer(workload, plan.container);
  const volume = volumeName(plan.spec);
  const init = initName(plan.spec);
  if (listAt(workload, 'volumes').some((v) => v.name === volume)) throw new TemplateProblem(`its pod template already has a volume "${volume}" that kx did not record`);
  const ops: PatchOp[] = [{ op: 'test', path: `${TEMPLATE}/containers/${index}/name`, value: container.name }];
  const created: ('volumes' | 'volumeMounts' | 'initContainers')[] = [];
  const source = plan.claim !== undefined ? { persistentVolumeClaim: { claimName: plan.claim } } : { emptyDir: {} };
  appendTo(ops, workload, TEMPLATE, 'volumes', { name: volume, ...source }, created);
  const mounts = container.volumeMounts as unknown[] | undefined;
  if (mounts === undefined) {
    ops.push({ op: 'add', path: `${TEMPLATE}/containers/${index}/volumeMounts`, value: [{ name: volume, mountPath: plan.mountPath }] });
    created.push('volumeMounts');
  } else {
    ops.push({ op: 'add', path: `${TEMPLATE}/containers/${index}/volumeMounts/-`, value: { name: volume, mountPath: plan.mountPath } });
  }
  if (plan.seed) {
    appendTo(ops, workload, TEMPLATE, 'initContainers', {
      name: init,
      image: container.image,
      // No shell: an image without cp fails this at once, and kx then lets the volume start empty. (No -n for
      // claims: busybox's cp -n skips the whole tree when the target directory exists.)
      command: ['cp', '-a', `${plan.mountPath.replace(/\/+$/, '')}/.`, `${SEED_MOUNT}/`],
      volumeMounts: [{ name: volume, mountPath: SEED_MOUNT }],
      // The copy runs as the app would (same user, same limits), so it is admitted where the app is.
      ...(container.securityContext !== undefined && { securityContext: container.securityContext }),
      ...(container.resources !== undefined && { resources: container.resources }),
      ...(container.imagePullPolicy !== undefined && { imagePullPolicy: container.imagePullPolicy }),
    }, created);
  }
  const entry: PersistEntry = {
    container: String(container.name), mountPath: plan.mountPath, volume,
    ...(plan.claim !== undefined && { claim: plan.claim }),
    ...(plan.seed && { init }),
    seeding: plan.seed ? 'seeding' : 'empty',
    ...(created.length > 0 && { created }),
  };
  ops.push(...recordOps(workload, { ...recordOf(workload), [plan.spec]: entry }));
  return { ops, entry };
}

/** Ops removing what the record says kx added for `spec`; [] when nothing is recorded. */
export function undoOps(workload: JsonObject, spec: string): PatchOp[] {
  const record = recordOf(workload);
  const entry = record[spec];
  if (!entry) return [];
  const ops: PatchOp[] = [];
  const containers = listAt(workload, 'containers');
  const ci = containers.findIndex((c) => c.name === entry.container);
  if (ci >= 0) {
    const mounts = (containers[ci].volumeMounts as JsonObject[] | undefined) ?? [];
    const mi = mounts.findIndex((m) => m.name === entry.volume && m.mountPath === entry.mountPath);
    if (mi >= 0) removeAt(ops, `${TEMPLATE}/containers/${ci}/volumeMounts`, mounts, mi, entry.created?.includes('volumeMounts') === true,
      { op: 'test', path: `${TEMPLATE}/containers/${ci}/name`, value: entry.container });
  }
  if (entry.init !== undefined) {
    const inits = listAt(workload, 'initContainers');
    const ii = inits.findIndex((c) => c.name === entry.init);
    if (ii >= 0) removeAt(ops, `${TEMPLATE}/initContainers`, inits, ii, entry.created?.includes('initContainers') === true);
  }
  const volumes = listAt(workload, 'volumes');
  const vi = volumes.findIndex((v) => v.name === entry.volume);
  if (vi >= 0) removeAt(ops, `${TEMPLATE}/volumes`, volumes, vi, entry.created?.includes('volumes') === true);
  const rest: Record<string, PersistEntry> = { ...record };
  delete rest[spec];
  ops.push(...recordOps(workload, rest));
  return ops;
}

/** Ops dropping the seed init container (the image cannot copy) and recording the volume as starting empty. */
export function dropSeedOps(workload: JsonObject, spec: string): PatchOp[] {
  const record = recordOf(workload);
  const entry = record[spec];
  if (!entry || (entry.init === undefined && entry.seeding === 'empty')) return [];
  const ops: PatchOp[] = [];
  if (entry.init !== undefined) {
    const inits = listAt(workload, 'initContainers');
    const ii = inits.findIndex((c) => c.name === entry.init);
    if (ii >= 0) removeAt(ops, `${TEMPLATE}/initContainers`, inits, ii, entry.created?.includes('initContainers') === true);
  }
  const { init: _dropped, ...kept } = entry;
  const created = (entry.created ?? []).filter((c) => c !== 'initContainers');
  const { created: _c, ...base } = kept;
  ops.push(...recordOps(workload, { ...record, [spec]: { ...base, seeding: 'empty', ...(created.length > 0 && { created }) } }));
  return ops;
}

/** Ops changing only the recorded seeding of `spec`. */
export function seedingOps(workload: JsonObject, spec: string, seeding: Seeding): PatchOp[] {
  const record = recordOf(workload);
  const entry = record[spec];
  if (!entry || entry.seeding === seeding) return [];
  return recordOps(workload, { ...record, [spec]: { ...entry, seeding } });
}

/** Add `value` at the end of the template's list `key`, creating the list (and noting that) when there is none. */
function appendTo(ops: PatchOp[], workload: JsonObject, base: string, key: 'volumes' | 'initContainers', value: unknown,
  created: ('volumes' | 'volumeMounts' | 'initContainers')[]): void {
  if (templateSpec(workload)[key] === undefined) {
    ops.push({ op: 'add', path: `${base}/${key}`, value: [value] });
    created.push(key);
  } else {
    ops.push({ op: 'add', path: `${base}/${key}/-`, value });
  }
}

/** Remove element i of `list` at `path`, guarded by a test of its name; the whole list when kx created it and it is the last. */
function removeAt(ops: PatchOp[], path: string, list: JsonObject[], i: number, created: boolean, guard?: PatchOp): void {
  if (guard) ops.push(guard);
  ops.push({ op: 'test', path: `${path}/${i}/name`, value: list[i].name }, { op: 'remove', path: `${path}/${i}` });
  // The list kx created goes too once kx's entry was its last: tested empty, so an entry added meanwhile stays.
  if (created && list.length === 1) ops.push({ op: 'test', path, value: [] }, { op: 'remove', path });
}

/** Ops writing the record: the annotation set, replaced, or removed (with the map when it was the only one). */
function recordOps(workload: JsonObject, record: PersistRecord): PatchOp[] {
  const annotations = annotationsOf(workload);
  const key = `/metadata/annotations/${PERSIST_ANNOTATION.replace(/~/g, '~0').replace(/\//g, '~1')}`;
  const empty = Object.keys(record).length === 0;
  const has = annotations?.[PERSIST_ANNOTATION] !== undefined;
  const guard: PatchOp[] = has ? [{ op: 'test', path: key, value: annotations[PERSIST_ANNOTATION] }] : [];
  if (empty) {
    if (!has) return [];
    if (Object.keys(annotations).length === 1) return [...guard, { op: 'remove', path: '/metadata/annotations' }];
    return [...guard, { op: 'remove', path: key }];
  }
  if (annotations === undefined) return [{ op: 'add', path: '/metadata/annotations', value: { [PERSIST_ANNOTATION]: writeRecord(record) } }];
  return [...guard, { op: 'add', path: key, value: writeRecord(record) }];
}

function templateSpec(workload: JsonObject): JsonObject {
  const spec = (workload.spec as JsonObject | undefined)?.template as JsonObject | undefined;
  return (spec?.spec as JsonObject | undefined) ?? {};
}

function listAt(workload: JsonObject, key: 'containers' | 'initContainers' | 'volumes'): JsonObject[] {
  return (templateSpec(workload)[key] as JsonObject[] | undefined) ?? [];
}

function annotationsOf(workload: JsonObject): Record<string, string> | undefined {
  return (workload.metadata as JsonObject | undefined)?.annotations as Record<string, string> | undefined;
}
