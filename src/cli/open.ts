/** Opening a repository from CLI arguments: the store, then the secret. */
import { backendFor } from '../backend/locate.js';
import { readConfig, Repository, type RepositoryOptions } from '../repository/repository.js';
import { type SecretOptions, secretFrom } from './secrets.js';

export async function openFromCli(store: string, secrets: SecretOptions, options: RepositoryOptions = {}): Promise<Repository> {
  const backend = backendFor(store);
  // Read the config before asking for a secret, so a wrong path fails before a prompt.
  const config = await readConfig(backend);
  const secret = await secretFrom(secrets, { confirm: false, prompt: `Passphrase for ${backend.location}: `, useEnvironment: true });
  return Repository.open(backend, secret, { ...options, config });
}
