// What kx changed in a workload's pod template to persist a spec's path, kept in an annotation on the workload
// itself: undo reads it and removes exactly those entries, whoever edited the workload since.

/** The annotation on the workload (Deployment, StatefulSet, DaemonSet, ReplicaSet); JSON: spec name → PersistEntry. */
export const PERSIST_ANNOTATION = 'kx.dev/persist';

/** How the volume got its first content: copied from the image by the init container, or left to kx's initial sync. */
export type Seeding = 'seeded' | 'empty' | 'seeding';

export interface PersistEntry {
  /** The container whose remote path is the volume. */
  readonly container: string;
  readonly mountPath: string;
  /** The volume kx added to spec.template.spec.volumes. */
  readonly volume: string;
  /** A PVC (persistentVolumeClaim.claimName), else an emptyDir. */
  readonly claim?: string;
  /** The init container kx added to seed the volume, while it is there. */
  readonly init?: string;
  readonly seeding: Seeding;
  /** Lists kx created because the template had none (removed again when they are empty on undo). */
  readonly created?: readonly ('volumes' | 'volumeMounts' | 'initContainers')[];
}

export type PersistRecord = Readonly<Record<string, PersistEntry>>;

/** The record in a workload's annotations; an unreadable one counts as empty (it is not kx's to repair). */
export function readRecord(annotations: Readonly<Record<string, string>> | undefined): PersistRecord {
  const raw = annotations?.[PERSIST_ANNOTATION];
  if (raw === undefined) return {};
  try {
    const v = JSON.parse(raw) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as PersistRecord) : {};
  } catch {
    return {};
  }
}

export function writeRecord(record: PersistRecord): string {
  return JSON.stringify(record);
}

/** The names kx gives what it adds: `kx-<spec>`, cut to the 63 characters Kubernetes allows. */
export function volumeName(spec: string): string {
  return `kx-${spec}`.slice(0, 63).replace(/-+$/, '');
}

export function initName(spec: string): string {
  return `kx-seed-${spec}`.slice(0, 63).replace(/-+$/, '');
}

/** Where the init container sees the volume while it copies the image's content into it. */
export const SEED_MOUNT = '/kx-persist';
