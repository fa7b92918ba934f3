import { afterAll, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { CachedBackend } from '../../src/backend/cached.js';
import { LocalBackend } from '../../src/backend/local.js';
import { MemoryBackend } from '../../src/backend/memory.js';
import { FaultyBackend } from '../helpers/faulty-backend.js';
import { parseSftpLocation } from '../../src/backend/sftp/location.js';
import { SftpBackend } from '../../src/backend/sftp/sftp-backend.js';
import { RetryingBackend } from '../../src/backend/retrying.js';
import { startSshd, type TestSshd } from '../helpers/sshd.js';
import { backendConformance } from './backend.suite.js';

backendConformance('memory', async () => ({ backend: new MemoryBackend(), cleanup: async () => {} }));

// The decorators: retries over a store that drops requests and loses answers (each fault
// happens to about 1 request in 30 here, and every answer is late by up to 3 ms) must keep
// the whole contract.
backendConformance('retrying over a faulty store', async () => ({
  backend: new RetryingBackend(new FaultyBackend(new MemoryBackend(), { dropBefore: 0.03, dropAfter: 0.03, maxDelayMs: 3 }, 7)),
  cleanup: async () => {},
}));

// What a mount of an SFTP store stacks: the upload queue over the object cache over retries.
backendConformance('upload queue and object cache over a retried faulty store', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'cairn-cached-'));
  const faulty = new FaultyBackend(new MemoryBackend(), { dropBefore: 0.03, dropAfter: 0.03, maxDelayMs: 3 }, 11);
  const backend = await CachedBackend.open(new RetryingBackend(faulty), { dir, budgetBytes: 1 << 20 });
  return { backend, cleanup: () => rm(dir, { recursive: true, force: true }) };
});

backendConformance('local folder', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'cairn-backend-'));
  return { backend: new LocalBackend(path.join(dir, 'store')), cleanup: () => rm(dir, { recursive: true, force: true }) };
});

// The local folder reads a range into a buffer it is given (the mount's shared box buffers,
// BlobThread.openRead), with plain reads and with the synchronous ones a restore uses.
for (const syncReads of [false, true]) {
  it(`local folder reads a range into the buffer it is given${syncReads ? ' (synchronous reads)' : ''}`, async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'cairn-backend-'));
    try {
      const backend = new LocalBackend(path.join(dir, 'store'), { syncReads });
      await backend.create();
      const data = randomBytes(3000);
      const ref = { kind: 'data' as const, name: randomBytes(32).toString('hex') };
      await backend.put(ref, data);
      const into = new Uint8Array(new SharedArrayBuffer(4096));
      const got = await backend.get(ref, { offset: 1000, length: 2000 }, into);
      expect(got.buffer).toBe(into.buffer);
      expect(Buffer.from(into.subarray(0, 2000)).equals(data.subarray(1000))).toBe(true);
      await backend.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
}

// A real OpenSSH server on a free loopback port, with keys made for the test.
let sshd: TestSshd | undefined;
let sshdDir: string | undefined;
backendConformance('sftp (real sshd)', async () => {
  if (!sshd) {
    sshdDir = await mkdtemp(path.join(tmpdir(), 'cairn-sshd-'));
    sshd = await startSshd(sshdDir);
  }
  const folder = await mkdtemp(path.join(tmpdir(), 'cairn-sftp-store-'));
  const home = sshd.home;
  const backend = new RetryingBackend(new SftpBackend({
    location: parseSftpLocation(sshd.url(path.join(folder, 'store')))!,
    sshKey: path.join(home, '.ssh', 'id_ed25519'),
    knownHostsFile: path.join(home, '.ssh', 'known_hosts'),
    sshConfigFile: path.join(home, '.ssh', 'config'),
  }));
  return { backend, cleanup: () => rm(folder, { recursive: true, force: true }) };
});
afterAll(async () => {
  await sshd?.stop();
  if (sshdDir) await rm(sshdDir, { recursive: true, force: true });
});
