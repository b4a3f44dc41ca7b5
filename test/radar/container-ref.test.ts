import { describe, expect, it } from 'vitest';
import { ErrorCode, isKxError } from '../../pkg/sync/errors.ts';
import { formatContainerRef, parseContainerRef } from '../../proto/container-ref.ts';

const ID = '3f1c2a9e0b7d4c5f8a6e1d2c3b4a59687f0e1d2c3b4a5968778695a4b3c2d1e0';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isKxError(err) ? err.code : 'not a KxError';
  }
  return undefined;
}

describe('parseContainerRef', () => {
  it('reads containerd://, docker:// and cri-o:// as Kubernetes reports them', () => {
    expect(parseContainerRef(`containerd://${ID}`)).toEqual({ runtime: 'containerd', id: ID });
    expect(parseContainerRef(`docker://${ID}`)).toEqual({ runtime: 'docker', id: ID });
    expect(parseContainerRef(`cri-o://${ID}`)).toEqual({ runtime: 'cri-o', id: ID });
  });

  it('takes a bare ID with the runtime given separately', () => {
    expect(parseContainerRef(ID, 'docker')).toEqual({ runtime: 'docker', id: ID });
  });

  it('accepts a Docker container name for the local Docker target', () => {
    expect(parseContainerRef('my_app-1', 'docker')).toEqual({ runtime: 'docker', id: 'my_app-1' });
  });

  it('accepts a scheme that agrees with the runtime given', () => {
    expect(parseContainerRef(`docker://${ID}`, 'docker')).toEqual({ runtime: 'docker', id: ID });
  });

  it('refuses a scheme that contradicts the runtime given', () => {
    expect(codeOf(() => parseContainerRef(`docker://${ID}`, 'containerd'))).toBe(ErrorCode.InvalidArgument);
  });

  it('refuses a bare ID without a runtime, naming the value', () => {
    expect(() => parseContainerRef(ID)).toThrow(ID);
    expect(codeOf(() => parseContainerRef(ID))).toBe(ErrorCode.InvalidArgument);
  });

  it('refuses an unknown runtime', () => {
    expect(codeOf(() => parseContainerRef(`rkt://${ID}`))).toBe(ErrorCode.InvalidArgument);
    expect(codeOf(() => parseContainerRef(ID, 'podman'))).toBe(ErrorCode.InvalidArgument);
  });

  it('refuses garbage IDs: empty, paths, spaces, shell characters, overlong', () => {
    for (const bad of ['containerd://', 'docker://../etc', 'docker://a/b', 'docker://a b', 'docker://$(id)', `docker://${'a'.repeat(77)}`, 'docker://-x']) {
      expect(codeOf(() => parseContainerRef(bad)), bad).toBe(ErrorCode.InvalidArgument);
    }
  });

  it('formats back to the form Kubernetes uses', () => {
    expect(formatContainerRef(parseContainerRef(`containerd://${ID}`))).toBe(`containerd://${ID}`);
  });
});
