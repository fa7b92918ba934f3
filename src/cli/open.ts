/** Opening a repository from CLI arguments: the store, then the secret. */
import type { Backend } from '../backend/backend.js';
import { backendFor } from '../backend/locate.js';
import type { RepositoryConfig } from '../format/config.js';
import { readConfig, Repository, type RepositoryOptions } from '../repository/repository.js';
import { askOnTerminal, type SecretOptions, secretFrom } from './secrets.js';

export interface StoreCliOptions {
  readonly sshKey?: string;
  readonly knownHosts?: string;
  /** Set by commands that read in bulk (see LocateOptions). */
  readonly bulkReads?: boolean;
}

/** The backend a STORE argument names, with the SSH options and terminal prompts. */
export function storeFromCli(store: string, options: StoreCliOptions): Backend {
  return backendFor(store, { sshKey: options.sshKey, knownHostsFile: options.knownHosts, ask: askOnTerminal, bulkReads: options.bulkReads });
}

/**
 * Opens the repository STORE names. `wrap` may put a layer between repository and store
 * once the repository id is known (the mount's object cache).
 */
export async function openFromCli(
  store: string,
  options: SecretOptions & StoreCliOptions,
  repoOptions: RepositoryOptions = {},
  wrap?: (backend: Backend, config: RepositoryConfig) => Promise<Backend>,
): Promise<Repository> {
  const backend = storeFromCli(store, options);
  // Read the config before asking for a secret, so a wrong path fails before a prompt.
  const config = await readConfig(backend);
  const secret = await secretFrom(options, { confirm: false, prompt: `Passphrase for ${backend.location}: `, useEnvironment: true });
  return Repository.open(wrap ? await wrap(backend, config) : backend, secret, { ...repoOptions, config });
}
