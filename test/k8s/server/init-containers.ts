// The kubelet's init containers: run one at a time, each to completion, before the pod's containers start. A
// failing one is restarted with the crash-loop back-off (restartPolicy Always/OnFailure) or fails the pod (Never),
// and the pod stays Pending, Initialized False, as `kubectl get` shows Init:0/1, Init:Error, Init:CrashLoopBackOff.
import type { DockerRuntime } from './docker-runtime.ts';
import { getPath, timestamp } from './objects.ts';
import { containerPlan } from './pod-spec.ts';
import type { ContainerContext } from './pod-spec.ts';
import { normalizeImage, rfc3339 } from './pod-status.ts';
import type { Json } from './wire.ts';

export interface InitDeps {
  runtime: DockerRuntime;
  /** The pod as stored now. */
  pod(): Json | undefined;
  context: ContainerContext;
  /** Create and start one init container from its plan (labels, sandbox); throws when it cannot start. */
  run(index: number, plan: ReturnType<typeof containerPlan>, image: string): Promise<string>;
  /** Record the running init container's ID (so a delete can kill it), undefined once it is gone. */
  track(id: string | undefined): void;
  updateStatus(change: (status: Json) => void): void;
  event(type: 'Normal' | 'Warning', reason: string, message: string, container: string): void;
  alive(): boolean;
  restartBackoffMs: number;
}

/** True once every init container completed; false when the pod failed or went away meanwhile. */
export async function runInitContainers(d: InitDeps): Promise<boolean> {
  const pod = d.pod();
  const inits = (getPath(pod ?? {}, ['spec', 'initContainers']) as Json[] | undefined) ?? [];
  const policy = String(getPath(pod ?? {}, ['spec', 'restartPolicy']) ?? 'Always');
  for (const [index, spec] of inits.entries()) {
    const name = String(spec.name);
    const image = String(spec.image);
    let restartCount = 0;
    let lastState: Json = {};
    for (;;) {
      if (!d.alive()) return false;
      const current = d.pod();
      if (!current) return false;
      let result: { exitCode: number; reason: string; message?: string; startedAt: string; finishedAt: string; containerID: string; imageID: string };
      try {
        const id = await d.run(index, containerPlan(current, index, d.context, 'initContainers'), image);
        d.track(id);
        const st0 = await d.runtime.state(id);
        d.updateStatus((s) => setInit(s, name, { name, state: { running: { startedAt: rfc3339(st0.startedAt) } }, lastState, ready: false,
          restartCount, image: normalizeImage(image), imageID: `docker://${st0.imageId}`, containerID: `docker://${id}` }));
        const code = await d.runtime.wait(id);
        const st = await d.runtime.state(id).catch(() => undefined);
        await d.runtime.remove(id);
        d.track(undefined);
        result = { exitCode: code < 0 ? 137 : code, reason: code === 0 ? 'Completed' : 'Error', startedAt: rfc3339(st?.startedAt),
          finishedAt: rfc3339(st?.finishedAt) || timestamp(new Date()), containerID: `docker://${id}`, imageID: `docker://${st0.imageId}` };
      } catch (err) {
        // The runtime could not start the process (e.g. its executable is not in the image): containerd's StartError, exit 128.
        const raw = err instanceof Error ? err.message : String(err);
        const message = raw.replace(/^\(HTTP code \d+\)[^-]*- /, '').split('\n')[0].trim();
        const now = timestamp(new Date());
        result = { exitCode: 128, reason: 'StartError', message, startedAt: '1970-01-01T00:00:00Z', finishedAt: now, containerID: '', imageID: '' };
        d.event('Warning', 'Failed', `Error: ${message}`, name);
      }
      if (!d.alive()) return false;
      const term: Json = { exitCode: result.exitCode, reason: result.reason, ...(result.message && { message: result.message }),
        startedAt: result.startedAt, finishedAt: result.finishedAt, ...(result.containerID && { containerID: result.containerID }) };
      const base = { name, restartCount, image: normalizeImage(image), imageID: result.imageID, ...(result.containerID && { containerID: result.containerID }) };
      if (result.exitCode === 0) {
        d.updateStatus((s) => setInit(s, name, { ...base, state: { terminated: term }, lastState, ready: true }));
        break;
      }
      if (policy === 'Never') {
        d.updateStatus((s) => {
          setInit(s, name, { ...base, state: { terminated: term }, lastState, ready: false });
          s.phase = 'Failed';
        });
        return false;
      }
      const delay = Math.min(d.restartBackoffMs * 2 ** restartCount, 16 * d.restartBackoffMs);
      lastState = { terminated: term };
      d.updateStatus((s) => setInit(s, name, { ...base, state: { waiting: { reason: 'CrashLoopBackOff',
        message: `back-off ${delay / 1000}s restarting failed container=${name}` } }, lastState, ready: false }));
      await new Promise((r) => setTimeout(r, delay));
      restartCount++;
    }
  }
  return true;
}

/** An init container that has not started yet. */
export function waitingInit(name: string, image: string, reason: string): Json {
  return { name, state: { waiting: { reason } }, lastState: {}, ready: false, restartCount: 0, image, imageID: '' };
}

/** The Initialized condition while init containers have not all completed, with the kubelet's reason. */
export function notInitialized(conds: Json[], pending: readonly string[]): Json[] {
  return conds.map((c) => c.type === 'Initialized' && c.status === 'False'
    ? { ...c, reason: 'ContainersNotInitialized', message: `containers with incomplete status: [${pending.join(' ')}]` } : c);
}

function setInit(s: Json, name: string, status: Json): void {
  s.initContainerStatuses = ((s.initContainerStatuses as Json[] | undefined) ?? []).map((cs) => cs.name === name ? status : cs);
}
