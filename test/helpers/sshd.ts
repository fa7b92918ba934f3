/**
 * A real OpenSSH server for tests: its own host key, a client key and known_hosts in a
 * fake HOME, listening on a free port of 127.0.0.1, serving SFTP (internal-sftp) to the
 * current user by key only. stop()/start() simulate an outage on the same port.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { userInfo } from 'node:os';
import * as path from 'node:path';

export interface TestSshd {
  readonly port: number;
  /** HOME for the cairn child: .ssh/id_ed25519 and .ssh/known_hosts that trust this server. */
  readonly home: string;
  readonly user: string;
  /** sftp://user@127.0.0.1:port + the absolute folder given. */
  url(folder: string): string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** SIGKILL to the server and every session at once: a crash, nothing said on the wire. */
  kill(): Promise<void>;
  /** SIGSTOP to the sessions open now (`listener` too: new connections hang as well); resume() ends it. */
  pause(options?: { listener?: boolean }): void;
  resume(): void;
  /** Replaces the host key (as a reinstalled server, or an attacker, would have). */
  changeHostKey(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

async function waitForPort(port: number, child: ChildProcess, log: () => string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`sshd exited ${child.exitCode}: ${log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`sshd did not listen on ${port}: ${log()}`);
}

/** Every process below `pid` (from /proc). */
function descendants(pid: number): number[] {
  const parents = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(ppid, [...(parents.get(ppid) ?? []), Number(entry)]);
    } catch {
      // exited meanwhile
    }
  }
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) for (const child of parents.get(queue.pop()!) ?? []) found.push(child), queue.push(child);
  return found;
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

export async function startSshd(dir: string, options: { passwords?: boolean } = {}): Promise<TestSshd> {
  const port = await freePort();
  const home = path.join(dir, 'home');
  const ssh = path.join(home, '.ssh');
  mkdirSync(ssh, { recursive: true, mode: 0o700 });
  mkdirSync('/run/sshd', { recursive: true }); // sshd's privilege separation folder
  const hostKey = path.join(dir, 'ssh_host_ed25519_key');
  const makeHostKey = () => {
    execFileSync('rm', ['-f', hostKey, `${hostKey}.pub`]);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  };
  makeHostKey();
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(ssh, 'id_ed25519')]);
  writeFileSync(path.join(dir, 'authorized_keys'), readFileSync(path.join(ssh, 'id_ed25519.pub')));
  const [type, key] = readFileSync(`${hostKey}.pub`, 'utf8').split(' ');
  writeFileSync(path.join(ssh, 'known_hosts'), `[127.0.0.1]:${port} ${type} ${key}\n`);
  const config = path.join(dir, 'sshd_config');
  writeFileSync(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
      'StrictModes no',
      'UsePAM no',
      `PasswordAuthentication ${options.passwords ? 'yes' : 'no'}`,
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      'Subsystem sftp internal-sftp',
      'MaxSessions 50',
      'MaxStartups 50',
      'LogLevel ERROR',
    ].join('\n') + '\n',
  );
  let child: ChildProcess | null = null;
  let paused: number[] = [];
  let log = '';
  const user = userInfo().username;
  const sshd: TestSshd = {
    port,
    home,
    user,
    url: (folder) => `sftp://${user}@127.0.0.1:${port}${folder}`,
    async start() {
      if (child && child.exitCode === null) return;
      log = '';
      child = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
      child.stderr!.on('data', (d) => (log += d));
      await waitForPort(port, child, () => log);
    },
    async stop() {
      sshd.resume(); // a stopped process would not act on SIGTERM
      const c = child;
      child = null;
      if (!c || c.exitCode !== null) return;
      // Sessions already open live in their own processes: end them too, as a reboot would.
      const sessions = descendants(c.pid!);
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      for (const pid of sessions) signal(pid, 'SIGKILL');
      await exited;
    },
    async kill() {
      const c = child;
      child = null;
      if (!c || c.exitCode !== null) return;
      const exited = new Promise((r) => c.once('exit', r));
      for (const pid of [c.pid!, ...descendants(c.pid!)]) signal(pid, 'SIGKILL');
      await exited;
    },
    pause(options = {}) {
      if (!child) return;
      paused = [...(options.listener ? [child.pid!] : []), ...descendants(child.pid!)];
      for (const pid of paused) signal(pid, 'SIGSTOP');
    },
    resume() {
      for (const pid of paused) signal(pid, 'SIGCONT');
      paused = [];
    },
    async changeHostKey() {
      await sshd.stop();
      makeHostKey();
      await sshd.start();
    },
  };
  await sshd.start();
  return sshd;
}
