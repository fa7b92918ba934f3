/**
 * The crash-model harness through a real mount (in the spirit of CrashMonkey/ACE and
 * ALICE): a seeded random workload of create, O_TRUNC rewrite, in-place patch, append,
 * truncate, rename (also over an existing name), unlink (also of an open file), chmod,
 * mkdir, rmdir, hard link, symlink, fsync and `cairn snapshot`, applied to the mount and
 * mirrored in a plain folder; the mount process killed with SIGKILL at random moments
 * (while quiet, in the middle of an operation, during a snapshot, during unmount's save;
 * automatic snapshots run every few seconds); remount; the tree (content, mode, links,
 * symlinks, hard-link groups) must equal the mirror, where only the operation in flight may
 * show its state before, after, or (for a write) a prefix of it. Files keep their st_ino
 * across every crash. Many rounds on one store; `check --read-data` clean at the end.
 *
 * Bounded here (CAIRN_CRASH_ROUNDS, default 8); `npm run soak -- --rounds 200 --seed 7`
 * runs it long.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import * as callbackFs from 'node:fs';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { promisify } from 'node:util';
import * as path from 'node:path';
import { cairn, CLI, run } from '../helpers/cli.js';
import { mount, type RunningMount, unmountAll } from '../helpers/mount.js';
import { Random } from '../helpers/random.js';
import { tempDir } from '../helpers/store.js';

const env = { CAIRN_PASSWORD: 'crash model' };

/**
 * File calls on plain descriptors (the callback API, promisified), not fs.promises: a
 * FileHandle whose close failed because the mount was killed would be closed again at
 * garbage collection, and Node reports that failure as an uncaught error.
 */
const fs = {
  mkdir: promisify(callbackFs.mkdir),
  writeFile: promisify(callbackFs.writeFile),
  appendFile: promisify(callbackFs.appendFile),
  truncate: promisify(callbackFs.truncate),
  rename: promisify(callbackFs.rename),
  unlink: promisify(callbackFs.unlink),
  chmod: promisify(callbackFs.chmod),
  rmdir: promisify(callbackFs.rmdir),
  link: promisify(callbackFs.link),
  symlink: promisify(callbackFs.symlink),
  open: promisify(callbackFs.open),
  close: promisify(callbackFs.close),
  fsync: promisify(callbackFs.fsync),
  write: (fd: number, data: Buffer, position: number) =>
    new Promise<void>((resolve, reject) => callbackFs.write(fd, data, 0, data.length, position, (e) => (e ? reject(e) : resolve()))),
};
const ROUNDS = Number(process.env.CAIRN_CRASH_ROUNDS ?? 8);
const SEED = Number(process.env.CAIRN_CRASH_SEED ?? Date.now() % 100_000);

/** A tree as users see it, without times: type, mode, size, link count, content hash, target; and hard-link groups. */
function shape(root: string): { entries: Map<string, string>; inos: Map<string, bigint>; groups: string[] } {
  const entries = new Map<string, string>();
  const inos = new Map<string, bigint>();
  const byIno = new Map<bigint, string[]>();
  const walk = (dir: string, rel: string) => {
    for (const name of readdirSync(dir).sort()) {
      const full = path.join(dir, name);
      const relPath = rel ? `${rel}/${name}` : name;
      const st = lstatSync(full, { bigint: true });
      const mode = (st.mode & 0o7777n).toString(8);
      if (st.isDirectory()) {
        entries.set(relPath, `dir ${mode}`);
        walk(full, relPath);
      } else if (st.isSymbolicLink()) {
        entries.set(relPath, `symlink -> ${readlinkSync(full)}`);
      } else {
        const hash = createHash('sha256').update(readFileSync(full)).digest('hex').slice(0, 16);
        entries.set(relPath, `file ${mode} ${st.size} links=${st.nlink} ${hash}`);
        inos.set(relPath, st.ino);
        byIno.set(st.ino, [...(byIno.get(st.ino) ?? []), relPath]);
      }
    }
  };
  walk(root, '');
  const groups = [...byIno.values()].filter((g) => g.length > 1).map((g) => g.sort().join(' = ')).sort();
  return { entries, inos, groups };
}

function differences(expected: ReturnType<typeof shape>, actual: ReturnType<typeof shape>): string[] {
  const out: string[] = [];
  for (const key of new Set([...expected.entries.keys(), ...actual.entries.keys()])) {
    const e = expected.entries.get(key);
    const a = actual.entries.get(key);
    if (e !== a) out.push(`${key}: expected ${e ?? 'nothing'}, found ${a ?? 'nothing'}`);
  }
  if (expected.groups.join('\n') !== actual.groups.join('\n')) out.push(`hard links: expected [${expected.groups.join('; ')}], found [${actual.groups.join('; ')}]`);
  return out;
}

/** One workload step: applied to a root (the mount, then the mirror). `paths` it touches; `write` marks content writes. */
interface Step {
  readonly name: string;
  readonly paths: string[];
  readonly write?: { path: string; data: Buffer; truncate: boolean; offset: number };
  apply(root: string): Promise<void>;
}

/** Whether `got` is what a write cut short can leave: a prefix of an O_TRUNC rewrite, or each covered byte old or new. */
function partOfWrite(write: NonNullable<Step['write']>, before: Buffer, got: Buffer): boolean {
  if (write.truncate) return got.length <= write.data.length && got.equals(write.data.subarray(0, got.length));
  const end = Math.max(before.length, write.offset + write.data.length);
  if (got.length < before.length || got.length > end) return false;
  for (let i = 0; i < got.length; i++) {
    const old = i < before.length ? before[i] : 0;
    const covered = i >= write.offset && i < write.offset + write.data.length;
    if (got[i] !== old && !(covered && got[i] === write.data[i - write.offset])) return false;
  }
  return true;
}

describe('crash model through a real mount, with SIGKILL', () => {
  let dir: string;
  let cleanup: () => Promise<void>;

  beforeAll(async () => ({ dir, cleanup } = await tempDir('cairn-crash-mount-')));
  afterAll(async () => {
    await unmountAll();
    await cleanup();
  });

  it(`acknowledged changes survive every kill -9, files keep their st_ino, and the store checks clean (seed ${SEED}, ${ROUNDS} rounds)`, async () => {
    const random = new Random(SEED);
    const store = path.join(dir, 'store');
    const mnt = path.join(dir, 'mnt');
    const state = path.join(dir, 'state');
    const mirror = path.join(dir, 'mirror');
    await fs.mkdir(mirror);
    expect((await cairn(['init', store], env)).code).toBe(0);
    const start = () => mount(store, mnt, state, env, ['--snapshot-interval', '3s', '--snapshot-quiet', '1s']);
    let counter = 0;
    const files = () => [...shape(mirror).entries].filter(([, v]) => v.startsWith('file')).map(([k]) => k);
    const dirs = () => ['', ...[...shape(mirror).entries].filter(([, v]) => v.startsWith('dir')).map(([k]) => k)];
    const fresh = () => {
      const parent = random.pick(dirs());
      return parent ? `${parent}/f${counter++}` : `f${counter++}`;
    };
    /** Handles of open, unlinked files, in the mount and in the mirror. */
    let open: number[] = [];
    /** Folders holding them: libfuse keeps them there as .fuse_hidden… until closed (rmdir says ENOTEMPTY, as sshfs does). */
    const holdingOpen = new Set<string>();
    const rewrite = (target: string, data: Buffer): Step => ({
      name: `rewrite ${target} (${data.length} bytes)`, paths: [target], write: { path: target, data, truncate: true, offset: 0 },
      apply: (root) => fs.writeFile(path.join(root, target), data),
    });

    const nextStep = (): Step | null => {
      const existing = files();
      const r = random.int(100);
      const target = existing.length > 0 ? random.pick(existing) : null;
      if (r < 14 || !target) {
        const p = fresh();
        const data = random.bytes(random.size());
        return { name: `create ${p}`, paths: [p], write: { path: p, data, truncate: true, offset: 0 }, apply: (root) => fs.writeFile(path.join(root, p), data) };
      }
      if (r < 28) return rewrite(target, random.bytes(random.size()));
      if (r < 38) {
        const data = random.bytes(1 + random.int(70_000));
        const offset = random.int(lstatSync(path.join(mirror, target)).size + 1000);
        return {
          name: `patch ${target}@${offset}`, paths: [target], write: { path: target, data, truncate: false, offset },
          apply: async (root) => {
            const fd = await fs.open(path.join(root, target), 'r+');
            try {
              await fs.write(fd, data, offset);
              if (offset % 3 === 0) await fs.fsync(fd);
            } finally {
              await fs.close(fd);
            }
          },
        };
      }
      if (r < 44) {
        const data = random.bytes(1 + random.int(30_000));
        const offset = lstatSync(path.join(mirror, target)).size;
        return { name: `append ${target}`, paths: [target], write: { path: target, data, truncate: false, offset }, apply: (root) => fs.appendFile(path.join(root, target), data) };
      }
      if (r < 49) {
        const size = random.int(lstatSync(path.join(mirror, target)).size * 2 + 10);
        return { name: `truncate ${target} ${size}`, paths: [target], apply: (root) => fs.truncate(path.join(root, target), size) };
      }
      if (r < 57) {
        const over = random.chance(0.5) && existing.length > 1 ? random.pick(existing.filter((f) => f !== target)) : fresh();
        return { name: `rename ${target} -> ${over}`, paths: [target, over], apply: (root) => fs.rename(path.join(root, target), path.join(root, over)) };
      }
      if (r < 63) return { name: `unlink ${target}`, paths: [target], apply: (root) => fs.unlink(path.join(root, target)) };
      if (r < 67) {
        return {
          name: `unlink open ${target}`, paths: [target],
          apply: async (root) => {
            holdingOpen.add(path.dirname(target) === '.' ? '' : path.dirname(target));
            const fd = await fs.open(path.join(root, target), 'r+');
            open.push(fd);
            await fs.unlink(path.join(root, target));
            await fs.write(fd, Buffer.from('written after unlink'), 0);
          },
        };
      }
      if (r < 72) {
        const mode = random.pick([0o600, 0o640, 0o755, 0o444]);
        return { name: `chmod ${target} ${mode.toString(8)}`, paths: [target], apply: (root) => fs.chmod(path.join(root, target), mode) };
      }
      if (r < 77) {
        const p = fresh();
        return { name: `mkdir ${p}`, paths: [p], apply: (root) => fs.mkdir(path.join(root, p)) };
      }
      if (r < 80) {
        const empty = dirs().filter((d) => d && !holdingOpen.has(d) && readdirSync(path.join(mirror, d)).length === 0);
        if (empty.length === 0) return null;
        const d = random.pick(empty);
        return { name: `rmdir ${d}`, paths: [d], apply: (root) => fs.rmdir(path.join(root, d)) };
      }
      if (r < 87) {
        const p = fresh();
        return { name: `link ${target} ${p}`, paths: [target, p], apply: (root) => fs.link(path.join(root, target), path.join(root, p)) };
      }
      if (r < 91) {
        const p = fresh();
        const to = `../t${counter++}`;
        return { name: `symlink ${p}`, paths: [p], apply: (root) => fs.symlink(to, path.join(root, p)) };
      }
      return {
        name: `fsync ${target}`, paths: [],
        apply: async (root) => {
          const fd = await fs.open(path.join(root, target), 'r');
          try {
            await fs.fsync(fd);
          } finally {
            await fs.close(fd);
          }
        },
      };
    };

    const applyBoth = async (step: Step, m: RunningMount) => {
      await step.apply(m.mountpoint);
      await step.apply(mirror);
    };

    const closeOpen = async () => {
      for (const fd of open) await fs.close(fd).catch(() => undefined);
      open = [];
      holdingOpen.clear();
    };

    /**
     * After a kill with `step` in flight, the mount may show it not done or done; a write may
     * also be cut short, leaving each byte it covers as before or as written.
     */
    const settle = async (step: Step | null): Promise<string[]> => {
      const actual = shape(mnt);
      let diff = differences(shape(mirror), actual);
      if (diff.length === 0 || !step) return diff;
      const write = step.write;
      const mirrorFile = write && path.join(mirror, write.path);
      const before = mirrorFile && existsSync(mirrorFile) ? readFileSync(mirrorFile) : Buffer.alloc(0);
      await step.apply(mirror);
      diff = differences(shape(mirror), actual);
      if (diff.length === 0 || !write) return diff;
      const mounted = path.join(mnt, write.path);
      if (!existsSync(mounted)) return diff;
      const got = readFileSync(mounted);
      expect(partOfWrite(write, before, got), `the interrupted "${step.name}" left ${got.length} bytes that are neither before nor written`).toBe(true);
      await fs.writeFile(mirrorFile!, got);
      return differences(shape(mirror), actual);
    };

    let m = await start();
    let steps = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const count = 5 + random.int(30);
      for (let i = 0; i < count; i++) {
        const step = nextStep();
        if (!step) continue;
        await applyBoth(step, m);
        steps++;
        if (random.chance(0.05)) expect((await cairn(['snapshot', mnt], env)).code).toBe(0);
      }
      const before = shape(mnt);
      expect(differences(shape(mirror), before), `round ${round} before the kill`).toEqual([]);
      let inFlight: Step | null = null;
      const how = random.pick(['quiet', 'quiet', 'mid-write', 'mid-operation', 'during snapshot', 'during unmount']);
      switch (how) {
        case 'quiet':
          await new Promise((r) => setTimeout(r, random.int(4000)));
          await m.kill();
          break;
        case 'mid-write':
        case 'mid-operation': {
          const target = files()[0];
          inFlight = how === 'mid-write' && target ? rewrite(target, random.bytes(1_000_000 + random.int(2_000_000))) : nextStep();
          const pending = inFlight?.apply(mnt).catch(() => undefined);
          await new Promise((r) => setTimeout(r, random.int(how === 'mid-write' ? 60 : 5)));
          await m.kill();
          await pending;
          break;
        }
        case 'during snapshot': {
          const snap = cairn(['snapshot', mnt], env);
          await new Promise((r) => setTimeout(r, random.int(300)));
          await m.kill();
          await snap;
          break;
        }
        case 'during unmount': {
          await closeOpen(); // an open file would keep fusermount from unmounting
          const unmounting = run(process.execPath, [CLI, 'unmount', mnt], env);
          await new Promise((r) => setTimeout(r, random.int(600)));
          await m.kill();
          const result = await unmounting;
          // Killed before it saved: unmount must say so (exit 13), never "done".
          if (result.code !== 0) expect(result.code, result.stderr).toBe(13);
          break;
        }
      }
      await closeOpen();
      m = await start();
      const diff = await settle(inFlight);
      expect(diff, `seed ${SEED} round ${round}: after a kill ${how}${inFlight ? ` with "${inFlight.name}" in flight` : ''}\n${m.log()}`).toEqual([]);
      const after = shape(mnt);
      for (const [p, ino] of before.inos) {
        if (inFlight?.paths.includes(p) || !after.inos.has(p)) continue;
        expect(after.inos.get(p), `st_ino of ${p} after the kill`).toBe(ino);
      }
    }
    expect(steps).toBeGreaterThan(ROUNDS * 5);
    expect(await m.unmount()).toBe(0);
    const check = await cairn(['check', store, '--read-data'], env);
    expect(check.stdout + check.stderr).toMatch(/no errors/);
    expect(check.code).toBe(0);
  }, Math.max(900_000, ROUNDS * 60_000));
});
