#!/usr/bin/env node
// kx: keep local folders in sync with containers (Kubernetes pods, or the local Docker engine), with hot reload.
// This file only declares the command line; each command's handler is imported when that command runs.

import { readFileSync } from 'node:fs';
import module from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { fail } from './commands/fail.ts';
import { rewritePersistFlag } from './commands/persist-flag.ts';

// ~0.1 s less CPU per run for the handlers loaded below (the OS temp dir; read-only: off). A worker thread reads the
// cache's place from the environment only: kx watch's full-sync worker loads its own copy of the sync modules, and
// compiled them afresh on every start without it (its start-up CPU: 138 → 128 ms, median of 5 each).
const compileCacheDir = process.env.NODE_COMPILE_CACHE || join(tmpdir(), 'node-compile-cache'); // Node's own default
if (module.enableCompileCache?.(compileCacheDir).directory !== undefined) process.env.NODE_COMPILE_CACHE = compileCacheDir;

/** Which daemon a command talks to: the same two options on every command that asks one. */
const HOME_OPTION = { type: 'string', describe: 'the kx home whose daemon to ask (default: $KX_HOME, else ~/.kx)' } as const;
const PORT_OPTION = { type: 'number', describe: 'ask the daemon on this status port instead of the home\'s' } as const;

// A function rather than top-level await: the single executable's bundle is CommonJS, which has none.
async function main(): Promise<void> {
  await yargs(rewritePersistFlag(hideBin(process.argv)))
  .scriptName('kx')
  .usage('$0 <command> [options]')
  .option('config', { type: 'string', describe: 'config file (default: $KX_HOME/kx.yaml, else ~/.kx/kx.yaml)', global: true })
  .option('context', { type: 'string', describe: 'kubeconfig context (default: context in kx.yaml, else the current one)', global: true })
  .command(
    'create <local> <remote>',
    'add a sync spec: LOCAL folder → REMOTE path in the selected containers',
    (y) =>
      y
        .positional('local', { type: 'string', demandOption: true, describe: 'local directory (must exist)' })
        .positional('remote', { type: 'string', demandOption: true, describe: 'absolute path inside the container' })
        .option('name', { type: 'string', describe: 'spec name (default: generated from the selector and folder)' })
        .option('selector', { alias: 'l', type: 'string', describe: 'label selector, e.g. app=api' })
        .option('pod', { alias: 'p', type: 'string', describe: 'pod name (or, with --docker, container name)' })
        .option('container', { alias: 'c', type: 'string', describe: 'container in the pod (default: the first)' })
        .option('namespace', { alias: 'n', type: 'string', describe: 'namespace (default: from the config or kubeconfig)' })
        .option('context', { type: 'string', describe: 'kubeconfig context this spec uses (saved in the spec)' })
        .option('reload', { type: 'string', default: 'none', describe: 'after each sync: none, restart or signal:NAME' })
        .option('ignore', { type: 'array', string: true, describe: 'gitignore-style patterns to leave out (repeatable)' })
        .option('docker', { type: 'boolean', default: false, describe: 'target the local Docker engine instead of Kubernetes' })
        .option('owner', { type: 'string', describe: 'UID:GID for synced files inside the container' })
        .option('keep-set-id-bits', { type: 'boolean', default: false, describe: 'keep set-uid/set-gid/sticky bits of synced files (radar strips them by default)' })
        .option('port', { type: 'array', string: true, nargs: 1, describe: 'forward a local port to the container while kx watch runs: LOCAL[:REMOTE] (repeatable)' })
        .option('force', { type: 'boolean', default: false, describe: 'replace a spec of the same name; allow / or a system directory as REMOTE' })
        .option('on-sync', { type: 'array', string: true, describe: "command run in the container after each batch, before the reload (repeatable; split on spaces, quotes group; no shell: 'sh -c \"…\"' for one)" })
        .option('mirror', { type: 'boolean', default: false, describe: 'exact replica: also delete files only the container has (asks to confirm)' })
        .option('yes', { alias: 'y', type: 'boolean', default: false, describe: 'confirm --mirror without asking (needed when stdin is not a terminal)' })
        .option('persist', { type: 'boolean', describe: 'make REMOTE a volume of the pods\' Deployment/StatefulSet/DaemonSet so a restarted container starts on the synced files (--persist=session: undone when kx watch exits)' })
        .option('persist-session', { type: 'boolean', hidden: true })
        .option('persist-value', { type: 'string', hidden: true })
        .option('persist-claim', { type: 'string', describe: 'with --persist: a PersistentVolumeClaim for REMOTE instead of an emptyDir' })
        .conflicts('selector', 'pod')
        .example('$0 create -l app=api ./src /app', 'sync ./src into /app of every pod labelled app=api')
        .example('$0 create --docker -l kx.demo=1 --reload restart ./site /app', 'sync into local Docker containers')
        .example('$0 create -l app=api --port 8080 --port 9229:9229 ./src /app', 'also forward localhost:8080 and :9229 to the pod')
        .example('$0 create -l app=api --persist --reload restart ./src /app', 'hot reload on Kubernetes: /app becomes a volume, restarts run the saved code'),
    async (args) => (await import('./commands/create.ts')).create(args),
  )
  .command(
    'delete [names..]',
    'remove sync specs',
    (y) =>
      y
        .positional('names', { type: 'string', array: true, describe: 'spec names' })
        .option('all', { type: 'boolean', default: false, describe: 'remove every spec' })
        .option('keep-persist', { type: 'boolean', default: false, describe: 'leave persisted paths in the workloads (default: undo them first)' }),
    async (args) => (await import('./commands/delete.ts')).deleteSpecs(args),
  )
  .command(
    'reset <names..>',
    'undo persist: remove the volumes kx added to the specs\' workloads (the specs stay)',
    (y) => y.positional('names', { type: 'string', array: true, demandOption: true, describe: 'spec names' }),
    async (args) => (await import('./commands/reset.ts')).reset({ ...args, names: args.names }),
  )
  .command(
    'get',
    'show what the daemon syncs (or the configured specs and exit code 1 when no daemon runs)',
    (y) =>
      y
        .option('output', { alias: 'o', choices: ['table', 'json', 'yaml'] as const, default: 'table' as const, describe: 'output format' })
        .option('watch', { alias: 'w', type: 'boolean', default: false, describe: 'live view with progress bars' })
        .option('home', HOME_OPTION)
        .option('port', PORT_OPTION),
    async (args) => (await import('./commands/get.ts')).get(args),
  )
  .command(
    'pause <name>',
    'stop syncing a spec until kx resume (the daemon keeps watching your folder)',
    (y) =>
      y
        .positional('name', { type: 'string', demandOption: true, describe: 'spec name' })
        .option('home', HOME_OPTION)
        .option('port', PORT_OPTION),
    async (args) => (await import('./commands/resume.ts')).pauseCommand(args),
  )
  .command(
    'resume <name>',
    'resume a paused or halted spec; --confirm also lets it delete what a safety halt held back',
    (y) =>
      y
        .positional('name', { type: 'string', demandOption: true, describe: 'spec name' })
        .option('confirm', { type: 'boolean', default: false, describe: 'accept the held-back deletions and overwrite conflicting files once' })
        .option('home', HOME_OPTION)
        .option('port', PORT_OPTION),
    async (args) => (await import('./commands/resume.ts')).resumeCommand(args),
  )
  .command(
    'watch',
    'run the daemon: sync every spec, follow config edits; Ctrl-C stops (exit 0 clean, 1 failed to start, 2 unclean stop)',
    (y) => y.option('status-port', { type: 'number', describe: 'status port (default: statusPort from the config, 7341)' }),
    async (args) => (await import('./commands/watch.ts')).watchCommand(args),
  )
  .command(
    'flush',
    'for scripts: wait until every spec of the running daemon is in sync (exit 1 if one is not, or no daemon runs)',
    (y) => y.option('home', HOME_OPTION)
      .option('port', PORT_OPTION),
    async (args) => (await import('./commands/flush.ts')).flushCommand(args),
  )
  .command(
    'sync <name>',
    'sync one spec once into the containers it selects now, without a daemon (needs --once)',
    (y) =>
      y
        .positional('name', { type: 'string', demandOption: true, describe: 'spec name' })
        .option('once', { type: 'boolean', default: false, describe: 'one full sync, then exit' })
        .example('$0 sync api-src --once', 'one sync of spec api-src, e.g. in CI'),
    async (args) => (await import('./commands/sync.ts')).syncCommand(args),
  )
  .command(
    'doctor',
    'check config, daemon, Docker engine, inotify limit, and the cluster: reachable, RBAC, radar rollout, version',
    (y) =>
      y
        .option('namespace', { alias: 'n', type: 'string', describe: 'namespace to check RBAC in (default: the specs\' namespaces)' })
        .option('radar-namespace', { type: 'string', describe: 'where kx init installed radar (default kx-system)' })
        .option('home', HOME_OPTION)
        .option('port', PORT_OPTION),
    async (args) => (await import('./commands/doctor.ts')).doctor(args),
  )
  .command(
    'init',
    'install radar in the cluster (one pod per node) and wait until it is ready on every node',
    (y) =>
      y
        .option('namespace', { alias: 'n', type: 'string', describe: 'radar\'s namespace (default kx-system)' })
        .option('image', { type: 'string', describe: 'radar image (default kx-radar:<kx version>)' })
        .option('containerd-socket', { type: 'string', describe: 'containerd socket on the nodes (default: radar finds it; see README)' })
        .option('docker-socket', { type: 'string', describe: 'Docker socket on the nodes (default: radar finds it)' })
        .option('grant-group', { type: 'string', array: true, describe: 'let this group use kx with rights in its own namespaces only (repeatable)' })
        .option('grant-user', { type: 'string', array: true, describe: 'let this user use kx with rights in their own namespaces only (repeatable)' })
        .option('kube-version', { type: 'string', describe: 'render for this Kubernetes version (default: the server\'s; with --dry-run: every release)' })
        .option('dry-run', { type: 'boolean', default: false, describe: 'print the objects; apply nothing' })
        .option('output', { alias: 'o', choices: ['yaml', 'json'] as const, describe: 'print the objects as yaml or json' })
        .option('timeout', { type: 'number', describe: 'seconds to wait for the rollout (default 300; 0: do not wait)' })
        .example('$0 init --dry-run -o yaml', 'show what would be applied')
        .example('$0 init --image kx-radar:0.1.0 --context kind-dev', 'install radar into that cluster')
        .example('$0 init --grant-group developers', 'let group developers use kx without cluster-wide rights'),
    async (args) => (await import('./commands/init.ts')).initCommand(args),
  )
  .command(
    'clean',
    'remove what kx init installed; with --docker, the radar containers kx started on the Docker engine',
    (y) =>
      y
        .option('namespace', { alias: 'n', type: 'string', describe: 'radar\'s namespace (default kx-system)' })
        .option('docker', { type: 'boolean', default: false, describe: 'remove this kx home\'s radar containers from the Docker engine instead' }),
    async (args) => (await import('./commands/clean.ts')).cleanCommand(args),
  )
  .command(
    'token',
    'create or rotate the kx-token Secret that lets kx write into pods of a namespace',
    (y) => y.option('namespace', { alias: 'n', type: 'string', describe: 'namespace (default: kx.yaml\'s, else the context\'s)' }),
    async (args) => (await import('./commands/token.ts')).tokenCommand(args),
  )
  .completion('completion', 'print a shell completion script (bash/zsh): kx completion >> ~/.bashrc')
  .demandCommand(1, 'give a command')
  .strict()
  .recommendCommands()
  .help()
  .alias('help', 'h')
  .version('version', 'print kx\'s version', (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version)
  .fail((msg, err) => {
    // Thrown, so that yargs stops here instead of running the command anyway; yargs' own messages span lines.
    throw err ?? new Error(`${msg.split('\n').map((l) => l.trim()).filter((l) => l !== '').join(' ')} (see kx --help)`);
  })
  .parseAsync();
}

main().catch(fail);
