/**
 * The SFTP store through the real CLI against a real OpenSSH sshd on a free loopback port:
 * key and agent logins, host keys unknown or changed (refused with the fingerprint), an
 * unreachable server, and reconnection after the server restarts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { SftpBackend } from '../../src/backend/sftp/sftp-backend.js';
import { RetryingBackend } from '../../src/backend/retrying.js';
import { parseSftpLocation } from '../../src/backend/sftp/location.js';
import { cairn, CLI, run } from '../helpers/cli.js';
import { startSshd, type TestSshd } from '../helpers/sshd.js';
import { tempDir } from '../helpers/store.js';

describe('SFTP store with a real sshd', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let sshd: TestSshd;
  let store: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('cairn-sftp-'));
    sshd = await startSshd(path.join(dir, 'sshd'));
    store = sshd.url(path.join(dir, 'server', 'store'));
    env = { HOME: sshd.home, CAIRN_PASSWORD: 'over ssh', SSH_AUTH_SOCK: '' };
  });
  afterAll(async () => {
    await sshd.stop();
    await cleanup();
  });

  it('creates a repository over SFTP with the default identity file and known_hosts', async () => {
    const init = await cairn(['init', store], env);
    expect(init.code, init.stderr).toBe(0);
    expect(init.stdout).toContain(`created cairn repository`);
    const list = await cairn(['snapshots', store], env);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toContain('no snapshots yet');
    // scp style, the same folder
    const scp = await cairn(['check', `${sshd.user}@127.0.0.1:${path.join(dir, 'server', 'store')}`], { ...env, HOME: withSshConfig(`Host 127.0.0.1\n  Port ${sshd.port}\n`) });
    expect(scp.code, scp.stderr).toBe(0);
  });

  /** A HOME with the test's key and known_hosts and the given ~/.ssh/config. */
  function withSshConfig(config: string): string {
    const home = path.join(dir, `home-${randomBytes(4).toString('hex')}`);
    mkdirSync(path.join(home, '.ssh'), { recursive: true, mode: 0o700 });
    for (const f of ['id_ed25519', 'id_ed25519.pub', 'known_hosts']) copyFileSync(path.join(sshd.home, '.ssh', f), path.join(home, '.ssh', f));
    writeFileSync(path.join(home, '.ssh', 'config'), config);
    return home;
  }

  it('logs in through ssh-agent when no key file is around, and through a Host alias', async () => {
    const home = withSshConfig(`Host backup-server\n  HostName 127.0.0.1\n  Port ${sshd.port}\n  User ${sshd.user}\n`);
    const key = path.join(dir, 'agent-key');
    execFileSync('mv', [path.join(home, '.ssh', 'id_ed25519'), key]);
    const agent = spawnSync('ssh-agent', ['-s'], { encoding: 'utf8' }).stdout;
    const sock = /SSH_AUTH_SOCK=([^;]+);/.exec(agent)![1]!;
    const pid = Number(/SSH_AGENT_PID=(\d+);/.exec(agent)![1]);
    try {
      const noKey = await cairn(['snapshots', `backup-server:${path.join(dir, 'server', 'store')}`], { ...env, HOME: home });
      expect(noKey.code).toBe(4);
      expect(noKey.stderr).toContain('refused every way to log in');
      expect(spawnSync('ssh-add', ['-q', key], { env: { ...process.env, SSH_AUTH_SOCK: sock } }).status).toBe(0);
      const viaAgent = await cairn(['snapshots', `backup-server:${path.join(dir, 'server', 'store')}`], { ...env, HOME: home, SSH_AUTH_SOCK: sock });
      expect(viaAgent.code, viaAgent.stderr).toBe(0);
      // --ssh-key works without the agent, too.
      const viaKey = await cairn(['snapshots', `backup-server:${path.join(dir, 'server', 'store')}`, '--ssh-key', key], { ...env, HOME: home });
      expect(viaKey.code, viaKey.stderr).toBe(0);
    } finally {
      process.kill(pid);
    }
  });

  it('asks on the terminal for the passphrase of a protected --ssh-key, without echo', async () => {
    const key = path.join(dir, 'protected-key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'key passphrase 7', '-f', key]);
    appendFileSync(path.join(dir, 'sshd', 'authorized_keys'), readFileSync(`${key}.pub`));
    const home = withSshConfig('');
    rmSync(path.join(home, '.ssh', 'id_ed25519'));
    const typist = `sleep 2; echo 'key passphrase 7'`;
    const command = `${process.execPath} ${CLI} snapshots ${store} --ssh-key ${key}`;
    const r = await run('bash', ['-c', `(${typist}) | script -qec "${command}" /dev/null`], { ...env, HOME: home });
    expect(r.stdout).toContain(`Passphrase for key ${key}`);
    expect(r.stdout).toContain('no snapshots yet');
    expect(r.stdout).not.toContain('key passphrase 7');
    // Without a terminal nobody can answer: the login fails clearly instead of hanging.
    const noTty = await cairn(['snapshots', store, '--ssh-key', key], { ...env, HOME: home });
    expect(noTty.code).toBe(4);
    expect(noTty.stderr).toContain('refused every way to log in');
  });

  it('logs in with a password typed at the prompt (a throwaway account, removed afterwards)', async () => {
    const user = `cairnpw${randomBytes(3).toString('hex')}`;
    const password = `pw ${randomBytes(6).toString('hex')}`;
    const server = await startSshd(path.join(dir, 'sshd-pw'), { passwords: true });
    execFileSync('useradd', ['--no-create-home', '--home-dir', '/nonexistent', '--shell', '/bin/sh', user]);
    try {
      execFileSync('chpasswd', [], { input: `${user}:${password}\n` });
      // The store folder must be reachable and writable by that account.
      const folder = path.join(dir, 'pw-store');
      chmodSync(dir, 0o755);
      mkdirSync(folder);
      execFileSync('chown', [user, folder]);
      const home = path.join(dir, 'home-pw');
      mkdirSync(path.join(home, '.ssh'), { recursive: true });
      copyFileSync(path.join(server.home, '.ssh', 'known_hosts'), path.join(home, '.ssh', 'known_hosts')); // no key files
      const url = `sftp://${user}@127.0.0.1:${server.port}${path.join(folder, 'store')}`;
      const typist = `sleep 2; echo '${password}'`;
      const r = await run('bash', ['-c', `(${typist}) | script -qec "${process.execPath} ${CLI} init ${url}" /dev/null`], { ...env, HOME: home });
      expect(r.stdout).toContain(`Password for ${user}@127.0.0.1`);
      expect(r.stdout).toContain('created cairn repository');
      expect(r.stdout).not.toContain(password);
      // Without a terminal there is nobody to ask: refused clearly, no hang.
      const noTty = await cairn(['snapshots', url], { ...env, HOME: home });
      expect(noTty.code).toBe(4);
      expect(noTty.stderr).toContain(`refused every way to log in as ${user}`);
    } finally {
      await server.stop();
      execFileSync('userdel', [user]);
    }
  });

  it('refuses a server whose key is not known, showing the fingerprint ssh-keygen shows', async () => {
    const empty = path.join(dir, 'empty_known_hosts');
    writeFileSync(empty, '');
    const r = await cairn(['snapshots', store, '--known-hosts', empty], env);
    expect(r.code).toBe(11);
    const expected = execFileSync('ssh-keygen', ['-lf', path.join(dir, 'sshd', 'ssh_host_ed25519_key.pub')], { encoding: 'utf8' }).split(' ')[1]!;
    expect(r.stderr).toContain(`its key fingerprint is ${expected}`);
    expect(r.stderr).toContain(`[127.0.0.1]:${sshd.port} ssh-ed25519 `);
  });

  it('names an unreachable server and its port', async () => {
    const closed = store.replace(`:${sshd.port}/`, ':1/');
    const r = await cairn(['snapshots', closed], env);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/cannot reach 127\.0\.0\.1 port 1: .*ECONNREFUSED/);
  });

  it('backs up into, restores from and verifies against an SFTP store without a mount', async () => {
    const src = path.join(dir, 'bk-src');
    mkdirSync(path.join(src, 'sub'), { recursive: true });
    writeFileSync(path.join(src, 'sub', 'big.bin'), randomBytes(3_000_000));
    writeFileSync(path.join(src, 'note.txt'), 'over the wire');
    const b = await cairn(['backup', store, src, 'data'], { ...env, XDG_STATE_HOME: path.join(dir, 'xdg') });
    expect(b.code, b.stderr).toBe(0);
    const target = path.join(dir, 'bk-restored');
    const r = await cairn(['restore', store, target, '--path', 'data'], env);
    expect(r.code, r.stderr).toBe(0);
    const diff = spawnSync('diff', ['-r', src, path.join(target, 'data')], { encoding: 'utf8' });
    expect(diff.stdout + diff.stderr).toBe('');
    const v = await cairn(['verify', store, target, '--path', 'data', '--read-data'], env);
    expect(v.code, v.stdout + v.stderr).toBe(0);
    expect(v.stdout).toMatch(/: 4 files compared, 0 differences found/);
  });

  it('reconnects by itself when the server restarts between operations', async () => {
    const folder = path.join(dir, 'server', 'reconnect');
    const backend = new RetryingBackend(new SftpBackend({ location: parseSftpLocation(sshd.url(folder))!, sshKey: path.join(sshd.home, '.ssh', 'id_ed25519'), knownHostsFile: path.join(sshd.home, '.ssh', 'known_hosts') }));
    await backend.create();
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const name = randomBytes(32).toString('hex');
    await backend.put({ kind: 'data', name }, data);
    await sshd.stop();
    const restart = new Promise((r) => setTimeout(r, 1500)).then(() => sshd.start());
    // Issued while the server is down: retried with backoff until it is back.
    const read = await backend.get({ kind: 'data', name }, { offset: 1_000_000, length: 2_000_000 });
    await restart;
    expect(Buffer.from(read).equals(data.subarray(1_000_000, 3_000_000))).toBe(true);
    await backend.close();
  });

  it('refuses a host key that changed, naming the known_hosts line', async () => {
    await sshd.changeHostKey();
    const r = await cairn(['snapshots', store], env);
    expect(r.code).toBe(11);
    expect(r.stderr).toContain('CHANGED');
    expect(r.stderr).toContain(`${path.join(sshd.home, '.ssh', 'known_hosts')}:1`);
    expect(r.stderr).toContain(`ssh-keygen -R '[127.0.0.1]:${sshd.port}'`);
  });
});
