/**
 * The SFTP store when the server fails under it (issue 10): killed with SIGKILL in the middle
 * of a transfer, and stalled (SIGSTOP) so that the connection stays open but nothing answers.
 * An operation must neither hang nor fail for good: it is re-sent on a new connection and
 * finishes once the server answers again, within a bounded time.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { SftpBackend } from '../../src/backend/sftp/sftp-backend.js';
import { parseSftpLocation } from '../../src/backend/sftp/location.js';
import { startSshd, type TestSshd } from '../helpers/sshd.js';
import { tempDir } from '../helpers/store.js';

describe('SFTP store when the server fails mid-operation (real sshd)', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let sshd: TestSshd;

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('cairn-sftp-faults-'));
    sshd = await startSshd(path.join(dir, 'sshd'));
  });
  afterEach(async () => {
    sshd.resume();
    await sshd.start();
  });
  afterAll(async () => {
    await sshd.stop();
    await cleanup();
  });

  const backendAt = (folder: string, requestTimeoutMs?: number) =>
    new SftpBackend({
      location: parseSftpLocation(sshd.url(path.join(dir, 'server', folder)))!,
      sshKey: path.join(sshd.home, '.ssh', 'id_ed25519'),
      knownHostsFile: path.join(sshd.home, '.ssh', 'known_hosts'),
      attempts: 8,
      ...(requestTimeoutMs ? { requestTimeoutMs } : {}),
    });
  const seconds = (since: number) => (Date.now() - since) / 1000;

  it('finishes a write that was in flight when sshd and its sessions were killed with SIGKILL', async () => {
    const backend = backendAt('killed');
    await backend.create();
    const data = randomBytes(48 * 1024 * 1024);
    const name = randomBytes(32).toString('hex');
    const started = Date.now();
    const writing = backend.put({ kind: 'data', name }, data);
    await new Promise((r) => setTimeout(r, 150));
    await sshd.kill();
    await new Promise((r) => setTimeout(r, 2000));
    await sshd.start();
    await writing;
    expect(seconds(started)).toBeLessThan(30);
    expect(Buffer.from(await backend.get({ kind: 'data', name })).equals(data)).toBe(true);
    await backend.close();
  });

  it('gives up on a connection whose server stopped answering (SIGSTOP) and re-sends on a new one', async () => {
    const backend = backendAt('stalled', 2000);
    await backend.create();
    const data = randomBytes(4 * 1024 * 1024);
    const name = randomBytes(32).toString('hex');
    await backend.put({ kind: 'data', name }, data);
    // The session that holds the connection freezes; the listener still accepts new ones.
    sshd.pause();
    const started = Date.now();
    const read = await backend.get({ kind: 'data', name });
    expect(Buffer.from(read).equals(data)).toBe(true);
    expect(seconds(started)).toBeLessThan(15);
    sshd.resume();
    await backend.close();
  });

  it('waits out a whole server that stalls, then finishes when it answers again', async () => {
    const backend = backendAt('frozen', 2000);
    await backend.create();
    const data = randomBytes(8 * 1024 * 1024);
    const name = randomBytes(32).toString('hex');
    const started = Date.now();
    const writing = backend.put({ kind: 'data', name }, data);
    await new Promise((r) => setTimeout(r, 50));
    sshd.pause({ listener: true });
    await new Promise((r) => setTimeout(r, 5000));
    sshd.resume();
    await writing;
    expect(seconds(started)).toBeLessThan(40);
    expect(Buffer.from(await backend.get({ kind: 'data', name })).equals(data)).toBe(true);
    await backend.close();
  });
});
