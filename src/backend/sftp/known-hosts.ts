/**
 * Host key checking against OpenSSH known_hosts files: plain and hashed (|1|salt|hmac) host
 * patterns, `[host]:port` for non-standard ports, `*`/`?` wildcards, `!` negation, and
 * @revoked markers. (@cert-authority lines are skipped: cairn does not verify host
 * certificates.) Pure functions, so every case is tested without a server.
 */
import { createHash, createHmac } from 'node:crypto';

export interface KnownHostEntry {
  readonly marker: '' | '@revoked' | '@cert-authority';
  readonly patterns: string;
  readonly keyType: string;
  /** The public key blob (base64-decoded). */
  readonly key: Buffer;
  readonly file: string;
  readonly line: number;
}

export type HostKeyVerdict =
  | { readonly status: 'known'; readonly entry: KnownHostEntry }
  | { readonly status: 'unknown' }
  | { readonly status: 'changed'; readonly entries: KnownHostEntry[] }
  | { readonly status: 'revoked'; readonly entry: KnownHostEntry };

export function parseKnownHosts(text: string, file: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const fields = line.split(/\s+/);
    let marker: KnownHostEntry['marker'] = '';
    if (fields[0] === '@revoked' || fields[0] === '@cert-authority') marker = fields.shift() as KnownHostEntry['marker'];
    const [patterns, keyType, key] = fields;
    if (!patterns || !keyType || !key) return;
    entries.push({ marker, patterns, keyType, key: Buffer.from(key, 'base64'), file, line: i + 1 });
  });
  return entries;
}

/** The name known_hosts uses for a host and port: `host`, or `[host]:port` unless port 22. */
export function hostKeyName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** OpenSSH's fingerprint of a key blob: SHA256:<base64 without padding>. */
export function fingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

/** The key type a blob declares (its first SSH string), e.g. ssh-ed25519. */
export function keyTypeOf(key: Buffer): string {
  if (key.length < 4) return 'unknown';
  const length = key.readUInt32BE(0);
  return key.subarray(4, 4 + length).toString('latin1');
}

export function checkHostKey(entries: readonly KnownHostEntry[], host: string, port: number, key: Buffer): HostKeyVerdict {
  const name = hostKeyName(host, port);
  const matching = entries.filter((e) => e.marker !== '@cert-authority' && hostMatches(e.patterns, name));
  const revoked = matching.find((e) => e.marker === '@revoked' && e.key.equals(key));
  if (revoked) return { status: 'revoked', entry: revoked };
  const plain = matching.filter((e) => e.marker === '');
  const same = plain.find((e) => e.key.equals(key));
  if (same) return { status: 'known', entry: same };
  // ssh only calls a key changed when an entry of the same type disagrees; a host known
  // only by another key type offers a new type (still refused here, shown as changed).
  if (plain.length > 0) return { status: 'changed', entries: plain };
  return { status: 'unknown' };
}

/** Does a comma-separated pattern list match `name`? Negated patterns veto a match. */
export function hostMatches(patterns: string, name: string): boolean {
  let matched = false;
  for (const pattern of patterns.split(',')) {
    if (pattern.startsWith('|1|')) {
      if (hashedMatches(pattern, name)) matched = true;
      continue;
    }
    const negated = pattern.startsWith('!');
    const glob = negated ? pattern.slice(1) : pattern;
    if (globMatches(glob.toLowerCase(), name.toLowerCase())) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

function hashedMatches(pattern: string, name: string): boolean {
  const [, , salt, hash] = pattern.split('|');
  if (!salt || !hash) return false;
  const mac = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64');
  return mac === hash;
}

function globMatches(glob: string, name: string): boolean {
  const re = new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
  return re.test(name);
}

/** The line a user adds to accept a key (what ssh would write). */
export function knownHostsLine(host: string, port: number, key: Buffer): string {
  return `${hostKeyName(host, port)} ${keyTypeOf(key)} ${key.toString('base64')}`;
}
