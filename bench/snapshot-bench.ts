/**
 * Snapshot and replay cost against tree size: a 100,000-file live tree (built through the
 * filesystem layer, no FUSE), a first snapshot, then one changed file and a second snapshot,
 * which must cost what changed (a few trees), not what exists; then a remount of that tree
 * (load by file ids), and a remount that replays a crashed session's journal.
 */
import * as path from 'node:path';
import { LocalBackend } from '../src/backend/local.js';
import { Repository } from '../src/repository/repository.js';
import { LiveSession } from '../src/vfs/session.js';

export async function snapshotBenchmarks(root: string): Promise<string> {
  const store = path.join(root, 'snap-store');
  const stateDir = path.join(root, 'snap-state');
  const secret = { kind: 'passphrase', passphrase: 'bench' } as const;
  const repo = await Repository.init(new LocalBackend(store), secret);
  const { session } = await LiveSession.open(repo, { stateDir, uid: 0, gid: 0, quietMs: 3_600_000 });
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
  const time = async (label: string, fn: () => Promise<unknown>, trees: () => string = () => String(session.lastSnapshotTreesWritten)) => {
    const start = process.hrtime.bigint();
    await fn();
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    rows.push(`| ${label} | ${seconds.toFixed(3)} | ${trees()} |`);
  };
  await time(`first snapshot of ${files.toLocaleString('en')} files in 2,100 folders (commits every file)`, () => session.snapshot());
  const fh = await fs.open('/a57/b13/f42', 1);
  await fs.write(fh, 0, Buffer.from('changed'));
  fs.release(fh);
  await time('snapshot after changing 1 file', () => session.snapshot());
  await time('snapshot after nothing changed', () => session.snapshot());
  await session.close();
  await repo.close();

  // A fresh process would open the repository again; so do these.
  let reopened = await Repository.open(new LocalBackend(store), secret);
  let opened!: Awaited<ReturnType<typeof LiveSession.open>>;
  await time(`remount: open the ${files.toLocaleString('en')}-file tree (its root folder; the rest loads on use)`, async () => (opened = await LiveSession.open(reopened, { stateDir, uid: 0, gid: 0, quietMs: 3_600_000 })), () => '-');
  await time('… then load every folder of it (what a whole find or rsync reads)', () => opened.session.loader.loadAll(), () => '-');
  // A crashed session: 10,000 changes in the journal, never saved.
  const crashed = opened.session;
  for (let i = 0; i < 2_000; i++) {
    const dir = `/a${i % 100}/b${Math.floor(i / 100)}`; // 2,000 distinct folders
    await crashed.fs.rename(`${dir}/f0`, `${dir}/moved${i}`);
    await crashed.fs.chmod(`${dir}/moved${i}`, 0o600);
    const h = await crashed.fs.open(`${dir}/moved${i}`, 1);
    await crashed.fs.ftruncate(h, 0); // an O_TRUNC rewrite: 5 records per round
    await crashed.fs.write(h, 0, Buffer.from('rewritten\n'));
    crashed.fs.release(h);
    await crashed.fs.mkdir(`${dir}/new${i}`, 0o755);
  }
  reopened = await Repository.open(new LocalBackend(store), secret);
  let replayed = 0;
  await time('remount after a crash: load the tree and replay 10,000 journal records', async () => {
    const again = await LiveSession.open(reopened, { stateDir, uid: 0, gid: 0, quietMs: 3_600_000 });
    replayed = again.report.replayed;
    opened = again;
  }, () => '-');
  if (replayed < 10_000) throw new Error(`expected 10,000 replayed records, got ${replayed}`);
  await opened.session.close();
  await reopened.close();
  return ['### Snapshot and remount cost (filesystem layer, local-folder store)', '', '| step | seconds | trees written |', '|---|---|---|', ...rows].join('\n');
}
