import type { Command } from 'commander';
import { readPublicKey, type SlotKdf } from '../../crypto/keyslot.js';
import { CairnError } from '../../errors/errors.js';
import { type KeySlotInfo, listKeySlots, slotDamaged } from '../../repository/keyring.js';
import { readConfig } from '../../repository/repository.js';
import { openFromCli, storeFromCli } from '../open.js';
import { out, table } from '../output.js';
import { readSecretFile, secretFrom } from '../secrets.js';
import { kdfOption, secretOptions, storeOptions } from './common.js';

const KIND_NAMES = { passphrase: 'passphrase', keyfile: 'key file', openpgp: 'OpenPGP recipient' } as const;

/** One slot for `key list --json` (fields documented in the README). */
function slotJson(s: KeySlotInfo) {
  const d = s.description;
  const label = d?.label ?? null;
  return {
    id: s.id,
    damaged: slotDamaged(s),
    kind: label ? label.kind : d?.recipientSlot ? 'openpgp' : d ? 'passphrase-or-keyfile' : null,
    kdf: d?.kdf ?? null,
    created: label?.created ?? null,
    host: label?.host ?? null,
    label: label?.label ?? null,
    recipient: label?.recipient ?? null,
  };
}

export function registerKey(program: Command): void {
  const key = program.command('key').description('manage key slots (passphrases, key files and OpenPGP keys that open the repository)');

  secretOptions(key.command('add').description('add a passphrase, a key file or an OpenPGP recipient; the data is not re-encrypted').argument('<store>', 'the repository'))
    .option('--new-password-file <file>', 'read the new passphrase from this file')
    .option('--new-keyfile <file>', 'add this key file')
    .option('--gpg-recipient <file>', 'add a slot encrypted to this OpenPGP public key (armored or binary); it opens with --gpg-key or --gpg, and with stock gpg')
    .option('--label <text>', 'a note shown by `cairn key list` (like "laptop" or "offsite recovery")')
    .addOption(kdfOption())
    .action(async (store: string, opts: { keyfile?: string; passwordFile?: string; gpgKey?: string; gpg?: boolean; newPasswordFile?: string; newKeyfile?: string; gpgRecipient?: string; label?: string; kdf: SlotKdf }) => {
      const repo = await openFromCli(store, opts, { skipIndex: true });
      if (opts.gpgRecipient) {
        const bytes = await readSecretFile(opts.gpgRecipient, 'OpenPGP public key file');
        const publicKey = await readPublicKey(bytes).catch((e: unknown) => {
          throw new CairnError('USAGE', `${opts.gpgRecipient} is not an OpenPGP public key: ${(e as Error).message}`, { hint: 'export one with `gpg --export --armor KEYID > FILE`' });
        });
        const id = await repo.addRecipient(publicKey, opts.label);
        out(`added key slot ${id.slice(0, 12)} for OpenPGP key ${publicKey.getFingerprint().toUpperCase()}`);
        return;
      }
      const fresh = await secretFrom({ keyfile: opts.newKeyfile, passwordFile: opts.newPasswordFile }, { confirm: true, prompt: 'New passphrase: ', useEnvironment: false });
      const id = await repo.addKey(fresh, opts.kdf, opts.label);
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
      if (opts.json) return out(JSON.stringify(slots.map(slotJson), null, 2));
      out(table([['ID', 'KIND', 'PROTECTION', 'CREATED', 'HOST', 'LABEL'], ...slots.map((s) => {
        const d = s.description;
        const label = d?.label;
        if (slotDamaged(s)) return [s.id.slice(0, 12), 'DAMAGED', '', '', '', ''];
        return [
          s.id.slice(0, 12),
          label ? KIND_NAMES[label.kind] : d!.recipientSlot ? 'OpenPGP recipient' : 'passphrase or key file',
          d!.recipientSlot ? (label?.recipient ? `key ${label.recipient.toUpperCase().slice(-16)}` : 'public key') : d!.kdf === 'argon2' ? 'argon2' : 'iterated (gpg-compatible)',
          label ? label.created.replace('T', ' ').slice(0, 19) : '',
          label?.host ?? '',
          label?.label ?? '',
        ];
      })]));
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
