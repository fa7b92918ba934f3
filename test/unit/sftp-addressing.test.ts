import { describe, expect, it } from 'vitest';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import * as path from 'node:path';
import { checkHostKey, fingerprint, hostMatches, knownHostsLine, parseKnownHosts } from '../../src/backend/sftp/known-hosts.js';
import { formatSftpLocation, parseSftpLocation } from '../../src/backend/sftp/location.js';
import { resolveHost } from '../../src/backend/sftp/ssh-config.js';
import { isCairnError } from '../../src/errors/errors.js';

describe('store addresses', () => {
  it('reads sftp:// URLs and scp-style user@host:path, and leaves local paths alone', () => {
    expect(parseSftpLocation('sftp://ann@nas.local:2222/srv/backup')).toEqual({ host: 'nas.local', user: 'ann', port: 2222, path: '/srv/backup' });
    expect(parseSftpLocation('sftp://nas/~/backup')).toEqual({ host: 'nas', path: 'backup' });
    expect(parseSftpLocation('sftp://[::1]:22/x')).toEqual({ host: '::1', port: 22, path: '/x' });
    expect(parseSftpLocation('ann@nas:backup/cairn')).toEqual({ host: 'nas', user: 'ann', path: 'backup/cairn' });
    expect(parseSftpLocation('nas:/srv/x')).toEqual({ host: 'nas', path: '/srv/x' });
    expect(parseSftpLocation('nas:')).toEqual({ host: 'nas', path: '.' });
    for (const local of ['/srv/store', './a:b', 'store', 'dir/with:colon', '~/cairn-store']) expect(parseSftpLocation(local)).toBeNull();
  });

  it('refuses a password inside the address', () => {
    expect(() => parseSftpLocation('sftp://ann:secret@nas/x')).toThrow(/password in the store address/);
  });

  it('formats a location for messages', () => {
    expect(formatSftpLocation({ host: 'nas', user: 'ann', port: 2222, path: '/srv' })).toBe('sftp://ann@nas:2222/srv');
    expect(formatSftpLocation({ host: 'nas', path: 'backup' })).toBe('sftp://nas/~/backup');
  });
});

describe('~/.ssh/config', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'cairn-sshcfg-'));
  const config = path.join(dir, 'config');
  writeFileSync(config, ['Host nas', '  HostName 10.0.0.5', '  User backup', '  Port 2200', '  IdentityFile ~/.ssh/nas_key', '  UserKnownHostsFile ~/.ssh/nas_hosts', '', 'Host jump', '  ProxyJump bastion', '', 'Host *', '  User fallback', ''].join('\n'));

  it('applies Host aliases as ssh does (first value wins; the address overrides)', () => {
    const nas = resolveHost({ host: 'nas', path: 'x' }, config);
    expect(nas).toMatchObject({ hostName: '10.0.0.5', user: 'backup', port: 2200, identityFiles: [path.join(homedir(), '.ssh/nas_key')], knownHostsFiles: [path.join(homedir(), '.ssh/nas_hosts')] });
    expect(resolveHost({ host: 'nas', user: 'ann', port: 22, path: 'x' }, config)).toMatchObject({ user: 'ann', port: 22 });
    expect(resolveHost({ host: 'other', path: 'x' }, config)).toMatchObject({ hostName: 'other', user: 'fallback', port: 22, identityFiles: [] });
  });

  it('refuses ProxyJump by name instead of connecting somewhere else', () => {
    expect(() => resolveHost({ host: 'jump', path: 'x' }, config)).toThrow(/ProxyJump/);
    try {
      resolveHost({ host: 'jump', path: 'x' }, config);
    } catch (e) {
      expect(isCairnError(e, 'USAGE')).toBe(true);
    }
  });
});

describe('known_hosts', () => {
  const key = Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from('ssh-ed25519'), Buffer.from([0, 0, 0, 32]), randomBytes(32)]);
  const other = Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from('ssh-ed25519'), Buffer.from([0, 0, 0, 32]), randomBytes(32)]);
  const b64 = (k: Buffer) => k.toString('base64');
  const hashed = (name: string) => {
    const salt = randomBytes(20);
    return `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
  };

  it('matches plain, port-qualified, hashed, wildcard and negated patterns', () => {
    expect(hostMatches('nas,10.0.0.5', 'nas')).toBe(true);
    expect(hostMatches('[nas]:2200', '[nas]:2200')).toBe(true);
    expect(hostMatches('[nas]:2200', 'nas')).toBe(false);
    expect(hostMatches(hashed('[127.0.0.1]:4022'), '[127.0.0.1]:4022')).toBe(true);
    expect(hostMatches(hashed('[127.0.0.1]:4022'), '[127.0.0.1]:4023')).toBe(false);
    expect(hostMatches('*.example.org,!evil.example.org', 'nas.example.org')).toBe(true);
    expect(hostMatches('*.example.org,!evil.example.org', 'evil.example.org')).toBe(false);
  });

  it('says known, unknown, changed or revoked', () => {
    const entries = parseKnownHosts(`# comment\n[nas]:2200 ssh-ed25519 ${b64(key)}\n@revoked bad ssh-ed25519 ${b64(key)}\n@cert-authority *.org ssh-ed25519 ${b64(other)}\n`, 'kh');
    expect(checkHostKey(entries, 'nas', 2200, key).status).toBe('known');
    expect(checkHostKey(entries, 'nas', 22, key).status).toBe('unknown');
    const changed = checkHostKey(entries, 'nas', 2200, other);
    expect(changed.status).toBe('changed');
    expect(changed.status === 'changed' && changed.entries[0]!.line).toBe(2);
    expect(checkHostKey(entries, 'bad', 22, key).status).toBe('revoked');
    expect(checkHostKey(entries, 'x.org', 22, other).status).toBe('unknown'); // CA lines never vouch
  });

  it('prints fingerprints as ssh-keygen -l does, and the line that accepts a key', () => {
    expect(fingerprint(key)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(knownHostsLine('127.0.0.1', 4022, key)).toBe(`[127.0.0.1]:4022 ssh-ed25519 ${b64(key)}`);
  });
});
