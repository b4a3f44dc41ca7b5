// The `ports` of a spec: what kx.yaml and `kx create --port` accept, and the one-line errors for what they refuse.
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildSpec } from '../../pkg/config/new-spec.ts';
import { parseConfig } from '../../pkg/config/parse.ts';
import { CONFIG_FILE, configErrorOf } from '../support/config-error.ts';
import { forwardLabel, parsePortForward } from '../../pkg/config/port-forwards.ts';
import type { SpecConfig } from '../../pkg/config/types.ts';
import { kx, removeDir, tempDir } from './helpers.ts';


const spec = (name: string, ports: string): string => `  - name: ${name}\n    pod: ${name}\n    local: /src\n    remote: /${name}\n    ports: ${ports}\n`;

describe('port forward entries', () => {
  it('reads LOCAL, LOCAL:REMOTE and ADDRESS:LOCAL:REMOTE; one number is the same port on both sides', () => {
    expect(parsePortForward('8080')).toEqual({ text: '8080', address: '127.0.0.1', local: 8080, remote: 8080 });
    expect(parsePortForward(9229)).toEqual({ text: '9229', address: '127.0.0.1', local: 9229, remote: 9229 });
    expect(parsePortForward('3000:80')).toEqual({ text: '3000:80', address: '127.0.0.1', local: 3000, remote: 80 });
    expect(parsePortForward('127.0.0.2:3000:3000')).toEqual({ text: '127.0.0.2:3000:3000', address: '127.0.0.2', local: 3000, remote: 3000 });
    expect(parsePortForward('localhost:3000:3000').address).toBe('127.0.0.1');
    expect(parsePortForward('[::1]:3000:80')).toEqual({ text: '[::1]:3000:80', address: '::1', local: 3000, remote: 80 });
  });

  it('labels a forward by its socket, IPv6 in brackets', () => {
    expect(forwardLabel(parsePortForward('8080'))).toBe('8080');
    expect(forwardLabel(parsePortForward('127.0.0.2:3000:80'))).toBe('127.0.0.2:3000→80');
    expect(forwardLabel(parsePortForward('[::1]:3000:3000'))).toBe('[::1]:3000');
  });

  it.each([
    ['0', '"0": local port 0 is out of range (1-65535)'],
    ['8080:70000', '"8080:70000": remote port 70000 is out of range (1-65535)'],
    ['http', '"http": local port "http" is not a number'],
    ['1:2:3:4', '"1:2:3:4": expected LOCAL, LOCAL:REMOTE or ADDRESS:LOCAL:REMOTE (e.g. 8080, 9229:9229, [::1]:8080:80)'],
    ['[::1]:80', '"[::1]:80": expected LOCAL, LOCAL:REMOTE or ADDRESS:LOCAL:REMOTE (e.g. 8080, 9229:9229, [::1]:8080:80)'],
    ['0.0.0.0:80:80', '"0.0.0.0:80:80": 0.0.0.0 is not a loopback address (127.0.0.0/8, localhost or [::1]): kx listens on this machine only'],
    ['[::]:80:80', '"[::]:80:80": [::] is not a loopback address (127.0.0.0/8, localhost or [::1]): kx listens on this machine only'],
  ])('refuses %s', (entry, message) => {
    expect(() => parsePortForward(entry)).toThrow(message);
  });
});

describe('ports in kx.yaml', () => {
  it('keeps the entries as text, numbers included', () => {
    const { config } = parseConfig(`specs:\n${spec('api', '[8080, "9229:9229"]')}`, CONFIG_FILE);
    expect(config.specs[0].ports).toEqual(['8080', '9229:9229']);
  });

  it('names the file, line and entry of one that does not parse', () => {
    expect(configErrorOf(`specs:\n${spec('api', '\n      - 8080\n      - "http"')}`)).toBe(`${CONFIG_FILE}:8: specs[0].ports[1]: "http": local port "http" is not a number`);
    expect(configErrorOf(`specs:\n${spec('api', '[true]')}`)).toBe(`${CONFIG_FILE}:6: specs[0].ports[0]: must be string,integer`);
  });

  it('refuses a local port two specs forward, naming both', () => {
    expect(configErrorOf(`specs:\n${spec('api', '["8080"]')}${spec('web', '["9000", "8080:80"]')}`))
      .toBe(`${CONFIG_FILE}:11: specs[1].ports[1]: "8080:80": local port 127.0.0.1:8080 is already forwarded by spec 'api' ("8080")`);
    expect(configErrorOf(`specs:\n${spec('api', '["8080", "8080:81"]')}`)).toBe(`${CONFIG_FILE}:6: specs[0].ports[1]: "8080:81": local port 127.0.0.1:8080 is already forwarded in this spec`);
    expect(configErrorOf(`specs:\n${spec('api', '["[::1]:8080"]')}`)).toContain('expected LOCAL');
    expect(configErrorOf(`specs:\n${spec('api', '["[::1]:8080:80", "[::1]:8080:81"]')}`)).toBe(`${CONFIG_FILE}:6: specs[0].ports[1]: "[::1]:8080:81": local port [::1]:8080 is already forwarded in this spec`);
    // Another loopback address is another socket.
    expect(parseConfig(`specs:\n${spec('api', '["8080"]')}${spec('web', '["127.0.0.2:8080:80"]')}`, CONFIG_FILE).config.specs).toHaveLength(2);
  });
});

describe('kx create --port', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const d of dirs.splice(0)) await removeDir(d);
  });

  it('validates each --port and refuses one another spec forwards', async () => {
    const dir = await tempDir('ports-create');
    dirs.push(dir);
    const base = { target: 'kubernetes' as const, selector: 'app=api', local: dir, remote: '/app' };
    expect((await buildSpec({ ...base, port: ['8080', 9229] }, [], dir)).ports).toEqual(['8080', '9229']);
    await expect(buildSpec({ ...base, port: ['80:x'] }, [], dir)).rejects.toThrow('--port "80:x": remote port "x" is not a number');
    const existing: SpecConfig = { name: 'web', selector: 'app=web', local: dir, remote: '/web', reload: 'none', ignore: [], target: 'kubernetes', ports: ['8080'] };
    await expect(buildSpec({ ...base, port: ['8080:80'] }, [existing], dir)).rejects.toThrow(`--port "8080:80": local port 127.0.0.1:8080 is already forwarded by spec 'web' ("8080")`);
  });

  it('writes the ports into kx.yaml', async () => {
    const dir = await tempDir('ports-cli');
    dirs.push(dir);
    await mkdir(join(dir, 'src'));
    const out = await kx(['create', '-l', 'app=api', '--name', 'api', '--port', '8080', '--port', '9229:9229', join(dir, 'src'), '/app'], { KX_HOME: dir });
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    expect(parseConfig(await readFile(join(dir, 'kx.yaml'), 'utf8'), join(dir, 'kx.yaml')).config.specs[0].ports).toEqual(['8080', '9229:9229']);
    const bad = await kx(['create', '-l', 'app=web', '--port', '99999', join(dir, 'src'), '/web'], { KX_HOME: dir });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr.trim()).toBe('kx: --port "99999": local port 99999 is out of range (1-65535)');
  });
});
