// kx.yaml is validated by code ajv generated ahead of time from schema.ts (config-validator.generated.ts): the
// committed file must be what ajv generates from the schema now, and it must judge every document as ajv compiling
// the schema at run time does (same verdict, same first error), so the one-line errors stay what they were.
import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { validate } from '../../pkg/config/config-validator.generated.ts';
import { configSchema } from '../../pkg/config/schema.ts';
import { GENERATED_VALIDATOR, validatorSource } from '../../pkg/config/validator-source.ts';

const spec = { name: 'api', selector: 'app=api', local: '/src', remote: '/app' };
const DOCUMENTS: unknown[] = [
  {},
  { specs: [spec] },
  { statusPort: 7341, logLevel: 'debug', safety: { maxDeleteShare: 0.5, maxDeleteFiles: 10 }, specs: [{ ...spec, ports: ['8080', 9229], persist: 'session', owner: '1000:1000' }] },
  [],
  'specs',
  null,
  { statusPort: 0 },
  { statusPort: 70000 },
  { statusPort: 1.5 },
  { logLevel: 'loud' },
  { colour: 'red' },
  { safety: { maxDeleteShare: 2 } },
  { safety: { other: 1 } },
  { radarNamespace: 'Kx_System' },
  { context: '' },
  { specs: 'api' },
  { specs: [{ ...spec, remote: 5 }] },
  { specs: [{ ...spec, remote: 'app' }] },
  { specs: [{ name: 'api', local: '/src' }] },
  { specs: [{ ...spec, name: 'API' }] },
  { specs: [{ ...spec, name: 'a'.repeat(64) }] },
  { specs: [{ ...spec, selector: '' }] },
  { specs: [{ ...spec, local: '' }] },
  { specs: [{ ...spec, ignore: ['node_modules', ''] }] },
  { specs: [{ ...spec, target: 'podman' }] },
  { specs: [{ ...spec, owner: 'root' }] },
  { specs: [{ ...spec, mirror: 'yes' }] },
  { specs: [{ ...spec, ports: [true] }] },
  { specs: [{ ...spec, persist: 'always' }] },
  { specs: [{ ...spec, persistClaim: 'Claim' }] },
  { specs: [{ ...spec, onSync: 'make' }] },
  { specs: [spec, { ...spec, colour: 'red' }] },
  { specs: [{ ...spec, 'a/b~c': 1 }] },
  // A string of astral characters: minLength counts code points, as ajv does.
  { specs: [{ ...spec, selector: '😀' }] },
];

describe('the generated kx.yaml validator', () => {
  it('is what ajv generates from schema.ts now (after changing the schema: node pkg/config/validator-source.ts --write)', () => {
    expect(readFileSync(GENERATED_VALIDATOR, 'utf8')).toBe(validatorSource());
  });

  it('gives every document the verdict and first error ajv compiling the schema gives', () => {
    const compiled = new Ajv({ allErrors: false, strict: true, allowUnionTypes: true }).compile(configSchema);
    const generated = validate as unknown as ((data: unknown) => boolean) & { errors?: unknown[] | null };
    for (const doc of DOCUMENTS) {
      const ok = compiled(doc);
      expect({ doc, ok: generated(doc) }).toEqual({ doc, ok });
      if (!ok) expect({ doc, error: generated.errors?.[0] }).toEqual({ doc, error: compiled.errors?.[0] });
    }
  });
});
