/**
 * What ~/.ssh/config says about a host, as ssh would apply it: HostName, User, Port,
 * IdentityFile and UserKnownHostsFile from the first matching Host/Match blocks (parsing by
 * the ssh-config package). `Match exec` blocks are not evaluated (cairn runs no commands
 * from config files); ProxyJump/ProxyCommand are not supported and refused by name.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { currentUserName } from '../local-user.js';
import * as path from 'node:path';
import SSHConfig from 'ssh-config';
import { CairnError } from '../../errors/errors.js';
import type { SftpLocation } from './location.js';

export interface ResolvedHost {
  /** The name or address to connect to. */
  readonly hostName: string;
  /** The name known_hosts entries are looked up by (the HostName, as ssh does). */
  readonly knownHostsName: string;
  readonly user: string;
  readonly port: number;
  /** Identity files the config names (absolute, existing or not), in order. */
  readonly identityFiles: string[];
  readonly knownHostsFiles: string[];
}

export const DEFAULT_IDENTITY_FILES = ['id_ed25519', 'id_ecdsa', 'id_rsa'];

export function resolveHost(location: SftpLocation, configFile = path.join(homedir(), '.ssh', 'config')): ResolvedHost {
  let computed: Record<string, string | string[]> = {};
  if (existsSync(configFile)) {
    try {
      computed = SSHConfig.parse(readFileSync(configFile, 'utf8')).compute(location.host, { ignoreCase: true, matchExec: false } as never);
    } catch (e) {
      throw new CairnError('USAGE', `${configFile} cannot be read: ${(e as Error).message}`, { cause: e });
    }
  }
  const one = (key: string) => {
    const v = computed[key];
    return Array.isArray(v) ? v[0] : v;
  };
  for (const unsupported of ['proxyjump', 'proxycommand']) {
    if (one(unsupported) && one(unsupported)!.toLowerCase() !== 'none') {
      throw new CairnError('USAGE', `${configFile} sets ${unsupported === 'proxyjump' ? 'ProxyJump' : 'ProxyCommand'} for ${location.host}, which cairn does not support`, {
        hint: 'reach the server directly, or forward a local port with `ssh -L` and use sftp://user@localhost:PORT/path',
      });
    }
  }
  const hostName = (one('hostname') ?? location.host).replace(/%h/g, location.host);
  const port = location.port ?? (one('port') ? Number(one('port')) : 22);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new CairnError('USAGE', `port ${String(port)} for ${location.host} is not valid`);
  const files = computed.identityfile;
  const identityFiles = (Array.isArray(files) ? files : files ? [files] : []).map(expandHome);
  const knownHosts = one('userknownhostsfile');
  return {
    hostName,
    knownHostsName: hostName,
    user: location.user ?? one('user') ?? currentUserName(),
    port,
    identityFiles,
    knownHostsFiles: knownHosts ? knownHosts.split(/\s+/).filter(Boolean).map(expandHome) : [path.join(homedir(), '.ssh', 'known_hosts')],
  };
}

function expandHome(p: string): string {
  if (p === '~') return homedir();
  if (p.startsWith('~/')) return path.join(homedir(), p.slice(2));
  if (p.includes('%d')) return p.replace(/%d/g, homedir());
  return p;
}
