// Which container of a pod is a sync target, and how its runtime ID is read.
import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { instanceKey, remoteContainerOf, slotKey } from '../../pkg/kube/remote-container.ts';

const ID = 'a'.repeat(64);

function pod(opts: { containers?: string[]; phase?: string; containerID?: string; running?: boolean; deleting?: boolean; annotations?: Record<string, string> } = {}): V1Pod {
  const containers = opts.containers ?? ['api'];
  return {
    metadata: { name: 'api-1', namespace: 'web', uid: 'u1', annotations: opts.annotations, ...(opts.deleting ? { deletionTimestamp: new Date() } : {}) },
    spec: { nodeName: 'node-a', containers: containers.map((name) => ({ name })) },
    status: {
      phase: opts.phase ?? 'Running',
      containerStatuses: containers.map((name) => ({
        name, image: 'x', imageID: '', ready: true, restartCount: 0,
        containerID: opts.containerID === undefined ? `containerd://${ID}` : opts.containerID,
        state: opts.running === false ? { waiting: { reason: 'ContainerCreating' } } : { running: { startedAt: new Date() } },
      })),
    },
  };
}

describe('remoteContainerOf', () => {
  it('makes a running pod container a target with its node, uid and parsed runtime reference', () => {
    const c = remoteContainerOf(pod(), undefined);
    expect(c).toEqual({ namespace: 'web', pod: 'api-1', container: 'api', nodeName: 'node-a', uid: 'u1', containerRef: { runtime: 'containerd', id: ID } });
    expect(slotKey(c!)).toBe('web/api-1/api');
  });

  it('reads docker:// and cri-o:// IDs as their runtimes', () => {
    expect(remoteContainerOf(pod({ containerID: `docker://${ID}` }), undefined)?.containerRef.runtime).toBe('docker');
    expect(remoteContainerOf(pod({ containerID: `cri-o://${ID}` }), undefined)?.containerRef.runtime).toBe('cri-o');
  });

  it('is not a target before the container has an ID and is running', () => {
    expect(remoteContainerOf(pod({ containerID: '', running: false }), undefined)).toBeUndefined();
    expect(remoteContainerOf(pod({ running: false }), undefined)).toBeUndefined();
  });

  it('is not a target while pending or terminating', () => {
    expect(remoteContainerOf(pod({ phase: 'Pending' }), undefined)).toBeUndefined();
    expect(remoteContainerOf(pod({ deleting: true }), undefined)).toBeUndefined();
  });

  it('names the containers when a pod has several and none was chosen', () => {
    expect(() => remoteContainerOf(pod({ containers: ['api', 'sidecar'] }), undefined))
      .toThrow('pod web/api-1 has 2 containers (api, sidecar); choose one with --container');
  });

  it('picks the named container, or the kubectl default-container annotation', () => {
    expect(remoteContainerOf(pod({ containers: ['api', 'sidecar'] }), 'sidecar')?.container).toBe('sidecar');
    const annotated = pod({ containers: ['api', 'sidecar'], annotations: { 'kubectl.kubernetes.io/default-container': 'sidecar' } });
    expect(remoteContainerOf(annotated, undefined)?.container).toBe('sidecar');
  });

  it('names the containers when the chosen one does not exist', () => {
    expect(() => remoteContainerOf(pod(), 'web')).toThrow('pod web/api-1 has no container "web" (containers: api)');
  });

  it('gives a restarted container a different instance key in the same slot', () => {
    const before = remoteContainerOf(pod(), undefined)!;
    const after = remoteContainerOf(pod({ containerID: `containerd://${'b'.repeat(64)}` }), undefined)!;
    expect(slotKey(after)).toBe(slotKey(before));
    expect(instanceKey(after)).not.toBe(instanceKey(before));
  });
});
