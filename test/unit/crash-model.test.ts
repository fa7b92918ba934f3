/**
 * The crash model at the filesystem layer (no FUSE, fast, many rounds): a seeded random
 * workload of every kind of change, mirrored in a plain in-memory model; at random points
 * the session is abandoned as a killed process would leave it (journal, staging and store
 * as they are; nothing in memory survives, not even the repository object), a new session
 * opens the same state folder, and the tree must equal the model: content, modes, symlinks,
 * hard-link groups, link counts, and every file keeps its file id. Snapshots, background
 * commits and clean remounts happen in between. test/mount/crash-model.test.ts does the
 * same through a real mount with SIGKILL.
 */
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as path from 'node:path';
import type { Backend } from '../../src/backend/backend.js';
import { MemoryBackend } from '../../src/backend/memory.js';
import { Repository } from '../../src/repository/repository.js';
import { checkRepository } from '../../src/repository/check.js';
import type { Stat } from '../../src/vfs/filesystem.js';
import { LiveSession } from '../../src/vfs/session.js';
import { Random } from '../helpers/random.js';
import { passphrase, tempDir } from '../helpers/store.js';

const O_RDWR = 2;
/** Small, so that files the workload writes front to back are chunked while written (src/vfs/content-stream.ts). */
const STREAM_STEP_BYTES = 64 * 1024;
/** Small too, so that streamed files journal `chunks` records (and free staging) before they are closed. */
const STREAM_JOURNAL_BYTES = 192 * 1024;

interface FileObject {
  data: Buffer;
  mode: number;
  /** The file id the mount gave it (st_ino); must never change. */
  ino?: bigint;
}

type Entry = { kind: 'file'; file: FileObject } | { kind: 'dir'; mode: number } | { kind: 'symlink'; target: string };

/** What the tree must look like: path -> entry; hard links share one FileObject. */
class Model {
  readonly entries = new Map<string, Entry>([['/', { kind: 'dir', mode: 0o755 }]]);

  paths(kind: Entry['kind']): string[] {
    return [...this.entries].filter(([p, e]) => e.kind === kind && p !== '/').map(([p]) => p);
  }

  dirs(): string[] {
    return [...this.entries].filter(([, e]) => e.kind === 'dir').map(([p]) => p);
  }

  children(dir: string): string[] {
    const prefix = dir === '/' ? '/' : `${dir}/`;
    return [...this.entries.keys()].filter((p) => p !== '/' && p.startsWith(prefix) && !p.slice(prefix.length).includes('/'));
  }

  /** Moves an entry (and, for a folder, everything below it). */
  move(from: string, to: string): void {
    const moved = [...this.entries].filter(([p]) => p === from || p.startsWith(`${from}/`));
    for (const [p] of moved) this.entries.delete(p);
    for (const [p, e] of moved) this.entries.set(to + p.slice(from.length), e);
  }
}

/** Small packs, so that they fill while files are written and wait for upload slots (src/repository/packer.ts). */
const PACK_TARGET_BYTES = 1024 * 1024;

/**
 * The store as one process sees it; after freeze() every call of that process fails, as if
 * it had died. An upload takes a few turns of the event loop (`latency` says how many), so
 * several are in flight at once, and those still in flight at a crash never land, as a
 * killed process's would not. Turns, not timers: a seed still replays exactly.
 */
function processView(backend: Backend, latency: () => number): { backend: Backend; freeze: () => void } {
  let frozen = false;
  const killed = () => Promise.reject(new Error('this process was killed'));
  const view = new Proxy(backend, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== 'function') return value;
      const call = (args: unknown[]) => (value as (...a: unknown[]) => unknown).apply(target, args);
      if (property === 'put') {
        return async (...args: unknown[]) => {
          for (let turns = latency(); turns > 0; turns--) await new Promise((resolve) => setImmediate(resolve));
          return frozen ? killed() : call(args);
        };
      }
      return (...args: unknown[]) => (frozen ? killed() : call(args));
    },
  });
  return { backend: view, freeze: () => void (frozen = true) };
}

const join = (dir: string, name: string) => (dir === '/' ? `/${name}` : `${dir}/${name}`);

describe('crash model of the filesystem layer', () => {
  let dir: string;
  let cleanup: () => Promise<void>;

  beforeEach(async () => ({ dir, cleanup } = await tempDir('cairn-crash-model-')));
  afterEach(async () => cleanup());

  // Seeds without hard links must, together, have made folders drop (one seed alone may
  // never leave a clean tree with subfolders to drop).
  let dropSeeds = 0;
  let droppedInRun = 0;
  afterAll(() => {
    if (dropSeeds > 0) expect(droppedInRun, 'folders dropped from memory by the seeds without hard links').toBeGreaterThan(0);
  });

  // 12 seeds here; `npm run soak -- --model-seeds N --seed S` runs N seeds from S.
  const first = Number(process.env.CAIRN_MODEL_FIRST_SEED ?? 1);
  const seeds = Array.from({ length: Number(process.env.CAIRN_MODEL_SEEDS ?? 12) }, (_, i) => first + i);
  for (const seed of seeds) {
    // Every third seed makes no hard links: a tree with one loads whole at mount, and only a
    // tree without lets clean folders drop from memory (src/vfs/folder-loader.ts).
    const hardLinks = seed % 3 !== 0;
    it(`seed ${seed}${hardLinks ? '' : ' (no hard links, folders drop)'}: after every crash the tree equals what was acknowledged, with the same file ids`, async () => {
      const random = new Random(seed);
      // Its own source, so the workload of a seed is what it was before uploads took time.
      const uploads = new Random(seed + 1_000_003);
      const backend = new MemoryBackend();
      await Repository.init(backend, passphrase('model'));
      const stateDir = path.join(dir, 'state');
      // Each session sees the store through its own "process": a crash freezes it, so the
      // abandoned session's background work (a commit on a timer) never reaches the store
      // again, as after a real kill -9 (it fails, and its retries fail).
      let freezeProcess = () => {};
      let dropped = 0;
      let last: LiveSession | null = null;
      const start = async () => {
        dropped += last?.loader.droppedFolders ?? 0;
        freezeProcess();
        const view = processView(backend, () => uploads.int(40));
        freezeProcess = view.freeze;
        const repo = await Repository.open(view.backend, passphrase('model'), { packTargetBytes: PACK_TARGET_BYTES });
        // Room for 8 inodes and no folder spared: clean folders drop from memory between
        // operations and load again.
        last = (await LiveSession.open(repo, { stateDir, uid: 0, gid: 0, quietMs: 3_600_000, streamStepBytes: STREAM_STEP_BYTES, streamJournalBytes: STREAM_JOURNAL_BYTES, keepInodes: 8, keepRecentFolders: 0 })).session;
        return { repo, session: last };
      };
      let { session } = await start();
      const model = new Model();
      let counter = 0;
      const hidden: { fh: number; name: string; file: FileObject }[] = [];
      const log: string[] = [];

      const fs = () => session.fs;
      const writeAt = async (fh: number, offset: number, data: Buffer) => {
        for (let at = 0; at < data.length; at += 131072) await fs().write(fh, offset + at, data.subarray(at, at + 131072));
      };
      const patch = (file: FileObject, offset: number, data: Buffer) => {
        const size = Math.max(file.data.length, offset + data.length);
        const next = Buffer.alloc(size);
        file.data.copy(next);
        data.copy(next, offset);
        file.data = next;
      };
      const resize = (file: FileObject, size: number) => {
        const next = Buffer.alloc(size);
        file.data.copy(next, 0, 0, Math.min(size, file.data.length));
        file.data = next;
      };
      const newPath = () => join(random.pick(model.dirs()), `n${counter++}${random.chance(0.1) ? ' with space' : ''}`);

      const compare = async (when: string) => {
        const actual = new Map<string, Stat>();
        const walk = async (p: string) => {
          const { names, stats } = await fs().readdir(p);
          for (const [i, name] of names.entries()) {
            const child = join(p, name);
            actual.set(child, stats[i]!);
            if ((stats[i]!.mode & 0o170000) === 0o040000) await walk(child);
          }
        };
        await walk('/');
        const expected = [...model.entries.keys()].filter((p) => p !== '/').sort();
        expect([...actual.keys()].sort(), `${when}: paths (seed ${seed}, after ${log.slice(-5).join('; ')})`).toEqual(expected);
        const groups = new Map<bigint, FileObject>();
        for (const p of expected) {
          const e = model.entries.get(p)!;
          const st = actual.get(p)!;
          if (e.kind === 'dir') {
            expect(st.mode & 0o7777, `${when}: mode of ${p}`).toBe(e.mode);
          } else if (e.kind === 'symlink') {
            expect(await fs().readlink(p), `${when}: target of ${p}`).toBe(e.target);
          } else {
            expect(st.mode & 0o7777, `${when}: mode of ${p}`).toBe(e.file.mode);
            expect(st.size, `${when}: size of ${p}`).toBe(e.file.data.length);
            const fh = await fs().open(p, 0);
            const data = await fs().read(fh, 0, st.size + 1);
            fs().release(fh);
            expect(data.equals(e.file.data), `${when}: content of ${p} (seed ${seed}, after ${log.slice(-5).join('; ')})`).toBe(true);
            // One file id per file, for exactly its names, never changing.
            if (e.file.ino === undefined) e.file.ino = st.ino;
            expect(st.ino, `${when}: file id of ${p}`).toBe(e.file.ino);
            const seen = groups.get(st.ino);
            expect(seen === undefined || seen === e.file, `${when}: ${p} shares an id with another file`).toBe(true);
            groups.set(st.ino, e.file);
            const names = [...model.entries.values()].filter((x) => x.kind === 'file' && x.file === e.file).length;
            expect(st.nlink, `${when}: link count of ${p}`).toBe(names);
          }
        }
        // The counts a snapshot stores and statfs shows are kept as records apply: they
        // must equal the model's (hard links once).
        const files = new Set([...model.entries.values()].flatMap((e) => (e.kind === 'file' ? [e.file] : [])));
        const dirs = [...model.entries.values()].filter((e) => e.kind === 'dir').length;
        const bytes = [...files].reduce((sum, f) => sum + f.data.length, 0);
        expect(session.table.counts(), `${when}: counts (seed ${seed}, after ${log.slice(-5).join('; ')})`).toEqual({ files: files.size, dirs, bytes });
      };

      const operations: [number, string, () => Promise<void>][] = [
        [10, 'create', async () => {
          const p = newPath();
          const data = random.bytes(random.size());
          const fh = await fs().create(p, 0o644);
          await writeAt(fh, 0, data);
          fs().release(fh);
          model.entries.set(p, { kind: 'file', file: { data, mode: 0o644 } });
        }],
        [8, 'rewrite (O_TRUNC)', async () => {
          const p = random.pick(model.paths('file'));
          const e = model.entries.get(p) as { file: FileObject };
          const fh = await fs().open(p, O_RDWR);
          await fs().ftruncate(fh, 0);
          const data = random.bytes(random.size());
          await writeAt(fh, 0, data);
          if (random.chance(0.3)) fs().fsync(fh);
          fs().release(fh);
          e.file.data = data;
        }],
        [4, 'three files written at once', async () => {
          // Each streams (chunked while written, `chunks` records as they go), and they share packs:
          // one file's journaled chunks may sit in a pack another's save filled.
          const targets: string[] = [];
          for (let i = 0; i < 3; i++) {
            const p = random.chance(0.5) && model.paths('file').length > 0 ? random.pick(model.paths('file')) : newPath();
            // One writer per file (two names of one file are one file).
            if (!targets.some((t) => t === p || (model.entries.has(p) && model.entries.get(t) === model.entries.get(p)))) targets.push(p);
          }
          const writes = targets.map((p) => ({ p, data: random.bytes(300_000 + random.int(2_000_000)) }));
          await Promise.all(writes.map(async ({ p, data }) => {
            const existing = model.entries.get(p) as { file: FileObject } | undefined;
            const fh = existing ? await fs().open(p, O_RDWR) : await fs().create(p, 0o644);
            if (existing) await fs().ftruncate(fh, 0);
            await writeAt(fh, 0, data);
            fs().release(fh);
          }));
          for (const { p, data } of writes) {
            const existing = model.entries.get(p) as { file: FileObject } | undefined;
            if (existing) existing.file.data = data;
            else model.entries.set(p, { kind: 'file', file: { data, mode: 0o644 } });
          }
        }],
        [6, 'patch', async () => {
          const p = random.pick(model.paths('file'));
          const e = model.entries.get(p) as { file: FileObject };
          const offset = random.int(e.file.data.length + 1000);
          const data = random.bytes(1 + random.int(70_000));
          const fh = await fs().open(p, O_RDWR);
          await writeAt(fh, offset, data);
          fs().release(fh);
          patch(e.file, offset, data);
        }],
        [4, 'append', async () => {
          const p = random.pick(model.paths('file'));
          const e = model.entries.get(p) as { file: FileObject };
          const data = random.bytes(1 + random.int(30_000));
          const fh = await fs().open(p, O_RDWR);
          await writeAt(fh, e.file.data.length, data);
          fs().release(fh);
          patch(e.file, e.file.data.length, data);
        }],
        [4, 'truncate', async () => {
          const p = random.pick(model.paths('file'));
          const e = model.entries.get(p) as { file: FileObject };
          const size = random.int(e.file.data.length * 2 + 10);
          await fs().truncate(p, size);
          resize(e.file, size);
        }],
        [5, 'rename', async () => {
          const from = random.pick([...model.paths('file'), ...model.paths('symlink')]);
          // Half the time over an existing file.
          const files = model.paths('file').filter((p) => p !== from);
          const to = random.chance(0.5) && files.length > 0 ? random.pick(files) : newPath();
          await fs().rename(from, to);
          const [a, b] = [model.entries.get(from), model.entries.get(to)];
          if (a?.kind === 'file' && b?.kind === 'file' && a.file === b.file) return; // two names of one file: POSIX does nothing
          model.entries.delete(to);
          model.move(from, to);
        }],
        [2, 'rename folder', async () => {
          const dirs = model.dirs().filter((d) => d !== '/');
          const from = random.pick(dirs);
          const to = join(random.pick(model.dirs().filter((d) => d !== from && !d.startsWith(`${from}/`))), `d${counter++}`);
          await fs().rename(from, to);
          model.move(from, to);
          // libfuse's hidden names of unlinked open files move with their folder.
          for (const h of hidden) if (h.name.startsWith(`${from}/`)) h.name = to + h.name.slice(from.length);
        }],
        [4, 'unlink', async () => {
          const p = random.pick([...model.paths('file'), ...model.paths('symlink')]);
          await fs().unlink(p);
          model.entries.delete(p);
        }],
        [3, 'unlink while open (as libfuse does it)', async () => {
          const p = random.pick(model.paths('file'));
          const e = model.entries.get(p) as { file: FileObject };
          const fh = await fs().open(p, O_RDWR);
          const name = join(path.posix.dirname(p), `.fuse_hidden${(counter++).toString(16).padStart(16, '0')}`);
          await fs().rename(p, name);
          model.entries.delete(p);
          const data = random.bytes(100);
          await writeAt(fh, 0, data);
          patch(e.file, 0, data); // its other names, if any, see it
          hidden.push({ fh, name, file: e.file });
        }],
        [2, 'close an unlinked file', async () => {
          const h = hidden.shift();
          if (!h) return;
          fs().release(h.fh);
          await fs().unlink(h.name);
        }],
        [3, 'chmod', async () => {
          const p = random.pick(model.paths('file'));
          const mode = random.pick([0o600, 0o640, 0o755, 0o444, 0o4755]);
          await fs().chmod(p, mode);
          (model.entries.get(p) as { file: FileObject }).file.mode = mode;
        }],
        [3, 'mkdir', async () => {
          const p = newPath();
          await fs().mkdir(p, 0o755);
          model.entries.set(p, { kind: 'dir', mode: 0o755 });
        }],
        [1, 'rmdir', async () => {
          const empty = model.dirs().filter((d) => d !== '/' && model.children(d).length === 0 && !hidden.some((h) => path.posix.dirname(h.name) === d));
          if (empty.length === 0) return;
          const p = random.pick(empty);
          await fs().rmdir(p);
          model.entries.delete(p);
        }],
        [hardLinks ? 4 : 0, 'hard link', async () => {
          const p = random.pick(model.paths('file'));
          const to = newPath();
          await fs().link(p, to);
          model.entries.set(to, model.entries.get(p)!);
        }],
        [2, 'symlink', async () => {
          const p = newPath();
          const target = `../t${counter++}`;
          await fs().symlink(target, p);
          model.entries.set(p, { kind: 'symlink', target });
        }],
        [3, 'snapshot', async () => void (await session.snapshot())],
        [3, 'background commit', async () => session.flusher.commitAll()],
        [4, 'crash', async () => {
          hidden.length = 0; // the killed process's handles are gone, and with them its unlinked files
          ({ session } = await start());
          await compare('after a crash');
        }],
        [1, 'clean remount', async () => {
          for (const h of hidden.splice(0)) {
            fs().release(h.fh);
            await fs().unlink(h.name);
          }
          await session.close();
          ({ session } = await start());
          await compare('after a clean remount');
        }],
      ];
      const total = operations.reduce((sum, [w]) => sum + w, 0);
      for (let step = 0; step < 250; step++) {
        let r = random.int(total);
        const [, name, run] = operations.find(([w]) => (r -= w) < 0)!;
        const needsFile = ['rewrite (O_TRUNC)', 'patch', 'append', 'truncate', 'unlink while open (as libfuse does it)', 'chmod', 'hard link'].includes(name);
        if (needsFile && model.paths('file').length === 0) continue;
        if (name === 'rename' && model.paths('file').length + model.paths('symlink').length === 0) continue;
        if (name === 'unlink' && model.paths('file').length + model.paths('symlink').length === 0) continue;
        if (name === 'rename folder' && model.dirs().length < 3) continue;
        log.push(`${step}:${name}`);
        try {
          await run();
        } catch (e) {
          // Name the step: a seed replays exactly, so this is all it takes to reproduce it.
          throw new Error(`seed ${seed}, step ${step} (${name}) failed: ${(e as { errno?: string }).errno ?? ''} ${(e as Error).message}; before it: ${log.slice(-6, -1).join('; ')}`);
        }
      }
      await compare('at the end');
      for (const h of hidden.splice(0)) fs().release(h.fh);
      await session.close();
      const again = await start();
      session = again.session; // compare reads through the session in use
      await compare('after the last remount');
      if (!hardLinks) {
        dropSeeds++;
        droppedInRun += dropped;
      }
      const report = await checkRepository(again.repo, { readData: true });
      // A process killed in the middle of a store flush (a stream journals its chunks in the
      // background) may leave a stored pack no index file names yet: harmless, prune removes
      // it. Anything else is a defect, and a chunk a file needs that no index names is an error.
      expect(report.problems.filter((p) => !(p.severity === 'warning' && p.message.startsWith('not named by any index')))).toEqual([]);
      await again.session.close();
    }, 120_000);
  }
});
