/**
 * Where the secret that opens a key slot comes from, in order: --gpg (the system's gpg and
 * its agent), --gpg-key, --keyfile, --password-file, CAIRN_PASSWORD_FILE, CAIRN_PASSWORD,
 * then an interactive prompt without echo (only on a terminal: cron and systemd get a clear
 * error instead of a hang).
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { read } from 'read';
import { readPrivateKey, type SlotSecret } from '../crypto/keyslot.js';
import { CairnError } from '../errors/errors.js';

export interface SecretOptions {
  readonly keyfile?: string;
  readonly passwordFile?: string;
  /** An OpenPGP private key file that opens a recipient slot. */
  readonly gpgKey?: string;
  /** Open a recipient slot through the system's gpg. */
  readonly gpg?: boolean;
}

export async function readSecretFile(file: string, what: string): Promise<Buffer> {
  try {
    // An inherited descriptor (`cairn mount --daemon` hands the child its secret on fd 3, a
    // socket, which cannot be opened by path): read it to its end.
    const fd = /^\/dev\/fd\/(\d+)$/.exec(file);
    if (fd) return readFileSync(Number(fd[1]));
    return await readFile(file);
  } catch (e) {
    throw new CairnError('USAGE', `cannot read the ${what} ${file}: ${(e as Error).message}`);
  }
}

/** A password file holds the passphrase; one trailing newline (as editors add) is dropped. */
export function passphraseFromFile(contents: Buffer): string {
  return contents.toString('utf8').replace(/\r?\n$/, '');
}

export interface SecretPurpose {
  readonly prompt: string;
  /** Ask twice on a terminal (for a new secret). */
  readonly confirm: boolean;
  /** Whether CAIRN_PASSWORD_FILE / CAIRN_PASSWORD apply (not for the new secret of `key add`). */
  readonly useEnvironment: boolean;
}

export async function secretFrom(options: SecretOptions, purpose: SecretPurpose): Promise<SlotSecret> {
  if (options.gpg) return { kind: 'gpg' };
  if (options.gpgKey) {
    const bytes = await readSecretFile(options.gpgKey, 'OpenPGP key file');
    try {
      return { kind: 'openpgp-key', key: await readPrivateKey(bytes, () => askOnTerminal(`Passphrase of the OpenPGP key ${options.gpgKey}: `)) };
    } catch (e) {
      throw new CairnError('USAGE', `cannot use the OpenPGP key ${options.gpgKey}: ${(e as Error).message}`, {
        hint: 'give an OpenPGP private key (gpg --export-secret-keys --armor KEYID > FILE), or --gpg to let the system\'s gpg and its agent open it',
      });
    }
  }
  if (options.keyfile) return { kind: 'keyfile', contents: await readSecretFile(options.keyfile, 'key file') };
  const file = options.passwordFile ?? (purpose.useEnvironment ? process.env.CAIRN_PASSWORD_FILE : undefined);
  if (file) return nonEmpty(passphraseFromFile(await readSecretFile(file, 'password file')));
  if (purpose.useEnvironment && process.env.CAIRN_PASSWORD !== undefined) return nonEmpty(process.env.CAIRN_PASSWORD);
  if (!process.stdin.isTTY) {
    throw new CairnError('USAGE', 'no passphrase given and no terminal to ask on', {
      hint: 'use --password-file FILE, CAIRN_PASSWORD_FILE, CAIRN_PASSWORD, or --keyfile FILE',
    });
  }
  const first = await prompt(purpose.prompt);
  if (purpose.confirm) {
    const second = await prompt('Repeat it: ');
    if (first !== second) throw new CairnError('USAGE', 'the two passphrases differ; nothing was changed');
  }
  return nonEmpty(first);
}

/** Asks on the terminal without echo, or answers undefined when there is none (cron, systemd). */
export async function askOnTerminal(text: string): Promise<string | undefined> {
  return process.stdin.isTTY ? prompt(text) : undefined;
}

/** Asks on the terminal without echo; fails clearly if the input ends instead of hanging. */
async function prompt(text: string): Promise<string> {
  let onEnd: () => void = () => undefined;
  const ended = new Promise<never>((_, reject) => {
    onEnd = () => reject(new CairnError('USAGE', 'the input ended before a passphrase was entered'));
    process.stdin.once('end', onEnd);
  });
  try {
    const answer = await Promise.race([read({ prompt: text, silent: true, replace: '', output: process.stderr }), ended]);
    // Without echo the Enter is not echoed either: end the prompt's line, or the next output
    // ("Repeat it:", a table) would continue on it.
    process.stderr.write('\n');
    return answer;
  } finally {
    process.stdin.off('end', onEnd);
  }
}

function nonEmpty(passphrase: string): SlotSecret {
  if (passphrase.length === 0) throw new CairnError('USAGE', 'the passphrase is empty', { hint: 'an empty passphrase protects nothing; choose one' });
  return { kind: 'passphrase', passphrase };
}
