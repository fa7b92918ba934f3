/**
 * SFTP store addresses, as users write them:
 *   sftp://[user@]host[:port]/absolute/path      (path `/~/x` = x in the login's home)
 *   [user@]host:path                              (scp style; relative = in the home folder)
 * A local path containing a colon must be written with a slash before it (./a:b), as with scp.
 */
import { CairnError } from '../../errors/errors.js';

export interface SftpLocation {
  /** As written: a Host alias from ~/.ssh/config or a host name. */
  readonly host: string;
  readonly user?: string;
  readonly port?: number;
  /** Remote folder; relative paths are relative to the login's home folder. */
  readonly path: string;
}

/** The SFTP location a STORE argument names, or null when it is a local path. */
export function parseSftpLocation(store: string): SftpLocation | null {
  if (/^sftp:\/\//i.test(store)) return parseUrl(store);
  // scp style: a colon before any slash, and something before the colon.
  const scp = /^(?:([^@/:]+)@)?(\[[^\]]+\]|[^/:@[\]]+):(.*)$/.exec(store);
  if (!scp) return null;
  const [, user, host, rest] = scp;
  return { host: unbracket(host!), ...(user ? { user } : {}), path: rest === '' ? '.' : rest! };
}

function parseUrl(store: string): SftpLocation {
  let url: URL;
  try {
    url = new URL(store);
  } catch {
    throw new CairnError('USAGE', `${store} is not a valid sftp:// address`, { hint: 'write it as sftp://user@host:port/path' });
  }
  if (!url.hostname) throw new CairnError('USAGE', `${store} names no host`, { hint: 'write it as sftp://user@host:port/path' });
  if (url.password) {
    throw new CairnError('USAGE', 'a password in the store address would show in process lists and shell history', {
      hint: 'leave it out: cairn asks for it, or use ssh-agent or a key (--ssh-key)',
    });
  }
  const decoded = decodeURIComponent(url.pathname);
  const path = decoded.startsWith('/~/') ? decoded.slice(3) || '.' : decoded === '/~' ? '.' : decoded || '/';
  return {
    host: unbracket(url.hostname),
    ...(url.username ? { user: decodeURIComponent(url.username) } : {}),
    ...(url.port ? { port: Number(url.port) } : {}),
    path,
  };
}

const unbracket = (host: string) => (host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host);

/** A location for messages: no secrets, the form users type. */
export function formatSftpLocation(l: SftpLocation): string {
  const host = l.host.includes(':') ? `[${l.host}]` : l.host;
  return `sftp://${l.user ? `${l.user}@` : ''}${host}${l.port ? `:${l.port}` : ''}${l.path.startsWith('/') ? '' : '/~/'}${l.path === '.' ? '' : l.path}`;
}
