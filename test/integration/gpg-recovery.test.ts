/**
 * The promise of docs/FORMAT.md: with stock GnuPG and the format document, a user recovers
 * the master key and then any file, without cairn. This test follows the document step by
 * step using only gpg, Node's HKDF/SHA-256, the reference XChaCha20-Poly1305 (@noble) and
 * Debian's zstd command for compressed blobs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, hkdfSync, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { LocalBackend } from '../../src/backend/local.js';
import { archiveDirectory } from '../../src/repository/archiver.js';
import { Repository } from '../../src/repository/repository.js';
import { cairn, run } from '../helpers/cli.js';
import { mount } from '../helpers/mount.js';
import { passphrase, tempDir } from '../helpers/store.js';

function openBox(key: Uint8Array, box: Uint8Array, aad: Uint8Array): Buffer {
  return Buffer.from(xchacha20poly1305(key, box.subarray(0, 24), aad).decrypt(box.subarray(24)));
}

describe('recovery with stock GnuPG and docs/FORMAT.md alone', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let store: string;
  const secret = 'recover me, 2026';
  const fileContent = randomBytes(3 * 1024 * 1024 + 777);
  const letter = Buffer.from('Dear tax office, please find my return attached.\n'.repeat(5000));

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir());
    store = path.join(dir, 'store');
    await fs.writeFile(path.join(dir, 'pw'), `${secret}\n`);
    await fs.mkdir(path.join(dir, 'gnupg'), { mode: 0o700 });
    const init = await cairn(['init', store, '--password-file', path.join(dir, 'pw')]);
    expect(init.code).toBe(0);
    const source = path.join(dir, 'source');
    await fs.mkdir(source);
    await fs.writeFile(path.join(source, 'tax.pdf'), fileContent);
    await fs.link(path.join(source, 'tax.pdf'), path.join(source, 'tax-link.pdf'));
    await fs.writeFile(path.join(source, 'letter.txt'), letter);
    const repo = await Repository.open(new LocalBackend(store), passphrase(secret));
    const { tree, stats, nextFileId } = await archiveDirectory(repo, source);
    await repo.saveSnapshot({ tree, stats, nextFileId });
    await repo.close();
  });
  afterAll(async () => cleanup());

  const gpgDecrypt = (file: string, passphraseFile: string) =>
    run('gpg', ['--homedir', path.join(dir, 'gnupg'), '--batch', '--quiet', '--pinentry-mode', 'loopback', '--passphrase-file', passphraseFile, '--decrypt', file]);

  /** Steps 1-4 of FORMAT.md: config, the key slot by gpg, the keys, the snapshots (oldest first), the index, and a blob reader. */
  async function readByTheDocument() {
    // 1. config: repository id.
    const config = JSON.parse(await fs.readFile(path.join(store, 'config'), 'utf8'));
    expect(config.magic).toBe('cairn-repository');
    const repoId = Buffer.from(config.id, 'hex');

    // 2. keys/<id> with gpg: the master key.
    const [slot] = await fs.readdir(path.join(store, 'keys'));
    const gpg = await gpgDecrypt(path.join(store, 'keys', slot!), path.join(dir, 'pw'));
    expect(gpg.code, gpg.stderr).toBe(0);
    const payload = JSON.parse(gpg.stdout);
    expect(payload.repository).toBe(config.id);
    const master = Buffer.from(payload.masterKey, 'hex');

    // 3. Working keys by HKDF-SHA256(master, salt = repository id, info).
    const encryptionKey = new Uint8Array(hkdfSync('sha256', master, repoId, 'cairn v1 encryption', 32));

    // 4. The snapshot, its root tree via the index, then the file's chunks.
    const snapshots: { seq: number; tree: string; version: number; nextFileId: number }[] = [];
    for (const snapName of await fs.readdir(path.join(store, 'snapshots'))) {
      const snapBytes = await fs.readFile(path.join(store, 'snapshots', snapName));
      expect(createHash('sha256').update(snapBytes).digest('hex')).toBe(snapName);
      snapshots.push(JSON.parse(openBox(encryptionKey, snapBytes, Buffer.from('cairn/snapshot/v1')).toString()));
    }
    snapshots.sort((a, b) => a.seq - b.seq);

    const locations = new Map<string, { pack: string; encoding: number; offset: number; length: number; blobLength: number }>();
    for (const name of await fs.readdir(path.join(store, 'index'))) {
      const plain = openBox(encryptionKey, await fs.readFile(path.join(store, 'index', name)), Buffer.from('cairn/index/v1'));
      // version u8 (2), superseded u32 + ids, packs u32; per pack: id(32) count u32;
      // per blob: type u8, encoding u8, id(32), offset u32, box length u32, blob length u32.
      expect(plain[0]).toBe(2);
      let at = 1;
      at += 4 + 32 * plain.readUInt32LE(at);
      const packs = plain.readUInt32LE(at);
      at += 4;
      for (let p = 0; p < packs; p++) {
        const pack = plain.subarray(at, at + 32).toString('hex');
        const count = plain.readUInt32LE(at + 32);
        at += 36;
        for (let b = 0; b < count; b++) {
          locations.set(plain.subarray(at + 2, at + 34).toString('hex'), {
            pack, encoding: plain[at + 1]!, offset: plain.readUInt32LE(at + 34), length: plain.readUInt32LE(at + 38), blobLength: plain.readUInt32LE(at + 42),
          });
          at += 46;
        }
      }
    }
    const encodings = new Set<number>();
    const readBlob = async (id: string, typeCode: number) => {
      const loc = locations.get(id)!;
      encodings.add(loc.encoding);
      const packFile = await fs.readFile(path.join(store, 'data', loc.pack.slice(0, 2), loc.pack));
      expect(createHash('sha256').update(packFile).digest('hex')).toBe(loc.pack);
      // Associated data: prefix, type, id, and the encoding byte when it is not 0 (raw).
      const aad = Buffer.concat([Buffer.from('cairn/blob/v1'), Buffer.from([typeCode]), Buffer.from(id, 'hex'), Buffer.from(loc.encoding === 0 ? [] : [loc.encoding])]);
      const stored = openBox(encryptionKey, packFile.subarray(loc.offset, loc.offset + loc.length), aad);
      if (loc.encoding === 0) return stored;
      // Encoding 1: one zstd frame; stock zstd decompresses it.
      expect(loc.encoding).toBe(1);
      const frame = path.join(dir, `${id}.zst`);
      await fs.writeFile(frame, stored);
      const unzstd = await run('zstd', ['-d', '-q', '-f', frame, '-o', `${frame}.out`]);
      expect(unzstd.code, unzstd.stderr).toBe(0);
      const blob = await fs.readFile(`${frame}.out`);
      expect(blob.length).toBe(loc.blobLength);
      return blob;
    };
    return { encryptionKey, snapshots, locations, encodings, readBlob };
  }

  it('decrypts the key slot with gpg, then a snapshot, its tree and a file by the documented constructions', async () => {
    const { encryptionKey, snapshots, locations, encodings, readBlob } = await readByTheDocument();
    const snapshot = snapshots[0]!;
    const tree = JSON.parse((await readBlob(snapshot.tree, 1)).toString());
    const node = tree.nodes.find((n: { name: string }) => n.name === 'tax.pdf');
    // Format 2 ("File ids"): the names of one hard-linked file share one id, below nextFileId.
    const link = tree.nodes.find((n: { name: string }) => n.name === 'tax-link.pdf');
    expect(tree.version).toBe(2);
    expect([node.fileId, node.links]).toEqual([link.fileId, 2]);
    expect(snapshot.version).toBe(2);
    expect(snapshot.nextFileId).toBeGreaterThan(node.fileId);
    const chunks = await Promise.all(node.content.map((id: string) => readBlob(id, 0)));
    expect(Buffer.concat(chunks).equals(fileContent)).toBe(true);
    const letterNode = tree.nodes.find((n: { name: string }) => n.name === 'letter.txt');
    const letterChunks = await Promise.all(letterNode.content.map((id: string) => readBlob(id, 0)));
    expect(Buffer.concat(letterChunks).equals(letter)).toBe(true);
    // The tree and the letter were compressed, the random file was not: both ways were read.
    expect([...encodings].sort()).toEqual([0, 1]);

    // 5. Every pack's own header (FORMAT.md "Pack files"): the trailer gives the sealed
    // header's length; version 2 entries list what the index says, box after box.
    for (const pack of new Set([...locations.values()].map((l) => l.pack))) {
      const packFile = await fs.readFile(path.join(store, 'data', pack.slice(0, 2), pack));
      expect(createHash('sha256').update(packFile).digest('hex')).toBe(pack);
      const headerLength = packFile.readUInt32LE(packFile.length - 4);
      const header = openBox(encryptionKey, packFile.subarray(packFile.length - 4 - headerLength, packFile.length - 4), Buffer.from('cairn/pack-header/v1'));
      expect(header[0]).toBe(2);
      const count = header.readUInt32LE(1);
      expect(header.length).toBe(5 + 42 * count);
      let offset = 0;
      for (let k = 0; k < count; k++) {
        const e = 5 + 42 * k;
        const id = header.subarray(e + 2, e + 34).toString('hex');
        const length = header.readUInt32LE(e + 34);
        expect(locations.get(id)).toEqual({ pack, encoding: header[e + 1], offset, length, blobLength: header.readUInt32LE(e + 38) });
        offset += length;
      }
      expect(offset + headerLength + 4).toBe(packFile.length);
    }
  });

  it('reads, the same way, files written through a mount: streamed in steps on its blob thread, packs named there', async () => {
    const mnt = path.join(dir, 'mnt');
    await fs.mkdir(mnt);
    const big = randomBytes(13 * 1024 * 1024 + 12345);
    const text = Buffer.from('Line of a log file that compresses well, number '.repeat(150_000));
    const m = await mount(store, mnt, path.join(dir, 'state'), { CAIRN_PASSWORD: secret });
    try {
      await fs.writeFile(path.join(dir, 'big.bin'), big);
      const dd = await run('dd', [`if=${path.join(dir, 'big.bin')}`, `of=${path.join(mnt, 'streamed.bin')}`, 'bs=1M', 'status=none']);
      expect(dd.code, dd.stderr).toBe(0);
      await fs.writeFile(path.join(mnt, 'log.txt'), text);
    } finally {
      await m.unmount();
    }
    const { snapshots, readBlob, encodings } = await readByTheDocument();
    const newest = snapshots.at(-1)!;
    const tree = JSON.parse((await readBlob(newest.tree, 1)).toString());
    for (const [name, content] of [['streamed.bin', big], ['log.txt', text]] as const) {
      const node = tree.nodes.find((n: { name: string }) => n.name === name);
      expect(node.content.length, name).toBeGreaterThan(name === 'log.txt' ? 0 : 3); // 4 MiB steps: several for the big one
      const chunks = await Promise.all(node.content.map((id: string) => readBlob(id, 0)));
      expect(Buffer.concat(chunks).equals(content), name).toBe(true);
    }
    expect([...encodings].sort()).toEqual([0, 1]); // the log's chunks were compressed, the random ones not
  }, 120_000);

  it('opens a key-file slot with gpg using sha256sum of the key file as the passphrase', async () => {
    const keyfile = path.join(dir, 'usb.key');
    await fs.writeFile(keyfile, randomBytes(4096));
    const added = await cairn(['key', 'add', store, '--password-file', path.join(dir, 'pw'), '--new-keyfile', keyfile]);
    expect(added.code, added.stderr).toBe(0);
    const slotId = added.stdout.match(/added key slot ([0-9a-f]+)/)![1]!;
    const slot = (await fs.readdir(path.join(store, 'keys'))).find((n) => n.startsWith(slotId))!;
    const hashed = path.join(dir, 'keyfile-passphrase');
    const sha = await run('sha256sum', [keyfile]);
    await fs.writeFile(hashed, sha.stdout.slice(0, 64));
    const gpg = await gpgDecrypt(path.join(store, 'keys', slot), hashed);
    expect(gpg.code, gpg.stderr).toBe(0);
    expect(JSON.parse(gpg.stdout).masterKey).toMatch(/^[0-9a-f]{64}$/);
  });
});
