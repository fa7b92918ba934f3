import { type Command, Option } from 'commander';

/** The options every command that opens a repository takes. */
export function secretOptions(command: Command): Command {
  return command
    .option('--password-file <file>', 'read the passphrase from this file (or set CAIRN_PASSWORD_FILE / CAIRN_PASSWORD)')
    .option('--keyfile <file>', 'open with a key file instead of a passphrase');
}

export function kdfOption(): Option {
  return new Option('--kdf <kind>', 'key slot protection: iterated (stock gpg can open it) or argon2 (memory-hard)')
    .choices(['iterated', 'argon2'])
    .default('iterated');
}
