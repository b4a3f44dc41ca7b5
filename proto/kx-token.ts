// The per-namespace access token kept in Secret `kx-token` (key `token`) of each namespace. It names its namespace
// so radar can tell "a valid token for another namespace" (PERMISSION_DENIED) from "no valid token" (UNAUTHENTICATED).
// The embedded name is only a hint for that choice: radar grants access solely when the token equals the Secret of
// the namespace the container runtime reports.
import { randomBytes } from 'node:crypto';

export const TOKEN_SECRET_NAME = 'kx-token';
export const TOKEN_SECRET_KEY = 'token';

/** A fresh token for `namespace`: `kx1.<namespace>.<43 base64url chars of randomness>`. */
export function newToken(namespace: string): string {
  return `${PREFIX}${namespace}.${randomBytes(32).toString('base64url')}`;
}

/** The namespace a token claims, or undefined when it is not in kx's format (an opaque token is still usable). */
export function tokenNamespace(token: string): string | undefined {
  const m = TOKEN.exec(token);
  return m ? m[1] : undefined;
}

const PREFIX = 'kx1.';
// Namespace names are DNS-1123 labels, so they never contain the '.' separator.
const TOKEN = /^kx1\.([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)\.[A-Za-z0-9_-]{16,}$/;
