// Writes test/fixtures/store-v2: a frozen format-v2 store whose plaintext the tests know.
// Run once per format version (node scripts/make-fixture-store.mjs after `npm run build`);
// never regenerate a frozen store: its whole point is that today's code still reads
// yesterday's bytes. (store-v1 was written by this script's version-1 form, before format 2.)
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { LocalBackend } from '../dist/src/backend/local.js';
import { Repository } from '../dist/src/repository/repository.js';
import { saveContent } from '../dist/src/repository/file-content.js';

const target = path.resolve('test/fixtures/store-v2');
await fs.rm(target, { recursive: true, force: true });
const repo = await Repository.init(new LocalBackend(target), { kind: 'passphrase', passphrase: 'cairn fixture v2' });
const text = Buffer.from('The quick brown fox jumps over the lazy dog.\n'.repeat(1000));
const saved = await saveContent(repo, [text]);
const t = 1763856000123456789n;
const base = { mode: 0o644, uid: 1000, gid: 1000, mtimeNs: t, atimeNs: t, ctimeNs: t };
// fox.txt and fox-link.txt are one file (file id 3, two names); the symlink is file id 4.
const sub = await repo.saveTree({ nodes: [
  { ...base, name: 'fox-link.txt', type: 'file', size: saved.size, fileId: 3, links: 2, content: saved.content },
  { ...base, name: 'fox.txt', type: 'file', size: saved.size, fileId: 3, links: 2, content: saved.content },
] });
const root = await repo.saveTree({ nodes: [
  { ...base, name: 'docs', type: 'dir', mode: 0o755, size: 0, fileId: 2, links: 2, subtree: sub.id },
  { ...base, name: 'latest', type: 'symlink', mode: 0o777, size: 12, fileId: 4, links: 1, target: 'docs/fox.txt' },
] });
await repo.saveSnapshot({
  tree: root.id, stats: { files: 1, dirs: 2, bytes: saved.size, addedBytes: 0 }, nextFileId: 5,
  timeNs: 1763856000000000000n, host: 'fixture', user: 'cairn', tags: ['v2'],
  root: { mode: 0o755, uid: 1000, gid: 1000, mtimeNs: t, atimeNs: t, ctimeNs: t },
});
await repo.close();
// Empty fan-out folders are not kept by git; the store layout tolerates their absence for reads.
console.log('wrote', target);
