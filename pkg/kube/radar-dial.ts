// The seams of the Kubernetes target: how the driver asks pkg/transport for a radar client (wired in
// cmd/composition, so pkg/kube has no gRPC in it), where per-namespace tokens come from, and what a Target is here.
import type { Receiver } from '../sync/types.ts';
import type { BulkChannel, ExecOutcome, ExecRun, Target } from '../daemon/target.ts';
import type { ContainerRef } from '../../proto/container-ref.ts';
import type { RemoteContainer } from './remote-container.ts';

/** One dial of radar for one container, as the connector asks pkg/transport for it. */
export interface RadarDial {
  /** `127.0.0.1:PORT`: the node's tunnel. Dial it as a plain (insecure) gRPC target; the tunnel is the transport. */
  readonly address: string;
  /** The namespace's kx-token, sent as `authorization: Bearer <token>`. */
  readonly token: string;
  readonly container: ContainerRef;
  readonly remotePath: string;
  /** spec.owner ('uid:gid'), when set. */
  readonly owner?: string;
  /** spec.keepSetIdBits: radar keeps set-id and sticky bits instead of stripping them. */
  readonly keepSetIdBits?: boolean;
  readonly signal?: AbortSignal;
}

/** A handshaken radar client for one container. */
export interface RadarSession {
  readonly receiver: Receiver;
  /** How a worker thread dials the same radar for the same container (see Connection.bulk). */
  readonly bulk?: BulkChannel;
  reload(mode: string): Promise<void>;
  exec?(argv: readonly string[], opts: ExecRun): Promise<ExecOutcome>;
  close(): Promise<void>;
}

export interface RadarDialer {
  dial(req: RadarDial): Promise<RadarSession>;
}

/** Per-namespace tokens; the default reads Secret kx-token with the user's credentials (SecretTokens). */
export interface NamespaceTokens {
  tokenFor(namespace: string): Promise<string>;
}

/** A Target the Kubernetes driver hands out; `remote` says which container it is. */
export interface KubeTarget extends Target {
  readonly remote: RemoteContainer;
}
