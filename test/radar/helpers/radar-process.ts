// radar/main.ts as a real, memory-limited process, and what a hostile peer sends it over plain HTTP/2 (gRPC
// framing by hand: whatever sizes it likes, messages never finished).
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import * as http2 from 'node:http2';
import { resolve } from 'node:path';

const MAIN = resolve(import.meta.dirname, '../../../radar/main.ts');
/** radar must not take this test host for a pod, whatever runs the tests. */
const { KUBERNETES_SERVICE_HOST: _inCluster, ...childEnv } = process.env;

export interface RadarProcess {
  readonly child: ChildProcessWithoutNullStreams;
  readonly address: string;
  readonly stderr: () => string;
  /** Peak resident memory so far (VmHWM), in bytes. */
  peakRss(): number;
  /** Still running. */
  alive(): boolean;
  stop(): Promise<void>;
}

/** Starts radar/main.ts with `args` under a V8 heap limit and waits for its "listening" line. */
export async function startRadar(args: readonly string[], opts: { heapMiB?: number; env?: Record<string, string> } = {}): Promise<RadarProcess> {
  const node = [`--max-old-space-size=${opts.heapMiB ?? 256}`];
  const child = spawn(process.execPath, [...node, MAIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...childEnv, ...opts.env } });
  let out = '';
  let err = '';
  let exited = false;
  child.once('exit', () => (exited = true));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const address = await new Promise<string>((ok, fail) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /radar listening on (\S+)\n/.exec(out);
      if (m) ok(m[1]);
    });
    child.once('exit', (code) => fail(new Error(`radar exited with ${code}: ${err}`)));
  });
  return {
    child,
    address,
    stderr: () => err,
    peakRss: () => {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      return Number(m?.[1] ?? 0) * 1024;
    },
    alive: () => !exited,
    stop: async () => {
      if (exited) return;
      child.kill('SIGKILL');
      await once(child, 'exit').catch(() => undefined);
    },
  };
}

/** A gRPC message prefix: not compressed, `length` bytes announced. */
export function grpcPrefix(length: number): Buffer {
  const b = Buffer.alloc(5);
  b.writeUInt32BE(length, 1);
  return b;
}

/** A raw HTTP/2 connection speaking gRPC framing by hand. */
export class RawPeer {
  readonly session: http2.ClientHttp2Session;
  readonly #streams: http2.ClientHttp2Stream[] = [];

  constructor(address: string) {
    this.session = http2.connect(`http://${address}`);
    this.session.on('error', () => undefined);
  }

  /**
   * Opens a call to `method` with `headers` and writes `body` (a whole message or a part of one). Resolves with the
   * gRPC status radar answered (null: the stream was cut without one).
   */
  call(method: string, body: Buffer, opts: { token?: string; end?: boolean } = {}): Promise<{ status: number | null; message: string }> {
    const headers: http2.OutgoingHttpHeaders = {
      ':method': 'POST',
      ':path': `/kx.v1.Radar/${method}`,
      'content-type': 'application/grpc',
      te: 'trailers',
      'kx-protocol-version': '1',
      ...(opts.token === undefined ? {} : { authorization: `Bearer ${opts.token}` }),
    };
    const stream = this.session.request(headers, { endStream: false });
    this.#streams.push(stream);
    return new Promise((resolve) => {
      let status: number | null = null;
      let message = '';
      // radar's answer settles the call even while this side keeps its half of the stream open.
      const take = (h: http2.IncomingHttpHeaders): void => {
        if (h['grpc-message'] !== undefined) message = decodeURIComponent(String(h['grpc-message']));
        if (h['grpc-status'] !== undefined) {
          status = Number(h['grpc-status']);
          resolve({ status, message });
        }
      };
      stream.on('response', take);
      stream.on('trailers', take);
      stream.on('data', () => undefined);
      stream.on('error', () => undefined);
      stream.on('close', () => resolve({ status, message }));
      stream.write(body);
      if (opts.end !== false) stream.end();
    });
  }

  close(): void {
    for (const s of this.#streams) s.close();
    this.session.destroy();
  }
}
