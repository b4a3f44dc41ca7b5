// client-node fails in several shapes: ApiException (code + Status JSON body), a Watch error (statusCode), the ws
// library's "Unexpected server response: 403" for WebSocket upgrades, undici's "fetch failed" with a socket cause.
// These helpers read all of them, so callers can say what went wrong in one line.
import { ErrorCode, KxError } from '../sync/errors.ts';

/** The HTTP status of a failed API call or WebSocket upgrade, if it got that far. */
export function httpStatusOf(err: unknown): number | undefined {
  const e = err as { code?: unknown; statusCode?: unknown; message?: unknown } | undefined;
  if (typeof e?.statusCode === 'number') return e.statusCode;
  if (typeof e?.code === 'number') return e.code;
  const m = /Unexpected server response: (\d{3})/.exec(messageOf(err));
  return m ? Number(m[1]) : undefined;
}

/** The Status message the API server sent, else the error's own first line. */
export function apiMessageOf(err: unknown): string {
  const body = (err as { body?: unknown } | undefined)?.body;
  if (typeof body === 'string' && body.startsWith('{')) {
    try {
      const status = JSON.parse(body) as { message?: unknown };
      if (typeof status.message === 'string' && status.message !== '') return status.message;
    } catch {
      // not a Status body; fall through to the error's message
    }
  }
  if (body && typeof body === 'object' && typeof (body as { message?: unknown }).message === 'string') {
    return (body as { message: string }).message;
  }
  const cause = (err as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  if (cause && typeof cause.message === 'string' && /fetch failed/.test(messageOf(err))) return cause.message;
  return messageOf(err);
}

/** True for the AbortError client-node reports after we stopped a watch or request ourselves. */
export function isAbort(err: unknown): boolean {
  return (err as { name?: unknown } | undefined)?.name === 'AbortError';
}

/** A KxError for a failed API call about `what` (e.g. 'list pods in namespace "web"'), code chosen by status. */
export function apiError(err: unknown, what: string, context: string): KxError {
  if (err instanceof KxError) return err;
  const status = httpStatusOf(err);
  const detail = apiMessageOf(err);
  switch (status) {
    case 401:
      return new KxError(ErrorCode.Unauthenticated,
        `cannot ${what}: the API server of context "${context}" rejected the credentials (401); log in again or fix the kubeconfig user`, { cause: err });
    case 403:
      return new KxError(ErrorCode.PermissionDenied, `cannot ${what}: RBAC forbids it (${detail})`, { cause: err });
    case 404:
      return new KxError(ErrorCode.NotFound, `cannot ${what}: not found (${detail})`, { cause: err });
    case undefined:
      return new KxError(ErrorCode.Unavailable, `cannot ${what}: API server of context "${context}" unreachable (${detail})`, { cause: err });
    default:
      return new KxError(ErrorCode.Unavailable, `cannot ${what}: HTTP ${status} (${detail})`, { cause: err });
  }
}

function messageOf(err: unknown): string {
  const raw = err instanceof Error ? err.message : (err as { message?: unknown } | undefined)?.message;
  const text = typeof raw === 'string' ? raw : err instanceof Error ? err.message : JSON.stringify(raw ?? err) ?? String(err);
  return text.split('\n')[0] ?? '';
}
