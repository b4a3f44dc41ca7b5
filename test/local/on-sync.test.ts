// onSync end to end on the Docker target, as users run it: `kx watch` (radar in its container) with a spec whose
// onSync commands run in the container after a batch lands: only when their `when` paths changed, before the
// reload, and a failure skips the reload and shows in `kx get -o json`.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { catInContainer, docker, IMAGE, kx, kxSpawn, randomPort, removeContainer, removeDir, suffix, tempDir, waitFor } from './helpers.ts';

describe('onSync on the Docker target', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  /** PID 1 appends what onSync has logged so far to /tmp/seen-at-start each time it starts, then idles. */
  async function container(label: string): Promise<string> {
    const name = `kx-test-onsync-${suffix()}`;
    const c = await docker.createContainer({
      name,
      Image: IMAGE,
      Cmd: ['sh', '-c', '(echo start; cat /tmp/onsync.log 2>/dev/null) >> /tmp/seen-at-start; trap "exit 0" TERM; while true; do sleep 0.1; done'],
      Labels: { 'kx.test': label },
    });
    await c.start();
    cleanups.push(() => removeContainer(name));
    return name;
  }

  async function startedAt(name: string): Promise<string> {
    return (await docker.getContainer(name).inspect()).State.StartedAt;
  }

  it('runs a command only when its paths change, before the reload; a failing one skips the reload and shows in kx get', { timeout: 300_000 }, async () => {
    const dir = await tempDir('onsync');
    cleanups.push(() => removeDir(dir));
    const label = `t${suffix()}`;
    const src = join(dir, 'src');
    await mkdir(src);
    await writeFile(join(src, 'index.txt'), 'one\n');
    await writeFile(join(src, 'package.json'), '{"v":1}\n');
    const name = await container(label);
    await writeFile(
      join(dir, 'kx.yaml'),
      [
        `statusPort: ${randomPort()}`,
        'specs:',
        '  - name: site',
        `    selector: kx.test=${label}`,
        `    local: ${src}`,
        '    remote: /app',
        '    target: docker',
        '    reload: restart',
        '    onSync:',
        '      - when: [package.json]',
        // Runs in /app (the remote path); records what it saw of the synced file.
        '        run: [sh, -c, "echo deps $(cat package.json) in $(pwd) >> /tmp/onsync.log"]',
        '      - when: [broken.txt]',
        '        run: [sh, -c, "echo install failed: no network >&2; exit 7"]',
        '',
      ].join('\n'),
    );
    const env = { KX_HOME: dir };
    const watch = kxSpawn(['watch'], env);
    cleanups.push(async () => {
      watch.kill('SIGKILL');
    });
    const until = async <T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs?: number): Promise<T> => {
      try {
        return await waitFor(what, probe, timeoutMs);
      } catch (err) {
        throw new Error(`${(err as Error).message}\n--- kx watch ---\n${watch.output().split('\n').slice(-30).join('\n')}`, { cause: err });
      }
    };
    const onSyncLog = async (): Promise<string> => (await catInContainer(name, '/tmp/onsync.log')) ?? '';
    // Long enough for kx watch to build radar's image when the engine's is from other sources.
    await until('the initial sync', async () => (await catInContainer(name, '/app/index.txt')) === 'one\n', 150_000);

    // Another file: synced and reloaded, no command.
    let before = await startedAt(name);
    await writeFile(join(src, 'index.txt'), 'two\n');
    await until('the reload after index.txt', async () => (await startedAt(name)) !== before && (await catInContainer(name, '/app/index.txt')) === 'two\n');
    expect(await onSyncLog()).toBe('');

    // package.json: the command runs once, in the remote path, on the new content, before the restart.
    before = await startedAt(name);
    await writeFile(join(src, 'package.json'), '{"v":2}\n');
    await until('the reload after package.json', async () => (await startedAt(name)) !== before);
    expect(await onSyncLog()).toBe('deps {"v":2} in /app\n');
    // What PID 1 found at its start: the command's line was there before the restart.
    expect((await catInContainer(name, '/tmp/seen-at-start'))?.trimEnd().split('start\n').at(-1)).toBe('deps {"v":2} in /app');
    expect(watch.output()).toMatch(/\[site\/kx-test-onsync-\w+ onSync\] running sh -c echo deps/);

    // A failing command: no reload for its batch, and kx get says what failed.
    before = await startedAt(name);
    await until('watching again', async () => /\bwatching\b/.test((await kx(['get'], env)).stdout));
    await writeFile(join(src, 'broken.txt'), 'x\n');
    const failure = await until('the failure in kx get -o json', async () => {
      const json = JSON.parse((await kx(['get', '-o', 'json'], env)).stdout) as { specs: Array<{ services: Array<{ onSyncFailure?: unknown }> }> };
      return json.specs[0]?.services.find((s) => s.onSyncFailure !== undefined)?.onSyncFailure;
    });
    expect(failure).toMatchObject({ command: 'sh -c echo install failed: no network >&2; exit 7', exitCode: 7, output: 'install failed: no network' });
    expect(await catInContainer(name, '/app/broken.txt')).toBe('x\n');
    expect(await startedAt(name)).toBe(before);
    expect((await kx(['get'], env)).stdout).toContain('onSync sh -c echo install failed: no network >&2; exit 7: exit 7 (install failed: no network); not reloaded');
    expect(watch.output()).toMatch(/onSync\] install failed: no network/);

    // The next batch that succeeds reloads again and clears the failure.
    await writeFile(join(src, 'index.txt'), 'three\n');
    await until('the reload after the fix', async () => (await startedAt(name)) !== before);
    await until('the failure cleared', async () => {
      const json = JSON.parse((await kx(['get', '-o', 'json'], env)).stdout) as { specs: Array<{ services: Array<{ onSyncFailure?: unknown; state: string }> }> };
      return json.specs[0]?.services.every((s) => s.onSyncFailure === undefined) && json.specs[0].services.length > 0;
    });
    expect(await onSyncLog()).toBe('deps {"v":2} in /app\n');
  });
});
