// Writes test/fixtures/store-v1: a frozen format-v1 store whose plaintext the tests know.
// Run once per format version (node scripts/make-fixture-store.mjs after `npm run build`);
// never regenerate v1: its whole point is that today's code still reads yesterday's bytes.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { LocalBackend } from '../dist/src/backend/local.js';
import { Repository } from '../dist/src/repository/repository.js';
import { saveContent } from '../dist/src/repository/file-content.js';

const target = path.resolve('test/fixtures/store-v1');
await fs.rm(target, { recursive: true, force: true });
const repo = await Repository.init(new LocalBackend(target), { kind: 'passphrase', passphrase: 'cairn fixture v1' });
const text = Buffer.from('The quick brown fox jumps over the lazy dog.\n'.repeat(1000));
const saved = await saveContent(repo, [text]);
const base = { mode: 0o644, uid: 1000, gid: 1000, mtimeNs: 1763856000123456789n, atimeNs: 1763856000123456789n, ctimeNs: 1763856000123456789n, links: 1 };
const sub = await repo.saveTree({ nodes: [{ ...base, name: 'fox.txt', type: 'file', size: saved.size, inode: 3, content: saved.content }] });
const root = await repo.saveTree({ nodes: [
  { ...base, name: 'docs', type: 'dir', mode: 0o755, size: 0, inode: 2, subtree: sub.id },
  { ...base, name: 'latest', type: 'symlink', mode: 0o777, size: 12, inode: 4, target: 'docs/fox.txt' },
] });
await repo.saveSnapshot({ tree: root.id, stats: { files: 1, dirs: 2, bytes: saved.size, addedBytes: 0 }, timeNs: 1763856000000000000n, host: 'fixture', user: 'cairn', tags: ['v1'] });
await repo.close();
// Empty fan-out folders are not kept by git; the store layout tolerates their absence for reads.
console.log('wrote', target);
