/**
 * The POSIX behaviour suite (test/posix/cases.ts) run directly against the filesystem layer,
 * with each step's caller; test/mount/posix.test.ts runs the same cases through a mount.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as path from 'node:path';
import { MemoryBackend } from '../../src/backend/memory.js';
import { Repository } from '../../src/repository/repository.js';
import { LiveSession } from '../../src/vfs/session.js';
import { CASES } from '../posix/cases.js';
import { runDirect } from '../posix/drivers.js';
import { mismatch } from '../posix/steps.js';
import { passphrase, tempDir } from '../helpers/store.js';

describe('POSIX suite, directly against the filesystem layer', () => {
  let session: LiveSession;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    const made = await tempDir('cairn-posix-direct-');
    cleanup = made.cleanup;
    const repo = await Repository.init(new MemoryBackend(), passphrase('posix'));
    session = (await LiveSession.open(repo, { stateDir: path.join(made.dir, 'state'), uid: 0, gid: 0, quietMs: 60_000 })).session;
  });
  afterAll(async () => {
    await session.close();
    await cleanup();
  });

  for (const [i, c] of CASES.entries()) {
    it(c.name, async () => {
      const dir = `/t${i}`;
      await session.fs.mkdir(dir, 0o1777);
      const answers = await runDirect(session.fs, dir, c.steps);
      const wrong = c.steps.map((s, k) => [k, s, mismatch(s, answers[k]!)] as const).filter(([, , m]) => m !== null);
      expect(wrong.map(([k, s, m]) => `step ${k + 1} (${s.as ?? 'root'} ${s.op}): ${m}`)).toEqual([]);
    });
  }
});
