/** Turns a STORE argument into a backend: a local folder, file://, sftp:// or user@host:path. */
import type { Backend } from './backend.js';
import { LocalBackend } from './local.js';
import { RetryingBackend } from './retrying.js';
import { SftpBackend } from './sftp/sftp-backend.js';
import { parseSftpLocation } from './sftp/location.js';
import { CairnError } from '../errors/errors.js';

export interface LocateOptions {
  readonly sshKey?: string;
  readonly knownHostsFile?: string;
  readonly ask?: (prompt: string) => Promise<string | undefined>;
  /** A command that reads in bulk (restore, backup): local stores read synchronously (local.ts). */
  readonly bulkReads?: boolean;
}

export function backendFor(store: string, options: LocateOptions = {}): Backend {
  if (store.startsWith('file://')) return new LocalBackend(decodeURIComponent(store.slice('file://'.length)), { syncReads: options.bulkReads });
  const sftp = parseSftpLocation(store);
  // Over a network a connection may drop: each operation is retried with backoff.
  if (sftp) return new RetryingBackend(new SftpBackend({ location: sftp, sshKey: options.sshKey, knownHostsFile: options.knownHostsFile, ask: options.ask }));
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(store)) {
    throw new CairnError('USAGE', `stores of the kind ${store.split(':')[0]}:// are not supported`, {
      hint: 'give a local folder (a path), file:///path, sftp://user@host/path or user@host:path',
    });
  }
  return new LocalBackend(store, { syncReads: options.bulkReads });
}
