// Writes test/fixtures/store-v3: a frozen format-v3 store whose plaintext the tests know.
// Run once per format version (node scripts/make-fixture-store.mjs after `npm run build`);
// never regenerate a frozen store: its whole point is that today's code still reads
// yesterday's bytes. (store-v1 and store-v2 were written by this script's earlier forms:
// v2 without noise.bin, with passphrase and tag "v2".)
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { LocalBackend } from '../dist/src/backend/local.js';
import { Repository } from '../dist/src/repository/repository.js';
import { saveContent } from '../dist/src/repository/file-content.js';

const target = path.resolve('test/fixtures/store-v3');
await fs.rm(target, { recursive: true, force: true });
const repo = await Repository.init(new LocalBackend(target), { kind: 'passphrase', passphrase: 'cairn fixture v3' });
const text = Buffer.from('The quick brown fox jumps over the lazy dog.\n'.repeat(1000));
const saved = await saveContent(repo, [text]);
// 64 KiB that zstd cannot shrink (SHA-256 of 0, 1, 2, ...): stored raw, beside the compressed fox.
const noise = Buffer.concat(Array.from({ length: 2048 }, (_, i) => createHash('sha256').update(String(i)).digest()));
const noiseSaved = await saveContent(repo, [noise]);
const t = 1763856000123456789n;
const base = { mode: 0o644, uid: 1000, gid: 1000, mtimeNs: t, atimeNs: t, ctimeNs: t };
// fox.txt and fox-link.txt are one file (file id 3, two names); the symlink is file id 4.
const sub = await repo.saveTree({ nodes: [
  { ...base, name: 'fox-link.txt', type: 'file', size: saved.size, fileId: 3, links: 2, content: saved.content },
  { ...base, name: 'fox.txt', type: 'file', size: saved.size, fileId: 3, links: 2, content: saved.content },
  { ...base, name: 'noise.bin', type: 'file', size: noiseSaved.size, fileId: 5, links: 1, content: noiseSaved.content },
] });
const root = await repo.saveTree({ nodes: [
  { ...base, name: 'docs', type: 'dir', mode: 0o755, size: 0, fileId: 2, links: 2, subtree: sub.id },
  { ...base, name: 'latest', type: 'symlink', mode: 0o777, size: 12, fileId: 4, links: 1, target: 'docs/fox.txt' },
] });
await repo.saveSnapshot({
  tree: root.id, stats: { files: 2, dirs: 2, bytes: saved.size + noiseSaved.size, addedBytes: 0 }, nextFileId: 6,
  timeNs: 1763856000000000000n, host: 'fixture', user: 'cairn', tags: ['v3'],
  root: { mode: 0o755, uid: 1000, gid: 1000, mtimeNs: t, atimeNs: t, ctimeNs: t },
});
await repo.close();
// Empty fan-out folders are not kept by git; the store layout tolerates their absence for reads.
console.log('wrote', target);
