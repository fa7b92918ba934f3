/**
 * The SFTP store on a real OpenSSH sshd on loopback: rsync of the corpus tree and a 1 GiB
 * sequential write into a cairn mount, timed until the upload has finished (unmount
 * returns), against scp of the same bytes (the wire's limit here) and, when installed,
 * rclone mount of a crypt remote over the same sshd with --vfs-cache-mode full.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { startSshd } from '../test/helpers/sshd.js';
import { haveCommand } from './common.js';


const RCLONE_LIMIT_S = 600;

function seconds(fn: () => void): number {
  const start = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

async function secondsAsync(fn: () => Promise<void>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

async function waitFor(test: () => boolean, what: string, limitSeconds = 600): Promise<void> {
  const deadline = Date.now() + limitSeconds * 1000;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function sftpBenchmarks(root: string, corpus: string, cli: string, progress: (m: string) => void): Promise<string> {
  const sshd = await startSshd(path.join(root, 'sftp-sshd'));
  const key = path.join(sshd.home, '.ssh', 'id_ed25519');
  const knownHosts = path.join(sshd.home, '.ssh', 'known_hosts');
  const server = path.join(root, 'sftp-server');
  mkdirSync(server, { recursive: true });
  const tree = path.join(corpus, 'tree');
  const big = path.join(corpus, 'big', 'big.bin');
  const rows: [string, number, number][] = [];
  const notes: string[] = [];
  const sshOpts = ['-P', String(sshd.port), '-i', key, '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'BatchMode=yes'];
  try {
    progress('sftp: scp baseline');
    const scpTree = seconds(() => execFileSync('scp', ['-q', '-r', ...sshOpts, tree, `${sshd.user}@127.0.0.1:${path.join(server, 'scp-tree')}`]));
    const scpBig = seconds(() => execFileSync('scp', ['-q', ...sshOpts, big, `${sshd.user}@127.0.0.1:${path.join(server, 'scp-big.bin')}`]));
    rows.push(['scp (plain, the wire\'s limit)', scpTree, scpBig]);
    progress(`sftp: scp ${scpTree.toFixed(1)} s tree, ${scpBig.toFixed(1)} s 1 GiB`);

    progress('sftp: cairn mount');
    const env = { ...process.env, HOME: sshd.home, CAIRN_PASSWORD: 'bench', SSH_AUTH_SOCK: '' };
    const store = sshd.url(path.join(server, 'cairn'));
    execFileSync(cli, ['init', store], { env, stdio: 'ignore' });
    const mnt = path.join(root, 'sftp-cairn-mnt');
    mkdirSync(mnt, { recursive: true });
    const mountCairn = async (): Promise<ChildProcess> => {
      const child = spawn(cli, ['mount', store, mnt, '--state-dir', path.join(root, 'sftp-cairn-state'), '--cache-dir', path.join(root, 'sftp-cairn-cache')], { env, stdio: ['ignore', 'ignore', 'pipe'] });
      let log = '';
      child.stderr!.on('data', (d) => (log += d));
      await waitFor(() => log.includes('mounted at') || child.exitCode !== null, 'cairn mount');
      if (child.exitCode !== null) throw new Error(`cairn mount failed: ${log}`);
      return child;
    };
    const unmountCairn = (child: ChildProcess) =>
      secondsAsync(async () => {
        execFileSync(cli, ['unmount', mnt], { env, stdio: 'ignore' });
        if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
      });
    let child = await mountCairn();
    const cairnTree = seconds(() => execFileSync('rsync', ['-a', `${tree}/`, path.join(mnt, 'tree/')]));
    const cairnTreeSaved = cairnTree + (await unmountCairn(child));
    child = await mountCairn();
    const cairnBig = seconds(() => execFileSync('dd', [`if=${big}`, `of=${path.join(mnt, 'big.bin')}`, 'bs=1M', 'status=none']));
    const cairnBigSaved = cairnBig + (await unmountCairn(child));
    rows.push(['cairn mount: copy returns', cairnTree, cairnBig]);
    rows.push(['cairn mount: until uploaded (unmount returns)', cairnTreeSaved, cairnBigSaved]);
    progress(`sftp: cairn ${cairnTree.toFixed(1)} / ${cairnTreeSaved.toFixed(1)} s tree, ${cairnBig.toFixed(1)} / ${cairnBigSaved.toFixed(1)} s 1 GiB`);

    if (haveCommand('rclone')) {
      progress('sftp: rclone crypt mount');
      const config = path.join(root, 'rclone.conf');
      const obscured = execFileSync('rclone', ['obscure', 'bench']).toString().trim();
      writeFileSync(config, [
        '[srv]', 'type = sftp', 'host = 127.0.0.1', `port = ${sshd.port}`, `user = ${sshd.user}`, `key_file = ${key}`, `known_hosts_file = ${knownHosts}`, '',
        '[crypt]', 'type = crypt', `remote = srv:${path.join(server, 'rclone')}`, `password = ${obscured}`, '',
      ].join('\n'));
      const rmnt = path.join(root, 'sftp-rclone-mnt');
      mkdirSync(rmnt, { recursive: true });
      const rcPort = 5572 + Math.floor(Math.random() * 1000);
      const rc = (cmd: string) => JSON.parse(execFileSync('rclone', ['rc', '--url', `http://127.0.0.1:${rcPort}/`, cmd]).toString()) as Record<string, unknown>;
      // Each phase its own cache: rclone resumes a cache's pending uploads at the next mount.
      // --sftp-disable-hashcheck: by default rclone runs md5sum over SSH for every file,
      // which made the tree's upload crawl (~10 MB a minute here); this is rclone at its best.
      const mountRclone = async (phase: string): Promise<ChildProcess> => {
        const c = spawn('rclone', ['mount', '--config', config, 'crypt:', rmnt, '--vfs-cache-mode', 'full', '--sftp-disable-hashcheck', '--cache-dir', path.join(root, `rclone-cache-${phase}`), '--rc', '--rc-no-auth', '--rc-addr', `127.0.0.1:${rcPort}`], { stdio: 'ignore' });
        await waitFor(() => spawnSync('mountpoint', ['-q', rmnt]).status === 0, 'rclone mount');
        return c;
      };
      const uploadsDone = () => {
        const stats = rc('vfs/stats') as { diskCache?: { uploadsInProgress: number; uploadsQueued: number } };
        return stats.diskCache !== undefined && stats.diskCache.uploadsInProgress === 0 && stats.diskCache.uploadsQueued === 0;
      };
      const stopRclone = async (c: ChildProcess) => {
        const exited = new Promise((r) => c.once('exit', r));
        c.kill('SIGKILL'); // uploads are done or the limit passed: do not let it finish them now
        await exited;
        spawnSync('fusermount', ['-u', '-z', rmnt]);
      };
      let r = await mountRclone('tree');
      const rTree = seconds(() => execFileSync('rsync', ['-a', `${tree}/`, path.join(rmnt, 'tree/')]));
      // rclone checks each small file's hash by running md5sum over SSH: give it a limit.
      const rTreeSaved = rTree + (await secondsAsync(() => waitFor(uploadsDone, 'rclone uploads', RCLONE_LIMIT_S).catch(() => undefined)));
      if (!uploadsDone()) notes.push(`rclone had not finished uploading the tree after ${RCLONE_LIMIT_S} s (${execFileSync('du', ['-sh', path.join(server, 'rclone')]).toString().split('\t')[0]} on the server); its row shows the limit`);
      await stopRclone(r);
      r = await mountRclone('big');
      const rBig = seconds(() => execFileSync('dd', [`if=${big}`, `of=${path.join(rmnt, 'big.bin')}`, 'bs=1M', 'status=none']));
      const rBigSaved = rBig + (await secondsAsync(() => waitFor(uploadsDone, 'rclone uploads', RCLONE_LIMIT_S).catch(() => undefined)));
      await stopRclone(r);
      progress(`sftp: rclone ${rTree.toFixed(1)} / ${rTreeSaved.toFixed(1)} s tree, ${rBig.toFixed(1)} / ${rBigSaved.toFixed(1)} s 1 GiB`);
      rows.push(['rclone crypt mount (vfs-cache-mode full, --sftp-disable-hashcheck): copy returns', rTree, rBig]);
      rows.push(['rclone crypt mount: until uploaded', rTreeSaved, rBigSaved]);
    }
  } finally {
    await sshd.stop();
  }
  const treeFiles = readdirSync(tree, { recursive: true }).length;
  return [
    '### SFTP store (OpenSSH sshd on loopback, same disk; seconds)',
    '',
    `| what | rsync -a tree (${treeFiles.toLocaleString('en')} entries) | 1 GiB sequential write |`,
    '|---|---|---|',
    ...rows.map(([what, a, b]) => `| ${what} | ${a.toFixed(1)} | ${b.toFixed(1)} |`),
    ...(notes.length > 0 ? ['', ...notes.map((n) => `Note: ${n}.`)] : []),
  ].join('\n');
}
