// Reload modes as the wire (Reload) and kx.yaml carry them: `none`, `restart` or `signal:NAME`. One parser for
// both ends, so kx refuses at `kx create` and in kx.yaml exactly what radar would refuse at reload time.
import { ErrorCode, KxError } from '../pkg/sync/errors.ts';

/** Signals a reload may send. KILL and STOP are left out: they are not reloads. */
export const RELOAD_SIGNALS = ['SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGALRM', 'SIGCONT'] as const;

export type ParsedReloadMode = { readonly kind: 'none' } | { readonly kind: 'restart' } | { readonly kind: 'signal'; readonly signal: string };

/** `restart`, `none`, `signal:HUP` or `signal:SIGHUP` (case-insensitive name). INVALID_ARGUMENT otherwise. */
export function parseReloadMode(mode: string): ParsedReloadMode {
  if (mode === 'none' || mode === '') return { kind: 'none' };
  if (mode === 'restart') return { kind: 'restart' };
  const m = /^signal:(.+)$/.exec(mode);
  if (m) {
    const upper = m[1].toUpperCase();
    const name = upper.startsWith('SIG') ? upper : `SIG${upper}`;
    if ((RELOAD_SIGNALS as readonly string[]).includes(name)) return { kind: 'signal', signal: name };
    throw new KxError(ErrorCode.InvalidArgument, `reload mode ${JSON.stringify(mode)}: signal must be one of ${RELOAD_SIGNALS.map((s) => s.slice(3)).join(', ')}`);
  }
  throw new KxError(ErrorCode.InvalidArgument, `reload mode ${JSON.stringify(mode)}: must be none, restart or signal:NAME (e.g. signal:HUP)`);
}
