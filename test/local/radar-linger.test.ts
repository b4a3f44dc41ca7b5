// radar's container for the Docker target, left running by one kx for the next kx of the same home: adopted when it
// is the same image and kx's record of it is the user's alone; replaced otherwise; gone by itself after its idle
// time; and removed by `kx clean --docker` (removeRadarContainers). On the real engine, with the tests' radar image.
import { execFile } from 'node:child_process';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_RADAR_LINGER_SECONDS, radarLinger, RADAR_STATE_FILE } from '../../cmd/composition/docker-radar.ts';
import { resolveEngineAddress, type EngineAddress } from '../../pkg/docker/engine-address.ts';
import { RADAR_LABEL, RADAR_LINGER_LABEL, RadarContainer, homeHash, removeRadarContainers, describeRadarContainers, type RadarLinger } from '../../pkg/docker/radar-container.ts';
import { ErrorCode, isKxError } from '../../pkg/sync/errors.ts';
import { RadarClient } from '../../pkg/transport/client.ts';
import { radarImage } from '../setup/radar-image.ts';
import { docker, kx, removeContainer, removeDir, startContainer, suffix, tempDir, waitFor } from './helpers.ts';

const run = promisify(execFile);
const SLOW = 180_000;

describe("radar's container left running for the next kx watch", () => {
  let engine: EngineAddress;
  let image: string;
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    engine = await resolveEngineAddress();
    image = await radarImage();
  }, SLOW);

  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  /** A kx home of its own: its label value, its state file, and every radar container of it removed at the end. */
  async function home(): Promise<{ dir: string; home: string; stateFile: string; lines: string[] }> {
    const dir = await tempDir('radar-linger');
    const h = homeHash(dir);
    cleanups.push(async () => {
      await removeRadarContainers(docker, h);
      await removeDir(dir);
    });
    return { dir, home: h, stateFile: join(dir, RADAR_STATE_FILE), lines: [] };
  }

  function radar(h: { home: string; lines: string[] }, linger: RadarLinger, imageName = image): RadarContainer {
    const r = new RadarContainer({ docker, engine, image: async () => imageName, home: h.home, log: (line) => h.lines.push(line), linger });
    cleanups.push(() => r.close());
    return r;
  }

  async function running(h: { home: string }): Promise<string[]> {
    const list = await docker.listContainers({ filters: { label: [`${RADAR_LABEL}=${h.home}`] } });
    return list.map((c) => c.Id);
  }

  /** Whether radar at `address` accepts the token, by a handshake for a container of the engine. */
  async function serves(address: string, token: string, target: string): Promise<boolean | string> {
    const client = new RadarClient({ address, token, target: { containerId: `docker://${target}`, runtime: 'docker', remotePath: '/app' } });
    try {
      await client.start();
      return true;
    } catch (err) {
      return isKxError(err, ErrorCode.Unauthenticated) ? false : String(err);
    } finally {
      await client.close();
    }
  }

  it('KX_RADAR_LINGER: 600 s by default, 0 for none, anything else refused naming the variable', () => {
    expect(radarLinger({}, '/h')).toEqual({ radarLinger: { seconds: DEFAULT_RADAR_LINGER_SECONDS, stateFile: join('/h', RADAR_STATE_FILE) } });
    expect(radarLinger({ KX_RADAR_LINGER: '30' }, '/h').radarLinger?.seconds).toBe(30);
    expect(radarLinger({ KX_RADAR_LINGER: '0' }, '/h')).toEqual({});
    expect(() => radarLinger({ KX_RADAR_LINGER: 'a while' }, '/h')).toThrow(/^KX_RADAR_LINGER=a while: expected whole seconds/);
  });

  it('the next kx of the same home adopts the radar the last one left: same container, same token, recorded mode 0600', async () => {
    const h = await home();
    const target = await startContainer({ 'kx.test': suffix() });
    cleanups.push(() => removeContainer(target.name));
    const first = radar(h, { seconds: 120, stateFile: h.stateFile });
    const left = await first.endpoint();
    await first.close();
    expect(await running(h)).toEqual([left.id]);
    expect((await stat(h.stateFile)).mode & 0o777).toBe(0o600);
    expect(h.lines.join('\n')).toMatch(/stays up for the next kx watch; it exits after 120 s with no client/);
    const info = await docker.getContainer(left.id).inspect();
    expect(info.Config.Labels[RADAR_LINGER_LABEL]).toBe('120');
    expect(info.Config.Cmd).toEqual(expect.arrayContaining(['--idle-exit', '120']));
    expect(info.HostConfig.AutoRemove).toBe(true);
    expect(await describeRadarContainers(docker, h.home)).toEqual([expect.stringMatching(/running\): kept for the next kx watch of this home: exits after 120 s with no client$/)]);

    const next = radar(h, { seconds: 120, stateFile: h.stateFile });
    const adopted = await next.endpoint();
    expect(adopted).toEqual(left);
    expect(h.lines.join('\n')).toMatch(/serves the docker target at \S+, adopted: left running by the last kx watch/);
    expect(await serves(adopted.address, adopted.token, target.id)).toBe(true);
    expect(await serves(adopted.address, 'not-the-token', target.id)).toBe(false);

    // kx doctor says it is kept, and for how long; kx clean --docker removes it and kx's record of it.
    await next.close();
    const env = { KX_HOME: h.dir, KX_RADAR_IMAGE: image };
    await mkdir(join(h.dir, 'src'));
    expect(await kx(['create', '--docker', '-l', `kx.test=${suffix()}`, join(h.dir, 'src'), '/app'], env)).toMatchObject({ code: 0 });
    const doctor = await kx(['doctor'], env);
    expect(doctor.stdout).toMatch(new RegExp(`docker radar container\\s+pass\\s+kx-radar-\\S+ \\(${image}, running\\): kept for the next kx watch of this home: exits after 120 s with no client`));
    const cleaned = await kx(['clean', '--docker'], env);
    expect(cleaned, cleaned.stderr).toMatchObject({ code: 0 });
    expect(cleaned.stdout).toMatch(/removed 1 radar container\(s\)/);
    expect(await running(h)).toEqual([]);
    await expect(stat(h.stateFile)).rejects.toMatchObject({ code: 'ENOENT' });
  }, SLOW);

  it('a radar container that died is replaced: the next connection gets a new one (the first use just after the start is not checked)', async () => {
    const h = await home();
    const r = new RadarContainer({ docker, engine, image: async () => image, home: h.home, log: (line) => h.lines.push(line) });
    cleanups.push(() => r.close());
    const first = await r.endpoint();
    await docker.getContainer(first.id).kill();
    // Taken as running once, if still within moments of its start (a dial to it then fails and is retried).
    let next = await r.endpoint();
    if (next.id === first.id) next = await r.endpoint();
    expect(next.id).not.toBe(first.id);
    expect((await docker.getContainer(next.id).inspect()).State.Running).toBe(true);
    await waitFor('the dead radar removed', async () => !(await docker.listContainers({ all: true, filters: { label: [`${RADAR_LABEL}=${h.home}`] } })).some((c) => c.Id === first.id), 30_000);
  }, SLOW);

  it('starts another, and removes the one left, when the left one runs another image or its record is readable by others', async () => {
    const h = await home();
    // Another image: the same radar with one more label (a different image ID), built offline from the local one.
    const other = `kx-radar-linger-other:${suffix()}`;
    await run('sh', ['-c', `printf 'FROM ${image}\\nLABEL kx.test.other=1\\n' | docker build -q -t ${other} -`]);
    cleanups.push(() => docker.getImage(other).remove({ force: true }).catch(() => undefined));
    const old = radar(h, { seconds: 120, stateFile: h.stateFile }, other);
    const oldEnd = await old.endpoint();
    await old.close();

    const next = radar(h, { seconds: 120, stateFile: h.stateFile });
    const fresh = await next.endpoint();
    expect(fresh.id).not.toBe(oldEnd.id);
    expect(h.lines.join('\n')).toMatch(new RegExp(`container ${oldEnd.id.slice(0, 12)} left by the last kx watch is of another image than kx runs now \\(${other}\\): starting another`));
    await waitFor('the other image\'s radar removed', async () => !(await running(h)).includes(oldEnd.id), 30_000);
    await next.close();
    expect(await running(h)).toEqual([fresh.id]);

    // The record made readable by others: its token may be known; that radar is not used, and goes.
    await chmod(h.stateFile, 0o644);
    const third = radar(h, { seconds: 120, stateFile: h.stateFile });
    const replaced = await third.endpoint();
    expect(replaced.id).not.toBe(fresh.id);
    expect(replaced.token).not.toBe(fresh.token);
    expect(h.lines.join('\n')).toMatch(/radar-docker\.json is readable or writable by others \(mode 644\): not adopting/);
    await waitFor('the exposed radar removed', async () => !(await running(h)).includes(fresh.id), 30_000);
  }, SLOW);

  it('a left radar exits by itself after its idle time with no client, and the engine removes it; the next kx starts another', async () => {
    const h = await home();
    const first = radar(h, { seconds: 2, stateFile: h.stateFile });
    const left = await first.endpoint();
    await first.close();
    await waitFor('the idle radar gone', async () => (await docker.listContainers({ all: true, filters: { label: [`${RADAR_LABEL}=${h.home}`] } })).length === 0, 60_000);

    const next = radar(h, { seconds: 2, stateFile: h.stateFile });
    const fresh = await next.endpoint();
    expect(fresh.id).not.toBe(left.id);
    expect(h.lines.join('\n')).not.toMatch(/adopted/);
  }, SLOW);

  it('a radar in use stays up past its idle time though no call is in flight; once left, it goes', async () => {
    const used = await home();
    const control = await home();
    const inUse = radar(used, { seconds: 3, stateFile: used.stateFile });
    const left = radar(control, { seconds: 3, stateFile: control.stateFile });
    const [e] = await Promise.all([inUse.endpoint(), left.endpoint()]);
    await left.close();
    // The control, left at the same time with the same idle time, exiting shows that time has passed.
    await waitFor('the control radar gone', async () => (await running(control)).length === 0, 60_000);
    expect(await running(used)).toEqual([e.id]);
    await inUse.close();
    await waitFor('the radar left gone', async () => (await running(used)).length === 0, 60_000);
  }, SLOW);

  it('a record that does not parse is ignored: a new radar, and the record rewritten', async () => {
    const h = await home();
    await writeFile(h.stateFile, '{"id": 1', { mode: 0o600 });
    const r = radar(h, { seconds: 120, stateFile: h.stateFile });
    const e = await r.endpoint();
    expect(await running(h)).toEqual([e.id]);
    await r.close();
    expect(JSON.parse(await readFile(h.stateFile, 'utf8'))).toMatchObject({ id: e.id, address: e.address, token: e.token, lingerSeconds: 120 });
  }, SLOW);
});
