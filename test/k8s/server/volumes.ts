// A pod's volumes on the host, as the kubelet sets them up before starting containers: hostPath (with its type
// check), persistentVolumeClaim (a directory per claim that outlives pods, as a local-path provisioner gives),
// emptyDir (a directory of the pod, or tmpfs for medium Memory), Secret and ConfigMap volumes, and
// projected volumes (service-account token, ConfigMap, Secret, downward API) — the service-account volume
// admission adds is one of those.
import { chmod, mkdir, open, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PodSpecError } from './pod-spec.ts';
import type { Json } from './wire.ts';

export interface VolumeSources {
  field(path: string): string;
  secret(name: string): Record<string, string> | undefined;
  configMap(name: string): Record<string, string> | undefined;
  /** A token for the pod's service account, valid `expirationSeconds`. */
  token(expirationSeconds: number): string;
  /** The node directory of a PersistentVolumeClaim (bound on first use), undefined when the claim does not exist. */
  claim(name: string): Promise<string | undefined>;
}

export interface PreparedVolume { source?: string; tmpfs?: boolean }

/** The kubelet's waiting reason while a volume cannot be set up (the pod stays ContainerCreating). */
export const MOUNT_FAILED = 'FailedMount';

/** Sets up every volume of `spec` under `podDir`; PodSpecError(FailedMount) naming the volume when one cannot be. */
export async function prepareVolumes(spec: Json, podDir: string, src: VolumeSources): Promise<Map<string, PreparedVolume>> {
  const out = new Map<string, PreparedVolume>();
  for (const v of (spec.volumes as Json[] | undefined) ?? []) {
    const name = String(v.name);
    const fail = (why: string): never => {
      throw new PodSpecError(MOUNT_FAILED, `MountVolume.SetUp failed for volume ${JSON.stringify(name)} : ${why}`);
    };
    if (v.hostPath) {
      out.set(name, { source: await hostPath(v.hostPath as Json, fail) });
    } else if (v.persistentVolumeClaim) {
      const claim = String((v.persistentVolumeClaim as Json).claimName);
      const dir = await src.claim(claim);
      out.set(name, { source: dir ?? fail(`persistentvolumeclaim ${JSON.stringify(claim)} not found`) });
    } else if (v.emptyDir) {
      if ((v.emptyDir as Json).medium === 'Memory') { out.set(name, { tmpfs: true }); continue; }
      const dir = join(podDir, 'volumes', 'kubernetes.io~empty-dir', name);
      await mkdir(dir, { recursive: true });
      await chmod(dir, 0o777);
      out.set(name, { source: dir });
    } else {
      const dir = join(podDir, 'volumes', 'files', name);
      await mkdir(dir, { recursive: true });
      const files = new Map<string, string>();
      const mode = Number((v.projected ?? v.secret ?? v.configMap) && ((v.projected ?? v.secret ?? v.configMap) as Json).defaultMode || 0o644);
      const fromData = (kind: string, ref: Json, data: Record<string, string> | undefined) => {
        if (!data) {
          if (ref.optional === true) return;
          fail(`${kind} ${JSON.stringify(ref.name ?? ref.secretName)} not found`);
        }
        const items = ref.items as Json[] | undefined;
        if (!items) for (const [k, val] of Object.entries(data!)) files.set(k, val);
        else for (const it of items) {
          const val = data![String(it.key)];
          if (val === undefined) { if (ref.optional !== true) fail(`${kind} ${JSON.stringify(ref.name ?? ref.secretName)} has no key ${JSON.stringify(it.key)}`); continue; }
          files.set(String(it.path), val);
        }
      };
      if (v.secret) fromData('secret', v.secret as Json, src.secret(String((v.secret as Json).secretName)));
      if (v.configMap) fromData('configmap', v.configMap as Json, src.configMap(String((v.configMap as Json).name)));
      for (const s of ((v.projected as Json | undefined)?.sources as Json[] | undefined) ?? []) {
        if (s.serviceAccountToken) {
          const t = s.serviceAccountToken as Json;
          files.set(String(t.path), src.token(Number(t.expirationSeconds ?? 3600)));
        } else if (s.configMap) fromData('configmap', s.configMap as Json, src.configMap(String((s.configMap as Json).name)));
        else if (s.secret) fromData('secret', s.secret as Json, src.secret(String((s.secret as Json).name)));
        else if (s.downwardAPI) {
          for (const it of ((s.downwardAPI as Json).items as Json[] | undefined) ?? []) {
            files.set(String(it.path), src.field(String((it.fieldRef as Json).fieldPath)));
          }
        }
      }
      for (const [path, content] of files) {
        const file = join(dir, path);
        await mkdir(join(file, '..'), { recursive: true });
        await writeFile(file, content, { mode });
        await chmod(file, mode);
      }
      out.set(name, { source: dir });
    }
  }
  return out;
}

/** The hostPath's node path after its type check (the kubelet creates what the *OrCreate types ask for). */
async function hostPath(h: Json, fail: (why: string) => never): Promise<string> {
  const path = String(h.path);
  const type = String(h.type ?? '');
  const st = await stat(path).catch(() => undefined);
  const check = (ok: boolean, what: string) => { if (!ok) fail(`hostPath type check failed: ${path} is not a ${what}`); };
  switch (type) {
    case '':
      // No check; the runtime creates a missing path as a directory, as containerd does.
      if (!st) await mkdir(path, { recursive: true });
      break;
    case 'DirectoryOrCreate':
      if (!st) await mkdir(path, { recursive: true, mode: 0o755 });
      else check(st.isDirectory(), 'directory');
      break;
    case 'Directory': check(!!st && st.isDirectory(), 'directory'); break;
    case 'FileOrCreate':
      if (!st) await (await open(path, 'a', 0o644)).close();
      else check(st.isFile(), 'file');
      break;
    case 'File': check(!!st && st.isFile(), 'file'); break;
    case 'Socket': check(!!st && st.isSocket(), 'socket'); break;
    case 'CharDevice': check(!!st && st.isCharacterDevice(), 'character device'); break;
    case 'BlockDevice': check(!!st && st.isBlockDevice(), 'block device'); break;
    default: fail(`hostPath type ${JSON.stringify(type)} is not a known type`);
  }
  return path;
}
