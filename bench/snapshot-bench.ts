/**
 * Snapshot cost against tree size: a 100,000-file live tree (built through the filesystem
 * layer, no FUSE), a first snapshot, then one changed file and a second snapshot, which
 * must cost what changed (a few trees), not what exists.
 */
import * as path from 'node:path';
import { LocalBackend } from '../src/backend/local.js';
import { Repository } from '../src/repository/repository.js';
import { LiveSession } from '../src/vfs/session.js';

export async function snapshotBenchmarks(root: string): Promise<string> {
  const repo = await Repository.init(new LocalBackend(path.join(root, 'snap-store')), { kind: 'passphrase', passphrase: 'bench' });
  const { session } = await LiveSession.open(repo, { stateDir: path.join(root, 'snap-state'), uid: 0, gid: 0, quietMs: 3_600_000 });
  const fs = session.fs;
  const rows: string[] = [];
  let files = 0;
  for (let a = 0; a < 100; a++) {
    await fs.mkdir(`/a${a}`, 0o755);
    for (let b = 0; b < 20; b++) {
      await fs.mkdir(`/a${a}/b${b}`, 0o755);
      for (let c = 0; c < 50; c++) {
        const fh = await fs.create(`/a${a}/b${b}/f${c}`, 0o644);
        await fs.write(fh, 0, Buffer.from(`file ${a}/${b}/${c}\n`));
        fs.release(fh);
        files++;
      }
    }
  }
  const time = async (label: string, fn: () => Promise<unknown>) => {
    const start = process.hrtime.bigint();
    await fn();
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    rows.push(`| ${label} | ${seconds.toFixed(3)} | ${session.lastSnapshotTreesWritten} |`);
  };
  await time(`first snapshot of ${files.toLocaleString('en')} files in 2,100 folders (commits every file)`, () => session.snapshot());
  const fh = fs.open('/a57/b13/f42', 1) as number;
  await fs.write(fh, 0, Buffer.from('changed'));
  fs.release(fh);
  await time('snapshot after changing 1 file', () => session.snapshot());
  await time('snapshot after nothing changed', () => session.snapshot());
  await session.close();
  await repo.close();
  return ['### Snapshot cost (filesystem layer, local-folder store)', '', '| step | seconds | trees written |', '|---|---|---|', ...rows].join('\n');
}
