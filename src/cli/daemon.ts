/**
 * `cairn mount --daemon`: the mount runs as a detached child writing to its log file, and
 * this process returns once the folder is mounted (0), or with the child's exit code and
 * its own words when it could not mount. The passphrase is asked here (a terminal, if any,
 * belongs to this process) and handed to the child through a pipe on its fd 3, never
 * through argv or the environment.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { CairnError } from '../errors/errors.js';
import { note } from './output.js';
import { secretFrom, type SecretOptions } from './secrets.js';

/** The command line without the options this process answers itself. */
function childArguments(argv: readonly string[]): string[] {
  const dropWithValue = new Set(['--password-file', '--log-file']);
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--daemon') continue;
    if (dropWithValue.has(a)) {
      i++;
      continue;
    }
    if ([...dropWithValue].some((o) => a.startsWith(`${o}=`))) continue;
    out.push(a);
  }
  return out;
}

export async function mountInBackground(mountpoint: string, options: SecretOptions, logFile: string): Promise<number> {
  const secret = await secretFrom(options, { prompt: 'Passphrase: ', confirm: false, useEnvironment: true });
  const args = childArguments(process.argv.slice(2));
  if (secret.kind !== 'keyfile') args.push('--password-file', '/dev/fd/3');
  args.push('--log-file', logFile);
  mkdirSync(path.dirname(logFile), { recursive: true, mode: 0o700 });
  const start = existsSync(logFile) ? statSync(logFile).size : 0;
  const logFd = openSync(logFile, 'a');
  const env = { ...process.env };
  delete env.CAIRN_PASSWORD; // the child reads the secret from fd 3
  delete env.CAIRN_PASSWORD_FILE;
  const child = spawn(process.execPath, [process.argv[1]!, ...args], { detached: true, stdio: ['ignore', logFd, logFd, 'pipe'], env });
  closeSync(logFd);
  const pipe = child.stdio[3] as NodeJS.WritableStream;
  pipe.on('error', () => undefined); // a child that exits early closes it; its log says why
  pipe.end(secret.kind === 'passphrase' ? secret.passphrase : ''); // other secrets travel as options (files, gpg)
  let exitCode: number | null = null;
  child.on('exit', (code, signal) => (exitCode = code ?? (signal ? 128 : 1)));
  const written = () => readFileSync(logFile).subarray(start).toString('utf8');
  for (;;) {
    const log = written();
    if (log.includes(`cairn: mounted at ${mountpoint}`)) {
      child.unref();
      note(`cairn: mounted at ${mountpoint} in the background (pid ${child.pid}); log: ${logFile}`);
      return 0;
    }
    if (exitCode !== null) {
      // Its own words, without the timestamps (they are in the log file).
      for (const line of log.split('\n').filter(Boolean)) note(line.replace(/^\S+Z /, ''));
      if (exitCode === 0) throw new CairnError('USAGE', `the background mount at ${mountpoint} ended before it was mounted`);
      return exitCode;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
