// Which remote paths a spec may sync into. A sync makes the path hold the local folder's files, so `/` or a system
// directory would wreck the container; a path that is not normalized hides where it really points.

/** Directories a spec may only target with force: `/` itself, these, and everything beneath them. */
export const SYSTEM_DIRS = ['/bin', '/boot', '/dev', '/etc', '/lib', '/lib64', '/proc', '/run', '/sbin', '/sys', '/usr', '/var'] as const;

/** What is wrong with a remote path, or null. `force` allows `/` and system directories, never a malformed path. */
export function remotePathProblem(remote: string, force: boolean): string | null {
  if (!remote.startsWith('/')) return 'must be an absolute path inside the container';
  if (remote.includes('\0')) return 'must not contain a NUL byte';
  if (remote !== '/') {
    if (remote.endsWith('/')) return `must not end with '/' (write ${remote.replace(/\/+$/, '') || '/'})`;
    const parts = remote.slice(1).split('/');
    if (parts.some((p) => p === '')) return "must not contain '//'";
    if (parts.some((p) => p === '.' || p === '..')) return "must not contain '.' or '..' components";
  }
  if (force) return null;
  if (remote === '/') return "is the container's root: a sync there would replace its whole filesystem (set force: true / --force if you really mean it)";
  const system = SYSTEM_DIRS.find((d) => remote === d || remote.startsWith(`${d}/`));
  if (system !== undefined) return `is inside the system directory ${system} (set force: true / --force if you really mean it)`;
  return null;
}

/** Equal, or one beneath the other. */
export function remotesNest(a: string, b: string): boolean {
  if (a === b || a === '/' || b === '/') return true;
  return a.startsWith(`${b}/`) || b.startsWith(`${a}/`);
}
