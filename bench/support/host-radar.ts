// A radar the benches run as a host process (`--listen 127.0.0.1:0`): its address, once it says it listens.
import type { ChildProcess } from 'node:child_process';

/** The address radar prints once it listens; rejects if it exits first. `onOutput` sees each chunk of its stdout. */
export function listeningAddress(radar: ChildProcess, onOutput?: (chunk: Buffer) => void): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let out = '';
    radar.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      onOutput?.(d);
      const m = /radar listening on (\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    radar.once('exit', (code) => reject(new Error(`radar exited (${code}) before listening: ${out}`)));
  });
}
