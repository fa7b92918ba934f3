/**
 * Restore past a chunk whose box authenticates but whose zstd frame does not decode (a
 * writer bug, or damage made with the key): the writer thread decodes chunks, so this is
 * its damage path, apart from the main thread's (a box that does not open, in
 * test/mount/restore-inspect.test.ts). The file is named, restored with zeros there and
 * intact around it; the other files are intact; exit 6.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { LocalBackend } from '../../src/backend/local.js';
import { EXIT } from '../../src/cli/exit-codes.js';
import { toHex } from '../../src/format/bytes.js';
import { sealBlob } from '../../src/format/sealed.js';
import type { TreeNode } from '../../src/format/tree.js';
import { Repository } from '../../src/repository/repository.js';
import { cairn } from '../helpers/cli.js';
import { passphrase, tempDir } from '../helpers/store.js';

const pw = 'a long enough passphrase';

const fileNode = (name: string, content: string[], size: number, fileId: number): TreeNode => ({
  name, type: 'file', mode: 0o644, uid: 0, gid: 0, size, links: 1, fileId, content,
  mtimeNs: 1_732_280_000_123_456_789n, atimeNs: 1_732_280_000_000_000_001n, ctimeNs: 1_732_280_001_999_999_999n,
});

describe('restore past a chunk that opens but does not decode', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => ({ dir, cleanup } = await tempDir()));
  afterAll(() => cleanup());

  it('names the file, restores zeros in that chunk and every other byte, and exits 6', async () => {
    const store = path.join(dir, 'store');
    expect((await cairn(['init', store], { CAIRN_PASSWORD: pw })).code).toBe(0);
    const repo = await Repository.open(new LocalBackend(store), passphrase(pw));
    const first = randomBytes(300_000);
    const last = randomBytes(200_000);
    const firstId = (await repo.saveBlob('data', first)).id;
    const lastId = (await repo.saveBlob('data', last)).id;
    // Sealed with the repository's key, so it authenticates; its payload is no zstd frame.
    const badId = randomBytes(32);
    const notAFrame = Buffer.from('this is not a zstd frame '.repeat(40));
    await repo.saveSealedBlob('data', toHex(badId), { sealed: sealBlob(repo.keys.encryption, 'data', badId, notAFrame, 'zstd'), encoding: 'zstd', plainLength: 5_000 });
    const tree = await repo.saveTree({ nodes: [fileNode('hurt.bin', [firstId, toHex(badId), lastId], 505_000, 1), fileNode('whole.bin', [lastId], 200_000, 2)] });
    await repo.saveSnapshot({ tree: tree.id, stats: { files: 2, dirs: 1, bytes: 705_000, addedBytes: 0 }, nextFileId: 3 });
    await repo.close();

    const target = path.join(dir, 'restored');
    const r = await cairn(['restore', store, target], { CAIRN_PASSWORD: pw });
    expect(r.code, r.stderr).toBe(EXIT.corrupt);
    expect(r.stderr).toMatch(/^cairn: hurt\.bin: damaged, restored with zeros in bytes 300000–305000 \(chunk 2 of 3\)/m);
    expect(r.stderr).not.toMatch(/whole\.bin/);
    expect((await fs.readFile(path.join(target, 'hurt.bin'))).equals(Buffer.concat([first, Buffer.alloc(5_000), last]))).toBe(true);
    expect((await fs.readFile(path.join(target, 'whole.bin'))).equals(last)).toBe(true);
  });
});
