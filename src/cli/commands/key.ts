import type { Command } from 'commander';
import type { SlotKdf } from '../../crypto/keyslot.js';
import { CairnError } from '../../errors/errors.js';
import { type KeySlotInfo, listKeySlots } from '../../repository/keyring.js';
import { readConfig } from '../../repository/repository.js';
import { openFromCli, storeFromCli } from '../open.js';
import { out, table } from '../output.js';
import { secretFrom } from '../secrets.js';
import { kdfOption, secretOptions, storeOptions } from './common.js';

export function registerKey(program: Command): void {
  const key = program.command('key').description('manage key slots (passphrases and key files that open the repository)');

  secretOptions(key.command('add').description('add a passphrase or key file; the data is not re-encrypted').argument('<store>', 'the repository'))
    .option('--new-password-file <file>', 'read the new passphrase from this file')
    .option('--new-keyfile <file>', 'add this key file')
    .addOption(kdfOption())
    .action(async (store: string, opts: { keyfile?: string; passwordFile?: string; newPasswordFile?: string; newKeyfile?: string; kdf: SlotKdf }) => {
      const repo = await openFromCli(store, opts, { skipIndex: true });
      const fresh = await secretFrom({ keyfile: opts.newKeyfile, passwordFile: opts.newPasswordFile }, { confirm: true, prompt: 'New passphrase: ', useEnvironment: false });
      const id = await repo.addKey(fresh, opts.kdf);
      out(`added key slot ${id.slice(0, 12)}`);
    });

  storeOptions(key
    .command('list')
    .description('list the key slots (no secret needed)')
    .argument('<store>', 'the repository'))
    .option('--json', 'print JSON for scripts')
    .action(async (store: string, opts: { sshKey?: string; knownHosts?: string; json?: boolean }) => {
      const backend = storeFromCli(store, opts);
      await readConfig(backend);
      const slots = await listKeySlots(backend);
      const damaged = (s: KeySlotInfo) => s.kdf === null || !s.nameMatches;
      if (opts.json) return out(JSON.stringify(slots.map((s) => ({ id: s.id, kdf: s.kdf, damaged: damaged(s) })), null, 2));
      out(table([['ID', 'PROTECTION'], ...slots.map((s) => [s.id.slice(0, 12), damaged(s) ? 'DAMAGED' : s.kdf === 'argon2' ? 'argon2' : 'iterated (gpg-compatible)'])]));
    });

  secretOptions(key.command('remove').description('remove a key slot; the last one cannot be removed, the one you opened with only with --force').argument('<store>', 'the repository').argument('<slot>', 'slot id or unique prefix'))
    .option('--force', 'remove the slot whose secret you gave, too')
    .action(async (store: string, prefix: string, opts: { keyfile?: string; passwordFile?: string; force?: boolean }) => {
      const repo = await openFromCli(store, opts, { skipIndex: true });
      const slots = (await listKeySlots(repo.backend)).map((s) => s.id);
      const matches = slots.filter((id) => id.startsWith(prefix));
      if (matches.length !== 1) throw new CairnError('USAGE', matches.length === 0 ? `no key slot starts with ${prefix}` : `${prefix} matches ${matches.length} slots; give more characters`);
      if (slots.length === 1) throw new CairnError('USAGE', 'this is the last key slot: removing it would make the repository unreadable', { hint: 'add another key first' });
      if (matches[0] === repo.openedSlot && !opts.force) {
        throw new CairnError('USAGE', `key slot ${prefix} is the one the secret you gave opens: after removing it, that secret no longer opens the repository`, {
          hint: 'make sure you hold another passphrase or key file that opens it, then add --force; to change a passphrase use `cairn key passwd`',
        });
      }
      await repo.backend.delete({ kind: 'keys', name: matches[0]! });
      out(`removed key slot ${matches[0]!.slice(0, 12)}`);
    });

  secretOptions(key.command('passwd').description('change the passphrase: a new slot for the new one, then the old slot goes; the data is not re-encrypted').argument('<store>', 'the repository'))
    .option('--new-password-file <file>', 'read the new passphrase from this file (else it is asked twice)')
    .addOption(kdfOption())
    .action(async (store: string, opts: { keyfile?: string; passwordFile?: string; newPasswordFile?: string; kdf: SlotKdf }) => {
      if (opts.keyfile) throw new CairnError('USAGE', 'key passwd changes a passphrase; a key file has none', { hint: 'add the new secret with `cairn key add`, then `cairn key remove` the old slot' });
      const repo = await openFromCli(store, opts, { skipIndex: true });
      const fresh = await secretFrom({ passwordFile: opts.newPasswordFile }, { confirm: true, prompt: 'New passphrase: ', useEnvironment: false });
      // The new slot first: a crash in between leaves both passphrases working, never neither.
      const added = await repo.addKey(fresh, opts.kdf);
      await repo.backend.delete({ kind: 'keys', name: repo.openedSlot! });
      out(`changed the passphrase: key slot ${repo.openedSlot!.slice(0, 12)} replaced by ${added.slice(0, 12)}`);
    });
}
