/**
 * Bad input through the real CLI: each case must give a clear message, a distinct exit code,
 * and lose nothing. Damage to every kind of stored object is named by `check --read-data`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { EXIT, exitCodeFor } from '../../src/cli/exit-codes.js';
import { CairnError } from '../../src/errors/errors.js';
import { FORMAT_VERSION } from '../../src/format/config.js';
import { LocalBackend } from '../../src/backend/local.js';
import { archiveDirectory } from '../../src/repository/archiver.js';
import { Repository } from '../../src/repository/repository.js';
import { cairn } from '../helpers/cli.js';
import { mount, unmountAll } from '../helpers/mount.js';
import { passphrase, tempDir } from '../helpers/store.js';

describe('cairn CLI with bad input', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let pristine: string;
  const pw = 'a long enough passphrase';
  const auth = { CAIRN_PASSWORD: pw };

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir());
    pristine = path.join(dir, 'pristine');
    expect((await cairn(['init', pristine], auth)).code).toBe(0);
    const source = path.join(dir, 'source');
    await fs.mkdir(path.join(source, 'sub'), { recursive: true });
    await fs.writeFile(path.join(source, 'a.txt'), 'hello');
    await fs.writeFile(path.join(source, 'sub', 'b.bin'), randomBytes(2 * 1024 * 1024));
    await fs.symlink('a.txt', path.join(source, 'link'));
    const repo = await Repository.open(new LocalBackend(pristine), passphrase(pw));
    const { tree, stats, nextFileId } = await archiveDirectory(repo, source);
    await repo.saveSnapshot({ tree, stats, nextFileId });
    await repo.saveSnapshot({ tree, stats, nextFileId, tags: ['again'] });
    await repo.close();
  });
  afterAll(async () => {
    await unmountAll();
    await cleanup();
  });

  /** A copy of the pristine store to damage. */
  async function copyStore(name: string): Promise<string> {
    const target = path.join(dir, name);
    await fs.cp(pristine, target, { recursive: true });
    return target;
  }

  async function passwordFile(secret: string): Promise<string> {
    const file = path.join(dir, `secret-${randomBytes(4).toString('hex')}`);
    await fs.writeFile(file, `${secret}\n`, { mode: 0o600 });
    return file;
  }

  async function flipByte(file: string, at: (size: number) => number) {
    const bytes = await fs.readFile(file);
    bytes[at(bytes.length)]! ^= 0x40;
    await fs.writeFile(file, bytes);
  }

  async function objects(store: string, kind: string): Promise<string[]> {
    if (kind !== 'data') return (await fs.readdir(path.join(store, kind))).map((n) => path.join(store, kind, n));
    const files: string[] = [];
    for (const sub of await fs.readdir(path.join(store, 'data'))) {
      for (const n of await fs.readdir(path.join(store, 'data', sub))) files.push(path.join(store, 'data', sub, n));
    }
    return files;
  }

  it('prints its version (the package\'s) without loading any command', async () => {
    const pkg = JSON.parse(await fs.readFile(path.resolve('package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const r = await cairn([flag], {});
      expect(r.code).toBe(EXIT.ok);
      expect(r.stdout.trim()).toBe(pkg.version);
    }
  });

  it('lists snapshots with a good passphrase', async () => {
    const r = await cairn(['snapshots', pristine], auth);
    expect(r.code).toBe(EXIT.ok);
    expect(r.stdout).toMatch(/2 snapshot\(s\)/);
    expect(r.stdout).toMatch(/again/);
  });

  it('refuses a wrong passphrase with exit code 3 and a clear message', async () => {
    const r = await cairn(['snapshots', pristine], { CAIRN_PASSWORD: 'not it' });
    expect(r.code).toBe(EXIT.wrongKey);
    expect(r.stderr).toMatch(/no key slot .* opens with this passphrase/);
  });

  it('refuses a wrong key file with exit code 3', async () => {
    const keyfile = path.join(dir, 'random.key');
    await fs.writeFile(keyfile, randomBytes(64));
    const r = await cairn(['snapshots', pristine, '--keyfile', keyfile]);
    expect(r.code).toBe(EXIT.wrongKey);
    expect(r.stderr).toMatch(/key file/);
  });

  it('fails without a terminal and without a secret, saying how to give one', async () => {
    const r = await cairn(['snapshots', pristine]);
    expect(r.code).toBe(EXIT.usage);
    expect(r.stderr).toMatch(/--password-file/);
  });

  it('names a missing repository with exit code 10', async () => {
    const r = await cairn(['check', path.join(dir, 'nowhere')], auth);
    expect(r.code).toBe(EXIT.noRepository);
    expect(r.stderr).toMatch(/no cairn repository/);
  });

  it('refuses init over a repository or a non-empty folder, touching nothing (exit 8)', async () => {
    const before = await fs.readFile(path.join(pristine, 'config'));
    const r = await cairn(['init', pristine], auth);
    expect(r.code).toBe(EXIT.exists);
    expect(r.stderr).toMatch(/already a cairn repository/);
    expect((await fs.readFile(path.join(pristine, 'config'))).equals(before)).toBe(true);
    const folder = path.join(dir, 'photos');
    await fs.mkdir(folder);
    await fs.writeFile(path.join(folder, 'cat.jpg'), 'meow');
    const r2 = await cairn(['init', folder], auth);
    expect(r2.code).toBe(EXIT.exists);
    expect(await fs.readdir(folder)).toEqual(['cat.jpg']);
  });

  it('refuses a repository of a newer format version (exit 7)', async () => {
    const store = await copyStore('future');
    const config = JSON.parse(await fs.readFile(path.join(store, 'config'), 'utf8'));
    await fs.writeFile(path.join(store, 'config'), JSON.stringify({ ...config, version: FORMAT_VERSION + 1 }));
    const r = await cairn(['snapshots', store], auth);
    expect(r.code).toBe(EXIT.unsupportedVersion);
    expect(r.stderr).toMatch(new RegExp(`format version ${FORMAT_VERSION + 1}.*upgrade cairn`, 's'));
  });

  it('passes check --read-data on the undamaged store', async () => {
    const r = await cairn(['check', pristine, '--read-data'], auth);
    expect(r.stdout).toMatch(/no errors: every byte verified/);
    expect(r.code).toBe(EXIT.ok);
    const json = await cairn(['check', pristine, '--read-data', '--json'], auth);
    expect(json.code).toBe(EXIT.ok);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: true, readData: true, errors: 0, problems: [], counts: { snapshots: 2 } });
    const slots = JSON.parse((await cairn(['key', 'list', pristine, '--json'])).stdout) as { id: string; kdf: string; damaged: boolean }[];
    expect(slots).toEqual([{
      id: expect.stringMatching(/^[0-9a-f]{64}$/), damaged: false, kind: 'passphrase', kdf: 'iterated',
      created: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), host: expect.any(String), label: null, recipient: null,
    }]);
  });

  for (const kind of ['data', 'index', 'snapshots'] as const) {
    for (const where of ['start', 'middle', 'end'] as const) {
      it(`names a ${kind} object with a byte flipped at its ${where} (exit 6)`, async () => {
        const store = await copyStore(`flip-${kind}-${where}`);
        const victims = await objects(store, kind);
        const victim = victims[Math.floor(Math.random() * victims.length)]!;
        await flipByte(victim, (n) => (where === 'start' ? 0 : where === 'middle' ? n >> 1 : n - 1));
        const r = await cairn(['check', store, '--read-data'], auth);
        expect(r.code).toBe(EXIT.corrupt);
        expect(r.stdout).toContain(path.basename(victim));
        expect(r.stderr).toMatch(/check found \d+ error/);
        // The same for monitoring: one JSON object naming the object, and the same exit code.
        const json = await cairn(['check', store, '--read-data', '--json'], auth);
        expect(json.code).toBe(EXIT.corrupt);
        const report = JSON.parse(json.stdout) as { ok: boolean; errors: number; problems: { severity: string; object: string }[] };
        expect(report.ok).toBe(false);
        expect(report.errors).toBeGreaterThan(0);
        expect(report.problems.some((p) => p.severity === 'error' && p.object.includes(path.basename(victim)))).toBe(true);
      });
    }
  }

  // The rest of the tampering matrix: each kind of object cut short, swapped with another of
  // its kind, and deleted. check --read-data fails (exit 6) and names the object, with two
  // limits no store format can pass without outside knowledge: deleting the newest snapshot
  // (a rollback; an older one is named as missing from the chain) and deleting the slot a
  // passphrase opens (the passphrase then opens nothing: exit 3, other slots still work).
  for (const kind of ['data', 'index', 'snapshots', 'keys'] as const) {
    for (const change of ['truncated', 'swapped', 'deleted'] as const) {
      it(`names a ${kind} object ${change} (exit 6)`, async () => {
        const store = await copyStore(`${change}-${kind}`);
        const second = await passwordFile('the second slot');
        if (kind === 'keys') expect((await cairn(['key', 'add', store, '--new-password-file', second], auth)).code).toBe(0);
        if (kind === 'index') {
          // A second index file: a backup of one more file into the store.
          const more = path.join(dir, `more-${change}`);
          await fs.mkdir(more, { recursive: true });
          await fs.writeFile(path.join(more, 'c.bin'), randomBytes(100_000));
          expect((await cairn(['backup', store, more, 'more'], auth)).code).toBe(0);
        }
        let victims = (await objects(store, kind)).sort();
        if (kind === 'snapshots') {
          const repo = await Repository.open(new LocalBackend(store), passphrase(pw), { skipIndex: true });
          victims = (await repo.listSnapshots()).map((s) => path.join(store, 'snapshots', s.id)); // oldest first
        }
        expect(victims.length).toBeGreaterThanOrEqual(2);
        const [victim, other] = victims as [string, string];
        if (change === 'truncated') await fs.truncate(victim, Math.floor((await fs.stat(victim)).size / 2));
        if (change === 'deleted') await fs.rm(victim);
        if (change === 'swapped') {
          const bytes = await fs.readFile(victim);
          await fs.writeFile(victim, await fs.readFile(other));
          await fs.writeFile(other, bytes);
        }
        const r = await cairn(['check', store, '--read-data'], auth);
        const said = r.stdout + r.stderr;
        if (kind === 'keys' && change === 'deleted') {
          expect((await cairn(['key', 'list', store, '--json'])).stdout).not.toContain(path.basename(victim));
          // The deleted slot's passphrase opens nothing now (exit 3); the other one still opens it.
          const withSecond = await cairn(['check', store, '--read-data', '--password-file', second]);
          expect([r.code, withSecond.code].sort()).toEqual([EXIT.ok, EXIT.wrongKey]);
          return;
        }
        expect(r.code, said).toBe(EXIT.corrupt);
        if (kind === 'index' && change === 'deleted') expect(said).toContain('cairn repair index');
        // Named in full by check, or by its first 12 digits when the slot a passphrase needs is damaged.
        else expect(said).toContain(kind === 'snapshots' && change === 'deleted' ? 'snapshot #1: missing from the chain' : path.basename(victim).slice(0, 12));
        if (kind === 'keys') {
          const slots = JSON.parse((await cairn(['key', 'list', store, '--json'])).stdout) as { id: string; damaged: boolean }[];
          const expected = change === 'swapped' ? [victim, other] : [victim];
          expect(slots.filter((slot) => slot.damaged).map((slot) => slot.id).sort()).toEqual(expected.map((f) => path.basename(f)).sort());
        }
      });
    }
  }

  it('ignores older copies put back: a forgotten snapshot and the index files prune replaced, each named by check', async () => {
    const store = await copyStore('put-back');
    // A snapshot with data of its own, then one without it: forgetting the first lets prune
    // delete that data and rewrite the index.
    const extra = path.join(dir, 'put-back-extra');
    await fs.mkdir(extra, { recursive: true });
    await fs.writeFile(path.join(extra, 'only-here.bin'), randomBytes(300_000));
    expect((await cairn(['backup', store, extra, 'extra'], auth)).code).toBe(0);
    await fs.rm(path.join(extra, 'only-here.bin'));
    expect((await cairn(['backup', store, extra, 'extra'], auth)).code).toBe(0);
    const repo = await Repository.open(new LocalBackend(store), passphrase(pw));
    const withExtra = (await repo.listSnapshots()).at(-2)!;
    const snapshotCopy = await fs.readFile(path.join(store, 'snapshots', withExtra.id));
    const indexCopies = await Promise.all((await objects(store, 'index')).map(async (f) => ({ f, bytes: await fs.readFile(f) })));
    expect((await cairn(['forget', store, withExtra.id, '--prune'], auth)).code).toBe(0);
    const indexAfterPrune = await objects(store, 'index');
    expect(indexCopies.every(({ f }) => !indexAfterPrune.includes(f))).toBe(true); // prune replaced them all

    await fs.writeFile(path.join(store, 'snapshots', withExtra.id), snapshotCopy);
    for (const { f, bytes } of indexCopies) await fs.writeFile(f, bytes);
    const list = await cairn(['snapshots', store, '--json'], auth);
    expect(list.code).toBe(EXIT.ok);
    expect(list.stdout).not.toContain(withExtra.id);
    const check = await cairn(['check', store, '--read-data'], auth);
    const said = check.stdout + check.stderr;
    expect(check.code, said).toBe(EXIT.ok); // nothing is lost or wrong: warnings only
    expect(said).toMatch(new RegExp(`snapshots/${withExtra.id}: forgotten but still present`));
    for (const { f } of indexCopies) expect(said).toMatch(new RegExp(`index/${path.basename(f)}: superseded`));
    expect((await cairn(['cat', store, 'latest', 'a.txt'], auth)).stdout).toBe('hello');
  });

  it('names a deleted snapshot in the middle of the chain', async () => {
    const store = await copyStore('rollback');
    const repo = await Repository.open(new LocalBackend(store), passphrase(pw));
    const [first, second] = await repo.listSnapshots();
    const { tree, stats, nextFileId } = await archiveDirectory(repo, path.join(dir, 'source'));
    await repo.saveSnapshot({ tree, stats, nextFileId });
    await fs.rm(path.join(store, 'snapshots', second!.id));
    const r = await cairn(['check', store], auth);
    expect(r.code).toBe(EXIT.corrupt);
    expect(r.stdout).toMatch(/snapshot #2: missing from the chain/);
    expect(first).toBeDefined();
  });

  it('reads past a damaged snapshot and a foreign index file, naming them; a writer refuses and says how to read the rest', async () => {
    const store = await copyStore('one-bad-snapshot');
    const repo = await Repository.open(new LocalBackend(store), passphrase(pw));
    const [first, second] = await repo.listSnapshots();
    await flipByte(path.join(store, 'snapshots', first!.id), (n) => n >> 1);
    // A file someone put there under a name of the right shape (restic and borg go on too).
    const foreign = randomBytes(32).toString('hex');
    await fs.writeFile(path.join(store, 'index', foreign), randomBytes(300));

    const list = await cairn(['snapshots', store], auth);
    expect(list.code).toBe(EXIT.corrupt);
    expect(list.stdout).toContain(second!.id.slice(0, 12));
    expect(list.stdout).not.toContain(first!.id.slice(0, 12));
    expect(list.stdout).toMatch(/^1 snapshot\(s\)$/m);
    expect(list.stderr).toContain(`left out snapshots/${first!.id}`);
    expect(list.stderr).toContain(`left out index/${foreign}`);
    expect(list.stderr).toMatch(/cairn check/);

    const check = await cairn(['check', store], auth);
    expect(check.code).toBe(EXIT.corrupt);
    expect(check.stdout).toContain(first!.id);

    const mnt = path.join(dir, 'mnt-damaged');
    await fs.mkdir(mnt);
    const writer = await cairn(['mount', store, mnt, '--state-dir', path.join(dir, 'state-damaged')], auth);
    expect(writer.code).toBe(EXIT.corrupt);
    expect(writer.stderr).toMatch(/is damaged/);
    expect(writer.stderr).toMatch(/--read-only/);

    const reader = await mount(store, mnt, path.join(dir, 'state-damaged-ro'), auth, ['--read-only']);
    try {
      expect(reader.log()).toContain(`left out snapshots/${first!.id}`);
      expect(await fs.readFile(path.join(mnt, 'a.txt'), 'utf8')).toBe('hello');
      const views = (await fs.readdir(path.join(mnt, '.snapshots'))).filter((n) => n !== 'latest');
      expect(views).toHaveLength(1);
      expect(await fs.readFile(path.join(mnt, '.snapshots', views[0]!, 'sub', 'b.bin'))).toHaveLength(2 * 1024 * 1024);
    } finally {
      expect(await reader.unmount()).toBe(0);
    }
  });

  it('repair index rebuilds a damaged or lost index from the packs, so writers can go on; a dry run changes nothing', async () => {
    const store = await copyStore('bad-index');
    const indexFiles = await objects(store, 'index');
    expect(indexFiles.length).toBeGreaterThan(0);
    for (const file of indexFiles) await flipByte(file, (n) => n >> 1);
    await fs.mkdir(path.join(dir, 'mnt-bad-index'));
    const writer = await cairn(['mount', store, path.join(dir, 'mnt-bad-index'), '--state-dir', path.join(dir, 'state-bad-index')], auth);
    expect(writer.code).toBe(EXIT.corrupt);
    expect(writer.stderr).toContain('cairn repair index');

    const dry = await cairn(['repair', 'index', store, '--dry-run'], auth);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain(`${indexFiles.length} damaged`);
    expect(dry.stdout).toMatch(/dry run: nothing changed/);
    expect((await objects(store, 'index')).sort()).toEqual(indexFiles.sort());

    const fixed = await cairn(['repair', 'index', store, '--json'], auth);
    expect(fixed.code, fixed.stderr).toBe(0);
    const report = JSON.parse(fixed.stdout);
    expect(report).toMatchObject({ dryRun: false, complete: false, damagedIndexFiles: indexFiles.map((f) => `index/${path.basename(f)}`).sort() });
    expect(report.damagedIndexFiles.sort()).toEqual(indexFiles.map((f) => `index/${path.basename(f)}`).sort());
    expect(report.packsReindexed).toBe((await objects(store, 'data')).length);
    const check = await cairn(['check', store, '--read-data'], auth);
    expect(check.code, check.stdout + check.stderr).toBe(0);
    const cat = await cairn(['cat', store, 'latest', 'a.txt'], auth);
    expect(cat.stdout).toBe('hello');
    const again = await cairn(['repair', 'index', store], auth);
    expect(again.stdout).toContain('the index is complete: nothing to repair');
    const writerAfter = await mount(store, path.join(dir, 'mnt-bad-index'), path.join(dir, 'state-bad-index'), auth);
    await fs.writeFile(path.join(dir, 'mnt-bad-index', 'after-repair.txt'), 'written');
    expect(await writerAfter.unmount()).toBe(0);
    expect((await cairn(['cat', store, 'latest', 'after-repair.txt'], auth)).stdout).toBe('written');

    // A lost pack: its entries go, so that no writer dedups against blobs that are gone.
    const lost = await copyStore('repair-lost-pack');
    await fs.rm((await objects(lost, 'data'))[0]!);
    const dropped = await cairn(['repair', 'index', lost, '--json'], auth);
    expect(dropped.code, dropped.stderr).toBe(0);
    expect(JSON.parse(dropped.stdout).missingPacks).toHaveLength(1);
    const stillDamaged = await cairn(['check', lost], auth);
    expect(stillDamaged.code).toBe(EXIT.corrupt); // the snapshots that needed it are named
  });

  it('names a deleted pack and a swapped pair of packs', async () => {
    const store = await copyStore('missing-pack');
    const packs = await objects(store, 'data');
    await fs.rm(packs[0]!);
    const r = await cairn(['check', store], auth);
    expect(r.code).toBe(EXIT.corrupt);
    expect(r.stdout).toContain(`${path.basename(packs[0]!)}: missing`);

    const swapped = await copyStore('swapped-pack');
    const [a, b] = await objects(swapped, 'data');
    const aBytes = await fs.readFile(a!);
    await fs.writeFile(a!, await fs.readFile(b!));
    await fs.writeFile(b!, aBytes);
    const r2 = await cairn(['check', swapped, '--read-data'], auth);
    expect(r2.code).toBe(EXIT.corrupt);
    expect(r2.stdout).toContain(path.basename(a!));
  });

  it('reports a damaged key slot as damaged, not as a wrong passphrase', async () => {
    const store = await copyStore('bad-slot');
    const [slot] = await objects(store, 'keys');
    await flipByte(slot!, (n) => n - 5);
    const r = await cairn(['snapshots', store], auth);
    expect(r.code).toBe(EXIT.corrupt);
    expect(r.stderr).toMatch(/key slot.*damaged/);
  });

  it('says a config whose id was changed belongs to another repository than its key slots (exit 6)', async () => {
    const store = await copyStore('other-id');
    const config = JSON.parse(await fs.readFile(path.join(store, 'config'), 'utf8'));
    await fs.writeFile(path.join(store, 'config'), JSON.stringify({ ...config, id: 'ab'.repeat(32) }));
    const r = await cairn(['snapshots', store], auth);
    expect(r.code).toBe(EXIT.corrupt);
    expect(r.stderr).toMatch(/belongs to another repository/);
    expect(r.stderr).not.toMatch(/every key slot .* is damaged/);
  });

  it('calls a pack the index names but the store lost damage (CORRUPT, exit 6), naming it, never "no repository"', async () => {
    const store = await copyStore('lost-pack');
    const repo = await Repository.open(new LocalBackend(store), passphrase(pw));
    const [snap] = await repo.listSnapshots();
    const root = await repo.loadTree(snap!.snapshot.tree);
    const file = root.nodes.find((n) => n.type === 'file' && (n.content?.length ?? 0) > 0)!;
    const packId = repo.index.lookup(file.content![0]!)!.packId;
    await fs.rm(path.join(store, 'data', packId.slice(0, 2), packId));
    const fresh = await Repository.open(new LocalBackend(store), passphrase(pw));
    const failure = await fresh.loadBlob('data', file.content![0]!).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(CairnError);
    expect((failure as CairnError).code).toBe('CORRUPT');
    expect((failure as CairnError).message).toContain(`data/${packId.slice(0, 2)}/${packId} is missing from the store`);
    expect(exitCodeFor((failure as CairnError).code)).toBe(EXIT.corrupt);
  });
});
