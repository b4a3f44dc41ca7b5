// The manifests of a full sync as they cross between the daemon's thread and the sync worker: packed compact
// tables (manifest-table.ts) instead of Maps of entries. A structured clone of a 100,000-entry Map makes 100,000
// objects and strings on the other side, seconds of CPU and a peak the daemon's heap keeps; a packed table is a
// handful of ArrayBuffers, transferred from the worker (it is done with them) and copied to it (the daemon keeps its
// own).
import { ManifestTable, type PackedManifest } from '../sync/manifest-table.ts';
import type { PushResult, SafetyOptions } from '../sync/push.ts';
import type { Manifest } from '../sync/types.ts';

/** A full sync's options as posted: the previous local manifest and the ancestor packed. */
export type Posted<J extends JobManifests> = Omit<J, 'previousLocal' | 'safety'> & {
  readonly previousLocal?: PackedManifest;
  readonly safety?: Omit<SafetyOptions, 'ancestor'> & { readonly ancestor: PackedManifest | undefined };
};

/** A PushResult as posted back: its three manifests packed. */
export type PostedResult = Omit<PushResult, 'local' | 'remote' | 'ancestor'> & {
  readonly local: PackedManifest;
  readonly remote: PackedManifest;
  readonly ancestor: PackedManifest;
};

interface JobManifests {
  readonly previousLocal?: Manifest;
  readonly safety?: SafetyOptions;
}

/** The job to post to the worker: its manifests packed (copied by the post; the daemon keeps its tables). */
export function postJob<J extends JobManifests>(job: J): Posted<J> {
  const { previousLocal, safety, ...rest } = job;
  return {
    ...rest,
    ...(previousLocal !== undefined && { previousLocal: ManifestTable.of(previousLocal).pack().packed }),
    ...(safety !== undefined && { safety: { ...safety, ancestor: safety.ancestor === undefined ? undefined : ManifestTable.of(safety.ancestor).pack().packed } }),
  };
}

/** The job as the worker runs it: its manifests as tables. */
export function receivedJob<J extends JobManifests>(posted: Posted<J>): J {
  const { previousLocal, safety, ...rest } = posted;
  return {
    ...rest,
    ...(previousLocal !== undefined && { previousLocal: ManifestTable.unpack(previousLocal) }),
    ...(safety !== undefined && { safety: { ...safety, ancestor: safety.ancestor === undefined ? undefined : ManifestTable.unpack(safety.ancestor) } }),
  } as unknown as J;
}

/** The result to post back, with the buffers to transfer (the worker is done with its manifests). */
export function postResult(result: PushResult): { result: PostedResult; transfer: ArrayBuffer[] } {
  const transfer = new Set<ArrayBuffer>();
  const pack = (m: Manifest): PackedManifest => {
    const { packed, transfer: buffers } = ManifestTable.of(m).pack();
    for (const b of buffers) transfer.add(b);
    return packed;
  };
  return { result: { ...result, local: pack(result.local), remote: pack(result.remote), ancestor: pack(result.ancestor) }, transfer: [...transfer] };
}

/** The result as the daemon keeps it: compact tables. */
export function receivedResult(posted: PostedResult): PushResult {
  return { ...posted, local: ManifestTable.unpack(posted.local), remote: ManifestTable.unpack(posted.remote), ancestor: ManifestTable.unpack(posted.ancestor) };
}
