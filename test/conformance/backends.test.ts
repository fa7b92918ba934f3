import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { LocalBackend } from '../../src/backend/local.js';
import { MemoryBackend } from '../../src/backend/memory.js';
import { backendConformance } from './backend.suite.js';

backendConformance('memory', async () => ({ backend: new MemoryBackend(), cleanup: async () => {} }));

backendConformance('local folder', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'cairn-backend-'));
  return { backend: new LocalBackend(path.join(dir, 'store')), cleanup: () => rm(dir, { recursive: true, force: true }) };
});
