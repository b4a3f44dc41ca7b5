// Pod status pieces as the 1.24 kubelet reports them (README §2): conditions with transition times,
// containerStatuses with state/lastState, keys in Go's order, zero values left out.
import type { Json } from './wire.ts';

export type ConditionType = 'Initialized' | 'Ready' | 'ContainersReady' | 'PodScheduled';
const CONDITION_ORDER: readonly ConditionType[] = ['Initialized', 'Ready', 'ContainersReady', 'PodScheduled'];

/** Conditions in the kubelet's order; a condition keeps its lastTransitionTime until its status flips. */
export function conditions(prev: Json[] | undefined, want: Partial<Record<ConditionType, boolean>>,
  notReady: readonly string[], now: string): Json[] {
  const out: Json[] = [];
  for (const type of CONDITION_ORDER) {
    const v = want[type];
    if (v === undefined) continue;
    const status = v ? 'True' : 'False';
    const old = prev?.find((c) => c.type === type);
    const c: Json = {
      type, status, lastProbeTime: null,
      lastTransitionTime: old && old.status === status ? old.lastTransitionTime : now,
    };
    if (!v && (type === 'Ready' || type === 'ContainersReady')) {
      c.reason = 'ContainersNotReady';
      c.message = `containers with unready status: [${notReady.join(' ')}]`;
    }
    out.push(c);
  }
  return out;
}

export function creatingStatus(name: string, specImage: string): Json {
  return { name, state: { waiting: { reason: 'ContainerCreating' } }, lastState: {}, ready: false, restartCount: 0,
    image: specImage, imageID: '', started: false };
}

export interface RunningInput { containerID: string; startedAt: string; image: string; imageID: string }

export function runningStatus(prev: Json, r: RunningInput, restartCount: number, lastState: Json): Json {
  return { name: prev.name, state: { running: { startedAt: r.startedAt } }, lastState, ready: true, restartCount,
    image: r.image, imageID: r.imageID, containerID: r.containerID, started: true };
}

export interface TerminatedInput { exitCode: number; startedAt: string; finishedAt: string; containerID: string }

export function terminated(t: TerminatedInput): Json {
  const s: Json = { exitCode: t.exitCode, reason: t.exitCode === 0 ? 'Completed' : 'Error', startedAt: t.startedAt,
    finishedAt: t.finishedAt, containerID: t.containerID };
  if (t.exitCode === 0) delete s.exitCode;
  return { terminated: s };
}

/** The running container died: restartCount stays, containerID stays the old one until the replacement runs. */
export function exitedStatus(prev: Json, t: TerminatedInput): Json {
  return { name: prev.name, state: terminated(t), lastState: prev.lastState ?? {}, ready: false,
    restartCount: prev.restartCount, image: prev.image, imageID: prev.imageID, containerID: t.containerID,
    started: false };
}

export function backoffStatus(prev: Json, message: string, lastTerminated: Json): Json {
  return { name: prev.name, state: { waiting: { reason: 'CrashLoopBackOff', message } }, lastState: lastTerminated,
    ready: false, restartCount: prev.restartCount, image: prev.image, imageID: prev.imageID,
    containerID: prev.containerID, started: false };
}

/** The image name as containerd/dockershim normalise it ("kx-test-busybox:1" → "docker.io/library/…"). */
export function normalizeImage(image: string): string {
  const parts = image.split('/');
  if (parts.length === 1) return `docker.io/library/${image}`;
  if (!parts[0].includes('.') && !parts[0].includes(':') && parts[0] !== 'localhost') return `docker.io/${image}`;
  return image;
}

/** RFC 3339 seconds, as metav1.Time marshals; Docker's zero time becomes the empty string. */
export function rfc3339(dockerTime: string | undefined): string {
  if (!dockerTime || dockerTime.startsWith('0001-')) return '';
  return new Date(dockerTime).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
