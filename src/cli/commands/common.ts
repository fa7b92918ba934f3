import { type Command, Option } from 'commander';

/** How to reach a store: SSH options (used when STORE is sftp://… or user@host:path). */
export function storeOptions(command: Command): Command {
  return command
    .option('--ssh-key <file>', 'SSH private key to log in with (tried before ssh-agent keys and ~/.ssh/id_*)')
    .option('--known-hosts <file>', 'check the SSH server\'s key against this file instead of ~/.ssh/known_hosts');
}

/** The options every command that opens a repository takes. */
export function secretOptions(command: Command): Command {
  return storeOptions(command)
    .option('--password-file <file>', 'read the passphrase from this file (or set CAIRN_PASSWORD_FILE / CAIRN_PASSWORD)')
    .option('--keyfile <file>', 'open with a key file instead of a passphrase')
    .option('--gpg-key <file>', 'open a recipient slot with this OpenPGP private key file')
    .option('--gpg', 'open a recipient slot through the system\'s gpg (gpg-agent, smartcards)');
}

export function kdfOption(): Option {
  return new Option('--kdf <kind>', 'key slot protection: iterated (stock gpg can open it) or argon2 (memory-hard)')
    .choices(['iterated', 'argon2'])
    .default('iterated');
}

/** For a repeatable option (`--path A --path B`): commander's reducer that gathers them. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
