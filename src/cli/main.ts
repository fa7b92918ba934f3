#!/usr/bin/env node
/** The cairn command: the only module that prints to the user or sets an exit status. */
import { Command, CommanderError } from 'commander';
import { CairnError } from '../errors/errors.js';
import { registerBackup } from './commands/backup.js';
import { registerCheck } from './commands/check.js';
import { registerCompletion } from './commands/completion.js';
import { registerControl } from './commands/control.js';
import { registerForget } from './commands/forget.js';
import { registerInit } from './commands/init.js';
import { registerInspect } from './commands/inspect.js';
import { registerKey } from './commands/key.js';
import { registerMount } from './commands/mount.js';
import { registerPrune } from './commands/prune.js';
import { registerRepair } from './commands/repair.js';
import { registerRestore } from './commands/restore.js';
import { registerSnapshots } from './commands/snapshots.js';
import { registerUnlock } from './commands/unlock.js';
import { registerVerify } from './commands/verify.js';
import { EXIT, exitCodeFor } from './exit-codes.js';
import { note } from './output.js';

const program = new Command()
  .name('cairn')
  .description('An encrypted, versioned backup folder that you mount')
  .version('0.1.0')
  .exitOverride()
  .showHelpAfterError();

registerInit(program);
registerSnapshots(program);
registerForget(program);
registerPrune(program);
registerCheck(program);
registerRepair(program);
registerBackup(program);
registerRestore(program);
registerInspect(program);
registerVerify(program);
registerKey(program);
registerMount(program);
registerControl(program);
registerUnlock(program);
registerCompletion(program);

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
