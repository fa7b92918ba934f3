/**
 * How many SFTP requests to keep in flight: one 256 MiB object put and read back through
 * SftpBackend with 1, 2, 4, 8 and 16 requests in flight (128 KiB each), on loopback sshd.
 * `BENCH_ONLY=sftp-tune npm run bench`.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { parseSftpLocation } from '../src/backend/sftp/location.js';
import { SftpBackend } from '../src/backend/sftp/sftp-backend.js';
import { startSshd } from '../test/helpers/sshd.js';

export async function sftpTuning(root: string, progress: (m: string) => void): Promise<string> {
  const sshd = await startSshd(path.join(root, 'tune-sshd'));
  const folder = path.join(root, 'tune-server');
  mkdirSync(folder, { recursive: true });
  const data = randomBytes(256 * 1024 * 1024);
  const rows: string[] = [];
  try {
    for (const inFlight of [1, 2, 4, 8, 16]) {
      progress(`sftp tuning: ${inFlight} in flight`);
      const backend = new SftpBackend({
        location: parseSftpLocation(sshd.url(path.join(folder, String(inFlight))))!,
        sshKey: path.join(sshd.home, '.ssh', 'id_ed25519'),
        knownHostsFile: path.join(sshd.home, '.ssh', 'known_hosts'),
        requestsInFlight: inFlight,
      });
      await backend.create();
      const name = randomBytes(32).toString('hex');
      const t0 = process.hrtime.bigint();
      await backend.put({ kind: 'data', name }, data);
      const t1 = process.hrtime.bigint();
      await backend.get({ kind: 'data', name });
      const t2 = process.hrtime.bigint();
      await backend.close();
      const mibps = (ns: bigint) => (256 / (Number(ns) / 1e9)).toFixed(0);
      rows.push(`| ${inFlight} | ${mibps(t1 - t0)} | ${mibps(t2 - t1)} |`);
    }
  } finally {
    await sshd.stop();
  }
  return ['### SFTP requests in flight (256 MiB object, loopback sshd; MiB/s)', '', '| in flight | put | get |', '|---|---|---|', ...rows].join('\n');
}
