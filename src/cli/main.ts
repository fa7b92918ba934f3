#!/usr/bin/env node
/** The cairn command: the only module that prints to the user or sets an exit status. */
import { Command, CommanderError } from 'commander';
import { CairnError } from '../errors/errors.js';
import { EXIT, exitCodeFor } from './exit-codes.js';
import { note } from './output.js';

const program = new Command()
  .name('cairn')
  .description('An encrypted, versioned backup folder that you mount')
  .version('0.1.0')
  .exitOverride()
  .showHelpAfterError();

/**
 * Each command's module, loaded only when that command runs: loading every module (the
 * OpenPGP, SSH, FUSE and zstd libraries among them) cost half a second at every start, and
 * `cairn snapshot` or `status` in a script needs none of them. Help, an unknown command
 * and `completion` (which lists them all) load them all, in this order.
 */
type Register = (program: Command) => void;
const COMMANDS: readonly (readonly [names: readonly string[], load: () => Promise<Register>])[] = [
  [['init'], async () => (await import('./commands/init.js')).registerInit],
  [['snapshots'], async () => (await import('./commands/snapshots.js')).registerSnapshots],
  [['forget'], async () => (await import('./commands/forget.js')).registerForget],
  [['prune'], async () => (await import('./commands/prune.js')).registerPrune],
  [['check'], async () => (await import('./commands/check.js')).registerCheck],
  [['repair'], async () => (await import('./commands/repair.js')).registerRepair],
  [['backup'], async () => (await import('./commands/backup.js')).registerBackup],
  [['restore'], async () => (await import('./commands/restore.js')).registerRestore],
  [['ls', 'cat', 'find', 'diff', 'stats'], async () => (await import('./commands/inspect.js')).registerInspect],
  [['verify'], async () => (await import('./commands/verify.js')).registerVerify],
  [['key'], async () => (await import('./commands/key.js')).registerKey],
  [['mount'], async () => (await import('./commands/mount.js')).registerMount],
  [['snapshot', 'status', 'unmount', 'umount'], async () => (await import('./commands/control.js')).registerControl],
  [['unlock'], async () => (await import('./commands/unlock.js')).registerUnlock],
  [[], async () => (await import('./commands/completion.js')).registerCompletion],
];
const running = COMMANDS.find(([names]) => names.includes(process.argv[2] ?? ''));
// `cairn --version` needs no command at all (loading them all took half a second).
const versionOnly = process.argv.length === 3 && ['--version', '-V'].includes(process.argv[2]!);
if (!versionOnly) for (const [, load] of running ? [running] : COMMANDS) (await load())(program);

// If nothing is left to do while a command still waits (a prompt whose input ended),
// Node would exit silently with code 13; say what happened instead.
let settled = false;
process.once('beforeExit', () => {
  if (settled) return;
  note('cairn: the input ended while waiting for it (a passphrase prompt?)');
  note('  type the passphrase at the prompt, or use --password-file / CAIRN_PASSWORD_FILE');
  process.exit(EXIT.usage);
});

try {
  await program.parseAsync(process.argv);
} catch (e) {
  process.exitCode = report(e);
} finally {
  settled = true;
}
// A finished command exits even if a native handle (fuse-native's, after an external
// `fusermount -u`) would keep the event loop alive; but first the output still queued for
// a slow reader of a pipe (process.exit would drop it: a long `cairn ls` came out cut).
await Promise.all([drained(process.stdout), drained(process.stderr)]);
process.exit(process.exitCode ?? 0);

function drained(stream: NodeJS.WriteStream): Promise<void> {
  if (stream.writableLength === 0) return Promise.resolve();
  return new Promise((resolve) => {
    stream.once('drain', resolve);
    stream.once('error', () => resolve()); // the reader went away (`| head`)
    stream.once('close', resolve);
  });
}

function report(e: unknown): number {
  if (e instanceof CommanderError) {
    // Commander has printed the message (or the help / version text) already.
    return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
  }
  if (e instanceof CairnError) {
    note(`cairn: ${e.message}`);
    if (e.hint) note(`  ${e.hint}`);
    return exitCodeFor(e.code);
  }
  note(`cairn: unexpected error: ${(e as Error)?.stack ?? String(e)}`);
  note('  this is a bug in cairn; please report it with the lines above');
  return EXIT.failure;
}
