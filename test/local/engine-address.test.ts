// Which Docker engine kx uses, found as the docker CLI finds it: DOCKER_HOST, DOCKER_CONTEXT, the current context of
// ~/.docker/config.json with its TLS material, else the default socket.
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveEngineAddress } from '../../pkg/docker/engine-address.ts';
import { ErrorCode } from '../../pkg/sync/errors.ts';
import { removeDir, tempDir } from './helpers.ts';

describe('resolveEngineAddress', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const d of dirs.splice(0)) await removeDir(d);
  });

  async function home(): Promise<string> {
    const d = await tempDir('engine-address');
    dirs.push(d);
    return d;
  }

  async function context(h: string, name: string, host: string, tls?: Record<string, string>): Promise<void> {
    const id = createHash('sha256').update(name).digest('hex');
    const meta = join(h, '.docker', 'contexts', 'meta', id);
    await mkdir(meta, { recursive: true });
    await writeFile(join(meta, 'meta.json'), JSON.stringify({ Name: name, Metadata: {}, Endpoints: { docker: { Host: host, SkipTLSVerify: false } } }));
    if (tls) {
      const dir = join(h, '.docker', 'contexts', 'tls', id, 'docker');
      await mkdir(dir, { recursive: true });
      for (const [f, text] of Object.entries(tls)) await writeFile(join(dir, f), text);
    }
  }

  it('uses the default socket when nothing names another engine', async () => {
    const h = await home();
    expect(await resolveEngineAddress({}, h)).toMatchObject({ url: 'unix:///var/run/docker.sock', socketPath: '/var/run/docker.sock', options: { socketPath: '/var/run/docker.sock' } });
  });

  it('takes DOCKER_HOST over the current context, unix or tcp', async () => {
    const h = await home();
    await mkdir(join(h, '.docker'));
    await writeFile(join(h, '.docker', 'config.json'), JSON.stringify({ currentContext: 'other' }));
    expect(await resolveEngineAddress({ DOCKER_HOST: 'unix:///run/user/1000/docker.sock' }, h)).toMatchObject({ socketPath: '/run/user/1000/docker.sock', source: 'DOCKER_HOST' });
    expect(await resolveEngineAddress({ DOCKER_HOST: 'tcp://127.0.0.1:2375' }, h)).toMatchObject({ url: 'tcp://127.0.0.1:2375', options: { host: '127.0.0.1', port: 2375, protocol: 'http' } });
  });

  it('reads TLS material from DOCKER_CERT_PATH when DOCKER_TLS_VERIFY is set, and names a missing file', async () => {
    const h = await home();
    const certs = join(h, 'certs');
    await mkdir(certs);
    await writeFile(join(certs, 'ca.pem'), 'CA');
    await writeFile(join(certs, 'cert.pem'), 'CERT');
    await expect(resolveEngineAddress({ DOCKER_HOST: 'tcp://127.0.0.1:2376', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certs }, h)).rejects.toMatchObject({
      code: ErrorCode.InvalidConfig,
      message: expect.stringMatching(/DOCKER_CERT_PATH .*certs: missing key\.pem/),
    });
    await writeFile(join(certs, 'key.pem'), 'KEY');
    const e = await resolveEngineAddress({ DOCKER_HOST: 'tcp://127.0.0.1:2376', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certs }, h);
    expect(e.options).toMatchObject({ protocol: 'https', host: '127.0.0.1', port: 2376 });
    expect(String(e.options.ca)).toBe('CA');
    expect(e.tls?.dir).toBe(certs);
  });

  it("follows config.json's current context to its endpoint and TLS material, and DOCKER_CONTEXT over it", async () => {
    const h = await home();
    await context(h, 'colima', 'unix:///home/dev/.colima/default/docker.sock');
    await context(h, 'remote', 'tcp://10.0.0.5:2376', { 'ca.pem': 'CA', 'cert.pem': 'CERT', 'key.pem': 'KEY' });
    await writeFile(join(h, '.docker', 'config.json'), JSON.stringify({ currentContext: 'colima' }));
    expect(await resolveEngineAddress({}, h)).toMatchObject({ socketPath: '/home/dev/.colima/default/docker.sock', source: 'docker context "colima"' });
    const remote = await resolveEngineAddress({ DOCKER_CONTEXT: 'remote' }, h);
    expect(remote.options).toMatchObject({ host: '10.0.0.5', port: 2376, protocol: 'https' });
    expect(String(remote.options.key)).toBe('KEY');
    expect(await resolveEngineAddress({ DOCKER_CONTEXT: 'default' }, h)).toMatchObject({ socketPath: '/var/run/docker.sock' });
  });

  it('refuses a missing context, a broken config.json and ssh:// engines with one line naming where they came from', async () => {
    const h = await home();
    await mkdir(join(h, '.docker'));
    await expect(resolveEngineAddress({ DOCKER_CONTEXT: 'nope' }, h)).rejects.toMatchObject({ code: ErrorCode.InvalidConfig, message: expect.stringMatching(/^docker context "nope" \(from DOCKER_CONTEXT\) not found/) });
    await writeFile(join(h, '.docker', 'config.json'), '{ not json');
    await expect(resolveEngineAddress({}, h)).rejects.toMatchObject({ message: expect.stringMatching(/config\.json: not valid JSON/) });
    await expect(resolveEngineAddress({ DOCKER_HOST: 'ssh://dev@box' }, h)).rejects.toMatchObject({ message: expect.stringMatching(/^DOCKER_HOST ssh:\/\/dev@box: kx reaches Docker engines over unix:\/\/ or tcp:\/\/, not ssh:\/\//) });
  });
});
