// Two app images for persisted-path tests, built offline from the test busybox image: one whose /app holds a file
// from the image and that can copy (cp), and the same without cp (its volume cannot be seeded).
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface AppImages {
  /** /app/from-image.txt = "image\n"; has cp. */
  readonly withCp: string;
  /** The same without /bin/cp. */
  readonly withoutCp: string;
  remove(): Promise<void>;
}

export async function buildAppImages(): Promise<AppImages> {
  const tag = randomBytes(4).toString('hex');
  const withCp = `kx-test-app:${tag}`;
  const withoutCp = `kx-test-app-nocp:${tag}`;
  await build(withCp, ['FROM kx-test-busybox:1', 'RUN mkdir -p /app && echo image > /app/from-image.txt']);
  await build(withoutCp, [`FROM ${withCp}`, 'RUN rm /bin/cp']);
  return {
    withCp, withoutCp,
    async remove() {
      await run('docker', ['rmi', '-f', withoutCp, withCp]).catch(() => undefined);
    },
  };
}

function build(name: string, dockerfile: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('docker', ['build', '-q', '--label', 'kx-test=persist', '-t', name, '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`docker build ${name}: ${err.trim()}`))));
    p.stdin.end(`${dockerfile.join('\n')}\n`);
  });
}
