#!/usr/bin/env node
// kx: keep local folders in sync with containers (Kubernetes pods, or the local Docker engine), with hot reload.
// This file only declares the command line; each command's handler is imported when that command runs.

import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { fail } from './commands/fail.ts';

await yargs(hideBin(process.argv))
  .scriptName('kx')
  .usage('$0 <command> [options]')
  .option('config', { type: 'string', describe: 'config file (default: $KX_HOME/kx.yaml, else ~/.kx/kx.yaml)', global: true })
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
        .option('context', { type: 'string', describe: 'kubeconfig context' })
        .option('reload', { type: 'string', default: 'none', describe: 'after each sync: none, restart or signal:NAME' })
        .option('ignore', { type: 'array', string: true, describe: 'gitignore-style patterns to leave out (repeatable)' })
        .option('docker', { type: 'boolean', default: false, describe: 'target the local Docker engine instead of Kubernetes' })
        .option('owner', { type: 'string', describe: 'UID:GID for synced files inside the container' })
        .option('force', { type: 'boolean', default: false, describe: 'replace a spec of the same name' })
        .conflicts('selector', 'pod')
        .example('$0 create -l app=api ./src /app', 'sync ./src into /app of every pod labelled app=api')
        .example('$0 create --docker -l kx.demo=1 --reload restart ./site /app', 'sync into local Docker containers'),
    async (args) => (await import('./commands/create.ts')).create(args),
  )
  .command(
    'delete [names..]',
    'remove sync specs',
    (y) =>
      y
        .positional('names', { type: 'string', array: true, describe: 'spec names' })
        .option('all', { type: 'boolean', default: false, describe: 'remove every spec' }),
    async (args) => (await import('./commands/delete.ts')).deleteSpecs(args),
  )
  .command(
    'get',
    'show what the daemon syncs (or the configured specs when no daemon runs)',
    (y) =>
      y
        .option('output', { alias: 'o', choices: ['table', 'json', 'yaml'] as const, default: 'table' as const, describe: 'output format' })
        .option('watch', { alias: 'w', type: 'boolean', default: false, describe: 'live view with progress bars' }),
    async (args) => (await import('./commands/get.ts')).get(args),
  )
  .command(
    'watch',
    'run the daemon: sync every spec, follow config edits; Ctrl-C stops (exit 0 clean, 1 failed to start, 2 unclean stop)',
    (y) => y.option('status-port', { type: 'number', describe: 'status port (default: statusPort from the config, 7341)' }),
    async (args) => (await import('./commands/watch.ts')).watchCommand(args),
  )
  .command('doctor', 'check config, daemon, Docker engine, cluster and inotify limits', {}, async (args) => (await import('./commands/doctor.ts')).doctor(args as { config?: string }))
  .completion('completion', 'print a shell completion script (bash/zsh): kx completion >> ~/.bashrc')
  .demandCommand(1, 'give a command; see kx --help')
  .strict()
  .recommendCommands()
  .help()
  .alias('help', 'h')
  .version(false)
  .fail((msg, err) => {
    if (err) fail(err);
    else fail(new Error(`${msg} (see kx --help)`));
  })
  .parseAsync();
