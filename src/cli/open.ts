/** Opening a repository from CLI arguments: the store, then the secret. */
import type { Backend } from '../backend/backend.js';
import { backendFor } from '../backend/locate.js';
import { readConfig, Repository, type RepositoryOptions } from '../repository/repository.js';
import { askOnTerminal, type SecretOptions, secretFrom } from './secrets.js';

export interface StoreCliOptions {
  readonly sshKey?: string;
  readonly knownHosts?: string;
}

/** The backend a STORE argument names, with the SSH options and terminal prompts. */
export function storeFromCli(store: string, options: StoreCliOptions): Backend {
  return backendFor(store, { sshKey: options.sshKey, knownHostsFile: options.knownHosts, ask: askOnTerminal });
}

export async function openFromCli(store: string, options: SecretOptions & StoreCliOptions, repoOptions: RepositoryOptions = {}): Promise<Repository> {
  const backend = storeFromCli(store, options);
  // Read the config before asking for a secret, so a wrong path fails before a prompt.
  const config = await readConfig(backend);
  const secret = await secretFrom(options, { confirm: false, prompt: `Passphrase for ${backend.location}: `, useEnvironment: true });
  return Repository.open(backend, secret, { ...repoOptions, config });
}
