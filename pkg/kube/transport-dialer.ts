// The RadarDialer that connector.ts needs, made of pkg/transport's RadarClient: one gRPC channel per container,
// dialed at the node tunnel's loopback port. gRPC's own reconnect carries it across a dropped WebSocket, because
// every new TCP connection to the tunnel gets a fresh port-forward; the back-off is shortened so that resuming
// takes a fraction of a second rather than gRPC's default of up to two minutes.
import { parseOwner } from '../config/owner.ts';
import { RadarClient } from '../transport/client.ts';
import type { BulkChannel } from '../daemon/target.ts';
import type { RadarDial, RadarDialer, RadarSession } from './radar-dial.ts';

export interface TransportDialerOptions {
  /** Sent in Handshake for radar's logs. */
  readonly clientName?: string;
  /** gRPC reconnect back-off through the tunnel. Default 100 ms … 5 s. */
  readonly reconnectMinMs?: number;
  readonly reconnectMaxMs?: number;
  /**
   * Allow deflating literals (default true: through a port-forward it cuts the transfer). False for a radar on this
   * machine (the Docker target): there deflate only costs CPU on both sides — on a 10,000-file initial sync about
   * a third of kx's CPU, and most of a 1,000-file burst's.
   */
  readonly compress?: boolean;
}

export class TransportDialer implements RadarDialer {
  readonly #opts: TransportDialerOptions;

  constructor(opts: TransportDialerOptions = {}) {
    this.#opts = opts;
  }

  async dial(req: RadarDial): Promise<RadarSession> {
    const bulk: BulkChannel = {
      address: req.address,
      token: req.token,
      clientName: this.#opts.clientName ?? 'kx',
      target: {
        containerId: req.container.id,
        runtime: req.container.runtime,
        remotePath: req.remotePath,
        ...(req.owner ? { owner: parseOwner(req.owner) } : {}),
        ...(req.keepSetIdBits === true && { keepSetIdBits: true }),
      },
      channelOptions: {
        'grpc.initial_reconnect_backoff_ms': this.#opts.reconnectMinMs ?? 100,
        'grpc.min_reconnect_backoff_ms': this.#opts.reconnectMinMs ?? 100,
        'grpc.max_reconnect_backoff_ms': this.#opts.reconnectMaxMs ?? 5000,
      },
      ...(this.#opts.compress === false && { compress: false }),
    };
    const client = new RadarClient(bulk);
    try {
      await client.start(req.signal);
    } catch (err) {
      await client.close();
      throw err;
    }
    return {
      receiver: client,
      bulk,
      reload: async (mode) => {
        await client.reload(mode);
      },
      exec: (argv, opts) => client.exec(argv, opts),
      close: () => client.close(),
    };
  }
}
