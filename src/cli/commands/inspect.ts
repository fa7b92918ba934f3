/** Looking into snapshots without mounting: ls, cat, find, diff, stats. */
import type { Command } from 'commander';
import { CairnError } from '../../errors/errors.js';
import { isoTimeNs } from '../../format/time.js';
import type { TreeNode } from '../../format/tree.js';
import { ContentReader } from '../../repository/file-content.js';
import { diffEntries, findInSnapshot, pathFinder, snapshotContentStats, type Change, type ChangeKind } from '../../repository/inspect.js';
import type { Repository } from '../../repository/repository.js';
import { resolvePath, walkTree, type WalkEntry } from '../../repository/tree-walk.js';
import { nameSnapshots, type NamedSnapshot } from '../../timetravel/snapshot-ref.js';
import { EXIT } from '../exit-codes.js';
import { openFromCli } from '../open.js';
import { formatBytes, formatLocalTime, out, reportSkipped, table } from '../output.js';
import { chooseSnapshot, describeSnapshot } from '../snapshot-choice.js';
import { secretOptions } from './common.js';

interface OpenOptions {
  keyfile?: string;
  passwordFile?: string;
  json?: boolean;
}

/** Opens for reading: a damaged snapshot or index file is named and left out (exit 6 at the end). */
async function openForReading(store: string, opts: OpenOptions): Promise<Repository> {
  const repo = await openFromCli(store, { ...opts, bulkReads: true }, { skipDamaged: true });
  if (reportSkipped(repo.skipped) > 0) process.exitCode = EXIT.corrupt;
  return repo;
}

const TYPE_LETTER: Record<TreeNode['type'], string> = { file: '-', dir: 'd', symlink: 'l', fifo: 'p', socket: 's', chardev: 'c', blockdev: 'b' };

/** `-rwsr-x---` as ls shows it. */
export function modeString(node: TreeNode): string {
  const m = node.mode;
  const triple = (shift: number, special: number, letter: string) => {
    const r = m & (4 << shift) ? 'r' : '-';
    const w = m & (2 << shift) ? 'w' : '-';
    const x = m & (1 << shift);
    const exec = m & special ? (x ? letter : letter.toUpperCase()) : x ? 'x' : '-';
    return r + w + exec;
  };
  return TYPE_LETTER[node.type] + triple(6, 0o4000, 's') + triple(3, 0o2000, 's') + triple(0, 0o1000, 't');
}

function entryJson({ path, node }: WalkEntry): Record<string, unknown> {
  return {
    path, type: node.type, mode: node.mode, uid: node.uid, gid: node.gid, size: node.size, links: node.links,
    mtime: isoTimeNs(node.mtimeNs),
    ...(node.target !== undefined ? { target: node.target } : {}),
    ...(node.rdev !== undefined ? { rdev: node.rdev } : {}),
    ...(node.xattrs?.length ? { xattrs: node.xattrs.map((x) => x.name) } : {}),
  };
}

function longRow({ path, node }: WalkEntry): string[] {
  const size = node.type === 'chardev' || node.type === 'blockdev' ? `${(node.rdev ?? 0) >>> 8}, ${(node.rdev ?? 0) & 0xff}` : String(node.size);
  return [modeString(node), String(node.links), String(node.uid), String(node.gid), size, formatLocalTime(node.mtimeNs), node.type === 'symlink' ? `${path} -> ${node.target}` : path];
}

export function registerInspect(program: Command): void {
  secretOptions(program.command('ls').description('list the entries of a snapshot (or a folder in it)').argument('<store>', 'the repository').argument('<snapshot>', 'id prefix, .snapshots/ folder name, or latest').argument('[path]', 'a folder or file in the snapshot', ''))
    .option('-l, --long', 'mode, links, owner, size and modification time')
    .option('-R, --recursive', 'everything below the folder, not just its entries')
    .option('--json', 'print JSON for scripts')
    .action(async (store: string, ref: string, at: string, opts: OpenOptions & { long?: boolean; recursive?: boolean }) => {
      const repo = await openForReading(store, opts);
      const chosen = await chooseSnapshot(repo, ref, undefined);
      const start = await resolvePath(repo, chosen.stored.snapshot, at);
      const entries: WalkEntry[] = [];
      if (start.node.type !== 'dir') entries.push(start);
      else for await (const e of walkTree(repo, start, () => opts.recursive === true)) entries.push(e);
      if (opts.json) return out(JSON.stringify({ snapshot: chosen.stored.id, name: chosen.name, entries: entries.map(entryJson) }, null, 2));
      if (opts.long) {
        if (entries.length > 0) out(table(entries.map(longRow)));
      } else {
        for (const e of entries) out(e.path);
      }
    });

  secretOptions(program.command('cat').description('write a file of a snapshot to stdout').argument('<store>', 'the repository').argument('<snapshot>', 'id prefix, .snapshots/ folder name, or latest').argument('<path>', 'the file in the snapshot'))
    .action(async (store: string, ref: string, at: string, opts: OpenOptions) => {
      const repo = await openForReading(store, opts);
      const chosen = await chooseSnapshot(repo, ref, undefined);
      const { node, path } = await resolvePath(repo, chosen.stored.snapshot, at);
      if (node.type === 'symlink') return void process.stdout.write(node.target ?? '');
      if (node.type !== 'file') throw new CairnError('USAGE', `${path || '/'} is a ${node.type === 'dir' ? 'folder' : node.type}, not a file`, { hint: node.type === 'dir' ? 'use `cairn ls` to list it' : undefined });
      const reader = new ContentReader(repo, node.content ?? []);
      const step = 4 * 1024 * 1024;
      for (let offset = 0; offset < node.size; offset += step) {
        const piece = await reader.read(offset, step);
        if (!process.stdout.write(piece)) await new Promise((r) => process.stdout.once('drain', r));
      }
    });

  secretOptions(program.command('find').description('every snapshot holding a path that matches a pattern').argument('<store>', 'the repository').argument('<pattern>', 'a name glob (*.pdf), or a path glob from the top (docs/**/*.pdf)'))
    .option('--snapshot <snapshot>', 'search only this snapshot')
    .option('--json', 'print JSON for scripts')
    .action(async (store: string, pattern: string, opts: OpenOptions & { snapshot?: string }) => {
      const repo = await openForReading(store, opts);
      const snapshots = opts.snapshot !== undefined ? [await chooseSnapshot(repo, opts.snapshot, undefined)] : nameSnapshots(await repo.listSnapshots());
      const finder = pathFinder(pattern);
      const byPath = new Map<string, { snapshot: NamedSnapshot; node: TreeNode }[]>();
      for (const s of snapshots) {
        for (const { path, node } of await findInSnapshot(repo, s.stored.snapshot, finder)) {
          const versions = byPath.get(path) ?? [];
          versions.push({ snapshot: s, node });
          byPath.set(path, versions);
        }
      }
      const paths = [...byPath.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      if (opts.json) {
        return out(JSON.stringify(paths.map((p) => ({ path: p, versions: byPath.get(p)!.map(({ snapshot, node }) => ({ snapshot: snapshot.stored.id, name: snapshot.name, type: node.type, size: node.size, mtime: isoTimeNs(node.mtimeNs) })) })), null, 2));
      }
      for (const p of paths) {
        out(p);
        out(table(byPath.get(p)!.map(({ snapshot, node }) => ['   ', snapshot.name, snapshot.stored.id.slice(0, 12), node.type === 'file' ? formatBytes(node.size) : node.type, formatLocalTime(node.mtimeNs)])));
      }
      out(`${paths.length} path(s) in ${new Set([...byPath.values()].flatMap((v) => v.map((x) => x.snapshot.stored.id))).size} of ${snapshots.length} snapshot(s)`);
    });

  secretOptions(program.command('diff').description('what changed between two snapshots').argument('<store>', 'the repository').argument('<a>', 'the older snapshot').argument('<b>', 'the newer snapshot').argument('[path]', 'compare only this folder or file', ''))
    .option('--json', 'print JSON for scripts')
    .action(async (store: string, refA: string, refB: string, at: string, opts: OpenOptions) => {
      const repo = await openForReading(store, opts);
      const [a, b] = [await chooseSnapshot(repo, refA, undefined), await chooseSnapshot(repo, refB, undefined)];
      const start = async (s: NamedSnapshot) => resolvePath(repo, s.stored.snapshot, at).catch(() => null);
      const [left, right] = [await start(a), await start(b)];
      if (!left && !right) await resolvePath(repo, a.stored.snapshot, at); // names the missing path
      const changes: Change[] = [];
      if (left && right) for await (const c of diffEntries(repo, left, right)) changes.push(c);
      else changes.push({ path: (left ?? right)!.path, kind: left ? 'removed' : 'added' });
      const counts: Record<ChangeKind, number> = { added: 0, removed: 0, content: 0, metadata: 0, type: 0 };
      for (const c of changes) counts[c.kind]++;
      if (opts.json) return out(JSON.stringify({ from: a.stored.id, to: b.stored.id, changes, counts }, null, 2));
      const mark: Record<ChangeKind, string> = { added: '+', removed: '-', content: 'M', metadata: 'U', type: 'T' };
      for (const c of changes) out(`${mark[c.kind]}  ${c.path}${c.fields ? `  (${c.fields.join(', ')})` : ''}`);
      out(`${describeSnapshot(a)} -> ${describeSnapshot(b)}: ${counts.added} added, ${counts.removed} removed, ${counts.content} changed content, ${counts.metadata} changed metadata, ${counts.type} changed type`);
    });

  secretOptions(program.command('stats').description('files, sizes and deduplication of a snapshot or the whole store').argument('<store>', 'the repository').argument('[snapshot]', 'one snapshot (default: every snapshot and the store)'))
    .option('--json', 'print JSON for scripts')
    .action(async (store: string, ref: string | undefined, opts: OpenOptions) => {
      const repo = await openForReading(store, opts);
      const ratio = (logical: number, stored: number) => (stored === 0 ? 0 : Math.round((logical / stored) * 100) / 100);
      if (ref !== undefined) {
        const chosen = await chooseSnapshot(repo, ref, undefined);
        const s = await snapshotContentStats(repo, chosen.stored.snapshot);
        const report = { snapshot: chosen.stored.id, name: chosen.name, ...s, addedBytes: chosen.stored.snapshot.stats.addedBytes, dedupRatio: ratio(s.logicalBytes, s.storedBytes) };
        if (opts.json) return out(JSON.stringify(report, null, 2));
        out(`snapshot ${describeSnapshot(chosen)}: ${s.files} files, ${s.dirs} folders, ${s.others} other entries`);
        out(`  ${formatBytes(s.logicalBytes)} of file content, stored in ${s.blobs} distinct blobs of ${formatBytes(s.storedBytes)} (dedup ratio ${report.dedupRatio}); this snapshot added ${formatBytes(report.addedBytes)}`);
        return;
      }
      const snapshots = nameSnapshots(await repo.listSnapshots());
      const seen = new Set<string>();
      let logical = 0;
      let storedBytes = 0;
      let blobs = 0;
      const rows = snapshots.map((s) => {
        const st = s.stored.snapshot.stats;
        logical += st.bytes;
        return { snapshot: s.stored.id, name: s.name, files: st.files, dirs: st.dirs, logicalBytes: st.bytes, addedBytes: st.addedBytes };
      });
      for (const s of snapshots) {
        const c = await snapshotContentStats(repo, s.stored.snapshot, seen);
        storedBytes += c.storedBytes;
        blobs += c.blobs;
      }
      let packBytes = 0;
      for (const blobsOfPack of repo.index.packs().values()) for (const b of blobsOfPack) packBytes += b.location.length;
      const totals = { snapshots: snapshots.length, logicalBytes: logical, blobs, storedBytes, dedupRatio: ratio(logical, storedBytes), indexedBytes: packBytes };
      if (opts.json) return out(JSON.stringify({ snapshots: rows, store: totals }, null, 2));
      if (rows.length > 0) out(table([['NAME', 'ID', 'FILES', 'FOLDERS', 'SIZE', 'ADDED'], ...rows.map((r) => [r.name, r.snapshot.slice(0, 12), String(r.files), String(r.dirs), formatBytes(r.logicalBytes), formatBytes(r.addedBytes)])]));
      out(`store: ${totals.snapshots} snapshot(s) holding ${formatBytes(logical)} of file content; ${blobs} distinct blobs of ${formatBytes(storedBytes)} in use (dedup ratio ${totals.dedupRatio}); ${formatBytes(packBytes)} of blobs indexed (the difference is freed by prune)`);
    });
}
