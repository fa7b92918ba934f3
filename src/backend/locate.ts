/** Turns a STORE argument into a backend. Local paths today; sftp:// arrives with the SFTP store. */
import { CairnError } from '../errors/errors.js';
import type { Backend } from './backend.js';
import { LocalBackend } from './local.js';

export function backendFor(store: string): Backend {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(store) && !store.startsWith('file://')) {
    throw new CairnError('USAGE', `stores of the kind ${store.split(':')[0]}:// are not supported by this build`, {
      hint: 'give a local folder (a path), or file:///path',
    });
  }
  return new LocalBackend(store.startsWith('file://') ? decodeURIComponent(store.slice('file://'.length)) : store);
}
