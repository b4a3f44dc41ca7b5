// One source of truth: charts/kx is generated from radarObjects(), and rendering it gives exactly the objects
// `kx init` applies, for the default values and for overridden ones.
import { readFile, readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { chartFiles, packageVersion } from '../../pkg/cluster/chart.ts';
import { defaultValues, objectList, radarObjects, resolveValues, type RadarOverrides } from '../../pkg/cluster/radar-objects.ts';
import { mergeValues, renderTemplate } from './helm-subset.ts';

const chartDir = resolve(import.meta.dirname, '../../charts/kx');

async function renderChart(overrides: Record<string, unknown>): Promise<unknown[]> {
  const chart = parse(await readFile(join(chartDir, 'Chart.yaml'), 'utf8')) as { appVersion: string };
  const values = mergeValues(parse(await readFile(join(chartDir, 'values.yaml'), 'utf8')) as Record<string, unknown>, overrides);
  const out: unknown[] = [];
  for (const name of (await readdir(join(chartDir, 'templates'))).sort()) {
    const text = renderTemplate(await readFile(join(chartDir, 'templates', name), 'utf8'), { Values: values, Chart: { AppVersion: chart.appVersion } });
    for (const doc of parseAllDocuments(text)) {
      if (doc.errors.length) throw new Error(`${name}: ${doc.errors[0]!.message}`);
      out.push(doc.toJS());
    }
  }
  return out;
}

const byKind = (objs: readonly unknown[]) =>
  [...objs].sort((a, b) => String((a as { kind: string }).kind).localeCompare(String((b as { kind: string }).kind)));

describe('charts/kx', () => {
  it('is exactly what `npm run chart` generates from radar-objects.ts', async () => {
    const expected = chartFiles(await packageVersion());
    const onDisk = new Map<string, string>();
    for (const name of ['Chart.yaml', 'values.yaml', ...(await readdir(join(chartDir, 'templates'))).map((n) => `templates/${n}`)]) {
      onDisk.set(name, await readFile(join(chartDir, name), 'utf8'));
    }
    expect(Object.fromEntries(onDisk)).toEqual(Object.fromEntries(expected));
  });

  it('renders with its default values to the objects kx init applies by default', async () => {
    const rendered = await renderChart({});
    expect(byKind(rendered)).toEqual(byKind(objectList(radarObjects(defaultValues(await packageVersion())))));
  });

  it('renders overridden values (namespace, image, k3s socket, tolerations, resources, port) like kx init does', async () => {
    const version = await packageVersion();
    const overrides: RadarOverrides = {
      namespace: 'dev-tools',
      image: 'registry.example/kx-radar:9.9.9',
      imagePullPolicy: 'Always',
      port: 9001,
      sockets: { docker: '/run/docker.sock', containerd: '/run/k3s/containerd/containerd.sock', containerdNamespace: 'k8s.io' },
      tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'dev', effect: 'NoSchedule' }],
      resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '128Mi' } },
    };
    const rendered = await renderChart(overrides as Record<string, unknown>);
    expect(byKind(rendered)).toEqual(byKind(objectList(radarObjects(resolveValues(version, overrides)))));
  });
});
