import type { Command } from 'commander';
import type { SlotKdf } from '../../crypto/keyslot.js';
import { Repository } from '../../repository/repository.js';
import { storeFromCli } from '../open.js';
import { out } from '../output.js';
import { secretFrom } from '../secrets.js';
import { kdfOption, secretOptions } from './common.js';

export function registerInit(program: Command): void {
  secretOptions(
    program
      .command('init')
      .description('create a new encrypted repository in an empty folder')
      .argument('<store>', 'where to create it: a local folder (new or empty), sftp://user@host/path or user@host:path'),
  )
    .addOption(kdfOption())
    .option('--json', 'print {id, location, slot: {kind, kdf}} for scripts')
    .action(async (store: string, opts: { keyfile?: string; passwordFile?: string; kdf: SlotKdf; sshKey?: string; knownHosts?: string; json?: boolean }) => {
      const backend = storeFromCli(store, opts);
      const secret = await secretFrom(opts, { confirm: true, prompt: `New passphrase for ${backend.location}: `, useEnvironment: true });
      const repo = await Repository.init(backend, secret, opts.kdf);
      await repo.close();
      if (opts.json) return out(JSON.stringify({ id: repo.id, location: backend.location, slot: { kind: secret.kind, kdf: opts.kdf } }));
      out(`created cairn repository ${repo.id.slice(0, 12)} at ${backend.location}`);
      out(`key slot: ${secret.kind === 'keyfile' ? 'key file' : 'passphrase'} (${opts.kdf === 'argon2' ? 'Argon2id S2K' : 'OpenPGP iterated S2K, opens with stock gpg'})`);
      out('keep the passphrase or key file safe: without it the data cannot be recovered');
    });
}
