// The JSON schema of kx.yaml. Field-level rules live here so ajv can name the offending field;
// rules across fields (unique names, selector syntax) are checked in parse.ts.
import { OWNER_PATTERN } from './owner.ts';

export const configSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    context: { type: 'string', minLength: 1 },
    namespace: { type: 'string', minLength: 1 },
    radarNamespace: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$' },
    statusPort: { type: 'integer', minimum: 1, maximum: 65535 },
    logLevel: { enum: ['error', 'warn', 'info', 'debug'] },
    safety: {
      type: 'object',
      additionalProperties: false,
      properties: {
        maxDeleteShare: { type: 'number', minimum: 0, maximum: 1 },
        maxDeleteFiles: { type: 'integer', minimum: 0 },
      },
    },
    specs: { type: 'array', items: { $ref: '#/$defs/spec' } },
  },
  $defs: {
    spec: {
      type: 'object',
      additionalProperties: false,
      required: ['name', 'local', 'remote'],
      properties: {
        name: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$' },
        selector: { type: 'string', minLength: 1 },
        pod: { type: 'string', minLength: 1 },
        container: { type: 'string', minLength: 1 },
        namespace: { type: 'string', minLength: 1 },
        context: { type: 'string', minLength: 1 },
        local: { type: 'string', minLength: 1 },
        remote: { type: 'string', pattern: '^/' },
        // Checked by parseReloadMode (parse.ts), the parser radar uses too.
        reload: { type: 'string' },
        ignore: { type: 'array', items: { type: 'string', minLength: 1 } },
        target: { enum: ['kubernetes', 'docker'] },
        owner: { type: 'string', pattern: OWNER_PATTERN.source },
        mirror: { type: 'boolean' },
        keepSetIdBits: { type: 'boolean' },
        force: { type: 'boolean' },
        // Each entry is checked by onSyncProblem (on-sync.ts), which names the field that is wrong.
        onSync: { type: 'array' },
        // Port forwards: LOCAL[:REMOTE] or ADDRESS:LOCAL:REMOTE, a bare number allowed; checked in parse.ts.
        ports: { type: 'array', items: { type: ['string', 'integer'] } },
        persist: { enum: [true, false, 'session'] },
        persistClaim: { type: 'string', pattern: '^[a-z0-9]([-.a-z0-9]{0,251}[a-z0-9])?$' },
      },
    },
  },
} as const;
