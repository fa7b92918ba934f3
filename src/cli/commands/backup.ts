import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { CairnError } from '../../errors/errors.js';
import { backupFolder } from '../../repository/backup.js';
import { RepositoryLock } from '../../repository/lock.js';
import { SourceReader } from '../../repository/source-reader.js';
import { pathExcluder } from '../../repository/patterns.js';
import { folderName } from '../../timetravel/names.js';
import { Journal } from '../../vfs/journal.js';
import { EXIT } from '../exit-codes.js';
import { defaultStateDir } from '../local-paths.js';
import { openFromCli } from '../open.js';
import { formatBytes, note, out } from '../output.js';
import { ProgressLine } from '../progress.js';
import { collect, secretOptions } from './common.js';

interface BackupCliOptions {
  keyfile?: string;
  passwordFile?: string;
  exclude: string[];
  excludeFile: string[];
  tag: string[];
  json?: boolean;
}

export function registerBackup(program: Command): void {
  secretOptions(
    program
      .command('backup')
      .description('make DEST in the repository an exact copy of a local folder and take a snapshot (no mount needed)')
      .argument('<store>', 'the repository')
      .argument('<src>', 'the local folder to back up')
      .argument('<dest>', 'the folder in the repository it becomes (/ for the whole tree)'),
  )
    .option('--exclude <pattern>', 'leave out names (*.tmp) or paths from SRC (cache/**), a trailing / for folders only (repeatable)', collect, [])
    .option('--exclude-file <file>', 'read exclude patterns from a file, one per line (# comments)', collect, [])
    .option('--tag <tag>', 'tag the snapshot (repeatable)', collect, [])
    .option('--json', 'print JSON for scripts')
    .action(async (store: string, source: string, dest: string, opts: BackupCliOptions) => {
      const patterns = [...opts.exclude, ...opts.excludeFile.flatMap(readPatterns)];
      // The reader threads load while the passphrase is checked (the KDF holds this thread).
      const reader = new SourceReader(null);
      reader.warmUp(source);
      try {
        await backUp(store, source, dest, opts, patterns, reader);
      } finally {
        await reader.close();
      }
    });
}

async function backUp(store: string, source: string, dest: string, opts: BackupCliOptions, patterns: string[], reader: SourceReader): Promise<void> {
  const repo = await openFromCli(store, { ...opts, bulkReads: true });
  const lock = await RepositoryLock.acquire(repo, 'write',
    'if a read-write mount holds it, rsync into that mount instead (rsync -aHAX --delete SRC/ MOUNTPOINT/DEST/) or unmount it first; otherwise wait for the other command');
  try {
    const pending = Journal.pendingRecords(defaultStateDir(repo.id));
    if (pending > 0) {
      throw new CairnError('JOURNAL', `a mount of this repository left ${pending} unsaved change(s) in ${defaultStateDir(repo.id)}`, {
        hint: 'mount it once (they are replayed) and unmount (they are saved), then run backup; a backup now would leave them behind',
      });
    }
    const progress = opts.json ? null : new ProgressLine('backing up');
    const result = await backupFolder(repo, source, {
      dest,
      reader,
      tags: opts.tag,
      exclude: patterns.length > 0 ? pathExcluder(patterns) : undefined,
      onProgress: (c) => progress?.update({ entries: c.entries, bytes: c.bytesRead }),
      onProblem: (p) => {
        progress?.stop();
        note(`cairn: ${p.path}: ${p.message}`);
      },
    }).finally(() => progress?.stop());
    const { snapshot, counts: c } = result;
    const name = folderName(snapshot.snapshot.timeNs);
    if (opts.json) {
      out(JSON.stringify({ snapshot: snapshot.id, name, newFiles: c.newFiles, changedFiles: c.changedFiles, unchangedFiles: c.unchangedFiles, removed: c.removed, entries: c.entries, bytesRead: c.bytesRead, addedBytes: result.addedBytes, problems: c.problems, stats: snapshot.snapshot.stats }, null, 2));
    } else {
      out(`${c.newFiles} new, ${c.changedFiles} changed, ${c.unchangedFiles} unchanged file(s), ${c.removed} removed; read ${formatBytes(c.bytesRead)}, added ${formatBytes(result.addedBytes)} to the store`);
      out(`snapshot ${snapshot.id.slice(0, 12)} saved (${name})`);
    }
    if (c.problems > 0) {
      note(`cairn: ${c.problems} file(s) or folder(s) could not be read (named above); the snapshot holds everything else`);
      process.exitCode = EXIT.incomplete;
    }
  } finally {
    await lock.release().catch(() => undefined);
    await repo.close();
  }
}

function readPatterns(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new CairnError('USAGE', `cannot read the exclude file ${file}: ${(e as Error).message}`);
  }
  return text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
}
