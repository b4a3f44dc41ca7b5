// TypeScript shapes of the kx.v1 messages as @grpc/proto-loader hands them over (camelCase fields, 64-bit
// integers as numbers, bytes as Buffer, scalars defaulted, absent sub-messages null, proto3 `optional` fields
// absent when unset, a oneof's present member named by its virtual field). Hand-written to mirror kx.proto;
// test/sync/proto-contract.test.ts round-trips each through the real codec so the two cannot drift apart.

export interface Owner { uid: number; gid: number }

export interface Target {
  containerId: string;
  runtime: string;
  remotePath: string;
  owner?: Owner | null;
  keepSetIdBits?: boolean;
}

export interface HandshakeRequest { protocolVersion: number; capabilities: string[]; client: string; target: Target | null }
export interface HandshakeResponse { protocolVersion: number; capabilities: string[]; server: string }

export interface IgnoreRuleSetMsg { base: string; patterns: string[] }
export interface ManifestRequest { target: Target | null; rules: IgnoreRuleSetMsg[]; known?: EntryMsg[] }

export interface EntryMsg {
  path: string;
  kind: string;
  mode: number;
  size: number;
  mtimeMs: number;
  digest: string;
  linkTarget: string;
}
export interface ManifestChunk { entries: EntryMsg[] }

export interface DigestsRequest { target: Target | null; paths: string[] }
export interface DigestsReply { entries: EntryMsg[] }

export interface SignaturesRequest { target: Target | null; paths: string[] }
export interface SignatureReply {
  path: string;
  present: boolean;
  blockSize: number;
  fileSize: number;
  weak: Uint8Array;
  strong: Uint8Array;
}

export interface OpMsg {
  op: string;
  path: string;
  from: string;
  mode: number;
  mtimeMs?: number;
  size: number;
  digest: string;
  basis: string;
  blockSize: number;
  linkTarget: string;
  /** Decoded as null when unset. */
  expect?: ExpectMsg | null;
}
export interface ExpectMsg {
  absent: boolean;
  kind: string;
  size: number;
  mtimeMs: number;
  /** Decoded as false / [] when unset. */
  checkContents?: boolean;
  contents?: ExpectEntryMsg[];
}
export interface ExpectEntryMsg { path: string; kind: string; size: number; mtimeMs: number; linkTarget: string }
export interface CopyBlocksMsg { index: number; count: number }
export interface LiteralMsg { data: Uint8Array; deflated: boolean; rawSize: number }
export interface FileEndMsg { abort: boolean; reason: string; code: string; digest: string }

export type ApplyItem =
  | { item: 'op'; op: OpMsg }
  | { item: 'copy'; copy: CopyBlocksMsg }
  | { item: 'literal'; literal: LiteralMsg }
  | { item: 'end'; end: FileEndMsg };

export interface ApplyOpen { target: Target | null }
export interface ApplyFrame { open: ApplyOpen | null; items: ApplyItem[]; flush: boolean }

export interface PathErrorMsg { path: string; code: string; message: string }
export interface ApplyAck { applied: number; bytesReceived: number; errors: PathErrorMsg[] }

export interface DescribeRequest { target: Target | null }
export interface DescribeResponse {
  path: string;
  onVolume: string;
  owner?: Owner | null;
  runtime: string;
  containerName: string;
  namespace: string;
}

export interface ReloadRequest { target: Target | null; mode: string }
export interface ReloadResponse { action: string; newContainerId: string; message: string; filesKept?: boolean }

export interface ExecRequest { target: Target | null; argv: string[]; workdir: string; timeoutMs: number }
export interface ExecOutput { stdout: Buffer; stderr: Buffer; exited: boolean; exitCode: number; timedOut: boolean; truncated: boolean }
