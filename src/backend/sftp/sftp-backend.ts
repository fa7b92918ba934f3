/**
 * The SFTP store: a folder on any server reachable by SSH (OpenSSH's sftp-server, a NAS).
 * The only module that talks SSH. Same contract as every backend (backend.ts):
 * atomic puts (temporary name, fsync@openssh.com when offered, posix-rename@openssh.com),
 * ranged reads, idempotent deletes.
 *
 * Transfers are split into pieces with several requests in flight, because SFTP is
 * request/response and one request at a time leaves the wire idle for a round trip.
 * Each operation is one attempt: a dropped or stalled connection (connection.ts) fails it
 * as UNREACHABLE and the next attempt connects afresh. `sftpBackend()` wraps it in the
 * retrying decorator (../retrying.ts), which repeats such operations with backoff (every
 * operation is idempotent); authentication and host-key failures are not retried.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import * as posix from 'node:path/posix';
import { createRequire } from 'node:module';
import type { Stats, FileEntry } from 'ssh2';
import type SftpClient from 'ssh2-sftp-client';
import { CairnError } from '../../errors/errors.js';
import { type Backend, type ByteRange, type ObjectKind, type ObjectRef, isObjectName, objectPath, storeFolders } from '../backend.js';
import { checkHostKey, fingerprint, hostKeyName, knownHostsLine, parseKnownHosts } from './known-hosts.js';
import { ConnectionLost, type Handle, SftpConnection } from './connection.js';
import { formatSftpLocation, type SftpLocation } from './location.js';
import { DEFAULT_IDENTITY_FILES, type ResolvedHost, resolveHost } from './ssh-config.js';
import { homedir } from 'node:os';
import * as path from 'node:path';

export interface SftpBackendOptions {
  readonly location: SftpLocation;
  /** A private key file to try first (`--ssh-key`). */
  readonly sshKey?: string;
  /** known_hosts file to check the server's key against (`--known-hosts`), instead of ssh's. */
  readonly knownHostsFile?: string;
  /** ~/.ssh/config by default. */
  readonly sshConfigFile?: string;
  /** Asks the user (password, key passphrase); undefined when nobody can answer. */
  readonly ask?: (prompt: string) => Promise<string | undefined>;
  /** Requests in flight per transfer. */
  readonly requestsInFlight?: number;
  /**
   * A connection with requests waiting and no answer for this long is given up and the
   * requests re-sent on a new one (default 15 s, or CAIRN_SFTP_TIMEOUT seconds); also the
   * limit for the SSH handshake. SSH keepalives go out at a third of it.
   */
  readonly requestTimeoutMs?: number;
}

/**
 * ssh2 and its SFTP client (40 modules, 0.1 s to load) are loaded when the first SFTP store
 * is opened, not by every command: most runs use a local store.
 */
let loadedSsh: { ssh2: typeof import('ssh2'); SftpClient: typeof SftpClient } | undefined;
function sshLibraries(): NonNullable<typeof loadedSsh> {
  const load = createRequire(import.meta.url);
  loadedSsh ??= { ssh2: load('ssh2') as typeof import('ssh2'), SftpClient: load('ssh2-sftp-client') as typeof SftpClient };
  return loadedSsh;
}

/** SFTP status codes (draft-ietf-secsh-filexfer-02). */
const SFTP_NO_SUCH_FILE = 2;
const SFTP_PERMISSION_DENIED = 3;
const SFTP_FAILURE = 4;

const PIECE = 128 * 1024;
const TEMP_SUFFIX = '.tmp';

function defaultRequestTimeoutMs(): number {
  const seconds = Number(process.env.CAIRN_SFTP_TIMEOUT);
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 15_000;
}

/** CAIRN_DEBUG_SFTP=1: log connections, drops and retries to stderr (for diagnosing). */
const debug = process.env.CAIRN_DEBUG_SFTP ? (m: string) => process.stderr.write(`sftp: ${m}\n`) : () => undefined;

export class SftpBackend implements Backend {
  readonly location: string;
  readonly remote = true;
  private readonly host: ResolvedHost;
  private readonly root: string;
  /** The live connection: ssh2's raw SFTP channel (pipelined requests, handles), watched. */
  private connection: SftpConnection | null = null;
  private connecting: Promise<SftpConnection> | null = null;
  /** Why the first connection was refused for good (host key, authentication). */
  private fatal: CairnError | null = null;
  /** Once connected, later refusals are retried (the mount keeps going offline). */
  private everConnected = false;
  private readonly inFlight: number;
  private readonly requestTimeoutMs: number;
  private closed = false;
  /** Remembered answers, so a reconnect does not ask again. */
  private password: string | undefined;
  private readonly keyPassphrases = new Map<string, string>();

  constructor(private readonly options: SftpBackendOptions) {
    this.location = formatSftpLocation(options.location);
    this.host = resolveHost(options.location, options.sshConfigFile);
    this.root = options.location.path;
    this.inFlight = options.requestsInFlight ?? 4; // best of 1–16 on loopback (BENCHMARKS.md)
    this.requestTimeoutMs = options.requestTimeoutMs ?? defaultRequestTimeoutMs();
  }

  // ---- connection ----

  private sftp(): Promise<SftpConnection> {
    if (this.closed) return Promise.reject(new CairnError('UNREACHABLE', `the connection to ${this.location} was closed`));
    if (this.connection && !this.connection.dead) return Promise.resolve(this.connection);
    this.connecting ??= this.connect().finally(() => (this.connecting = null));
    return this.connecting;
  }

  private async connect(): Promise<SftpConnection> {
    let connection: SftpConnection | null = null;
    const lost = (what: string) => () => {
      debug(`connection ${what}`);
      connection?.kill(`the connection ${what}`);
    };
    const client = new (sshLibraries().SftpClient)('cairn', { error: lost('failed'), end: lost('ended'), close: lost('closed') });
    let hostKeyProblem: CairnError | null = null;
    try {
      const sftp = await client.connect({
        host: this.host.hostName,
        port: this.host.port,
        username: this.host.user,
        readyTimeout: Math.max(this.requestTimeoutMs, 5000),
        keepaliveInterval: Math.max(1000, Math.round(this.requestTimeoutMs / 3)),
        keepaliveCountMax: 3,
        hostVerifier: (key: Buffer) => {
          hostKeyProblem = this.verifyHostKey(key);
          return hostKeyProblem === null;
        },
        authHandler: this.authHandler(),
      } as never);
      (client as unknown as { client: { setNoDelay(on: boolean): void; setMaxListeners(n: number): void } }).client.setNoDelay(true);
      (client as unknown as { client: { setMaxListeners(n: number): void } }).client.setMaxListeners(0);
      this.everConnected = true;
      connection = new SftpConnection(client, sftp as never, this.requestTimeoutMs, (dead, reason) => {
        debug(`giving up the connection: ${reason.message}`);
        if (this.connection === dead) this.connection = null;
      });
      this.connection = connection;
      return connection;
    } catch (e) {
      await client.end().catch(() => undefined);
      if (hostKeyProblem && this.everConnected) {
        // Mid-session (a mount): never talk to that host, but keep trying for the real one;
        // as "unreachable", the mount queues writes and `cairn status` shows this message.
        const problem = hostKeyProblem as CairnError;
        throw new CairnError('UNREACHABLE', problem.message, { hint: problem.hint });
      }
      if (hostKeyProblem) throw (this.fatal = hostKeyProblem);
      const message = (e as Error).message ?? String(e);
      if (/authentication methods failed|All configured authentication/i.test(message) && !this.everConnected) {
        throw (this.fatal = new CairnError('UNREACHABLE', `the server ${this.host.hostName} refused every way to log in as ${this.host.user}`, {
          hint: 'load your key into ssh-agent, give one with --ssh-key, or check the user name (user@host, or User in ~/.ssh/config)',
          cause: e,
          permanent: true,
        }));
      }
      throw new CairnError('UNREACHABLE', `cannot reach ${this.host.hostName} port ${this.host.port}: ${shortReason(message)}`, {
        hint: 'check the address and that the server is up; cairn retries by itself while mounted',
        cause: e,
      });
    }
  }

  private verifyHostKey(key: Buffer): CairnError | null {
    const files = this.options.knownHostsFile ? [this.options.knownHostsFile] : this.host.knownHostsFiles;
    const entries = files.filter((f) => existsSync(f)).flatMap((f) => parseKnownHosts(readFileSync(f, 'utf8'), f));
    const verdict = checkHostKey(entries, this.host.knownHostsName, this.host.port, key);
    const name = hostKeyName(this.host.knownHostsName, this.host.port);
    const where = files.join(', ');
    switch (verdict.status) {
      case 'known':
        return null;
      case 'unknown':
        return new CairnError('HOST_KEY', `the server ${name} is not in ${where}; its key fingerprint is ${fingerprint(key)}`, {
          hint: `check that fingerprint with the server's admin (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub there), then accept it by connecting once with \`ssh -p ${this.host.port} ${this.host.user}@${this.host.hostName}\`, or add this line to ${files[0]}:\n    ${knownHostsLine(this.host.knownHostsName, this.host.port, key)}`,
        });
      case 'changed':
        return new CairnError('HOST_KEY', `the host key of ${name} CHANGED: it is now ${fingerprint(key)}, but ${verdict.entries.map((e) => `${e.file}:${e.line}`).join(', ')} holds another key. Someone may be intercepting the connection, or the server was reinstalled; refusing`, {
          hint: `only if the server's admin confirms the new fingerprint, remove the old entry with \`ssh-keygen -R '${name}'\` and accept the new key`,
        });
      case 'revoked':
        return new CairnError('HOST_KEY', `the host key ${fingerprint(key)} of ${name} is marked @revoked in ${verdict.entry.file}:${verdict.entry.line}; refusing`);
    }
  }

  /** Authentication in ssh's order: agent, key files, then password if someone can type it. */
  private authHandler() {
    const user = this.host.user;
    const methods: (() => Promise<unknown | null>)[] = [];
    const agent = process.env.SSH_AUTH_SOCK;
    if (agent) methods.push(async () => ({ type: 'agent', username: user, agent }));
    for (const file of this.identityFiles()) methods.push(() => this.publicKeyMethod(file));
    methods.push(async () => {
      const password = this.password ?? (await this.options.ask?.(`Password for ${user}@${this.host.hostName}: `));
      if (password === undefined) return null;
      this.password = password;
      return { type: 'password', username: user, password };
    });
    let next = 0;
    return (_left: string[], _partial: boolean, callback: (method: unknown) => void) => {
      const attempt = async (): Promise<unknown> => {
        while (next < methods.length) {
          const method = await methods[next++]!().catch(() => null);
          if (method) return method;
        }
        return false;
      };
      void attempt().then(callback);
    };
  }

  private identityFiles(): string[] {
    const configured = this.host.identityFiles.length > 0 ? this.host.identityFiles : DEFAULT_IDENTITY_FILES.map((n) => path.join(homedir(), '.ssh', n));
    const files = [...(this.options.sshKey ? [this.options.sshKey] : []), ...configured];
    return [...new Set(files)].filter((f) => f === this.options.sshKey || existsSync(f));
  }

  private async publicKeyMethod(file: string): Promise<unknown | null> {
    let data: Buffer;
    try {
      data = readFileSync(file);
    } catch (e) {
      if (file === this.options.sshKey) throw new CairnError('USAGE', `cannot read the key file ${file}: ${(e as Error).message}`);
      return null;
    }
    let passphrase = this.keyPassphrases.get(file);
    let parsed = sshLibraries().ssh2.utils.parseKey(data, passphrase);
    if (parsed instanceof Error && /passphrase/i.test(parsed.message) && passphrase === undefined) {
      passphrase = await this.options.ask?.(`Passphrase for key ${file}: `);
      if (passphrase === undefined) return null;
      parsed = sshLibraries().ssh2.utils.parseKey(data, passphrase);
    }
    if (parsed instanceof Error) return null;
    if (passphrase !== undefined) this.keyPassphrases.set(file, passphrase);
    return { type: 'publickey', username: this.host.user, key: data, ...(passphrase !== undefined ? { passphrase } : {}) };
  }

  /**
   * Runs an operation once on the live connection (connecting first if there is none). A
   * failure of the connection gives it up and fails as UNREACHABLE, for the retrying
   * decorator to repeat on a new one; an SFTP status answer is translated, never repeated.
   */
  private async attempt<T>(what: string, op: (sftp: SftpConnection) => Promise<T>): Promise<T> {
    if (this.fatal) throw this.fatal;
    debug(what);
    try {
      return await op(await this.sftp());
    } catch (e) {
      debug(`${what} failed: ${(e as Error).message}`);
      if (e instanceof CairnError) throw e;
      if (isStatusError(e)) throw this.translate(e, what);
      if (!(e instanceof ConnectionLost)) this.connection?.kill(`it failed: ${(e as Error).message}`);
      throw this.unreachable(e, what);
    }
  }

  private unreachable(e: unknown, what: string): CairnError {
    return new CairnError('UNREACHABLE', `lost the connection to ${this.host.hostName} while ${what}: ${shortReason((e as Error).message ?? String(e))}`, {
      hint: 'check the network and the server; nothing already stored was changed',
      cause: e,
    });
  }

  private translate(e: unknown, what: string): CairnError {
    const code = (e as { code?: number }).code;
    if (code === SFTP_NO_SUCH_FILE) return new CairnError('NOT_FOUND', `${what}: does not exist on ${this.location}`, { cause: e });
    if (code === SFTP_PERMISSION_DENIED) {
      return new CairnError('UNREACHABLE', `${what}: permission denied on ${this.location}`, { hint: `check that ${this.host.user} may write the store folder on the server`, cause: e });
    }
    if (code === SFTP_FAILURE && what.startsWith('writing')) {
      return new CairnError('NO_SPACE', `${what}: the server could not write (its disk is probably full or over quota)`, {
        hint: 'free space on the server, then retry; nothing already stored was changed',
        cause: e,
      });
    }
    return new CairnError('UNREACHABLE', `${what}: the server failed: ${(e as Error).message}`, { cause: e });
  }

  private remotePath(ref: ObjectRef): string {
    return posix.join(this.root, objectPath(ref));
  }

  // ---- Backend ----

  async create(): Promise<void> {
    await this.attempt(`creating ${this.root}`, async (c) => {
      await mkdirs(c, this.root);
      // Only the folder layout of an attempt that lost its connection may be there already
      // (a repeated create finds its own folders), never anything else, and never a config.
      const layout = new Set(storeFolders().filter((f) => !f.includes('/')));
      const entries = (await c.readdir(this.root)).map((e) => e.filename);
      if (entries.some((name) => !layout.has(name))) throw new CairnError('EXISTS', `${this.location} is not empty`, { hint: 'choose an empty or new folder for a new repository' });
    });
    // One mkdir each, 16 in flight: the folders above exist now, and 262 round trips one
    // after another made `cairn init` take minutes over a link with 300 ms of latency.
    await this.attempt(`creating the folders of ${this.root}`, async (c) => {
      const folders = storeFolders();
      const top = folders.filter((f) => !f.includes('/'));
      const below = folders.filter((f) => f.includes('/'));
      for (const group of [top, below]) {
        await pieces(group.length, Math.max(this.inFlight, 16), (i) => mkdirIn(c, posix.join(this.root, group[i]!)), 1);
      }
    });
  }

  async put(ref: ObjectRef, data: Uint8Array): Promise<void> {
    const target = this.remotePath(ref);
    await this.attempt(`writing ${objectPath(ref)}`, async (c) => {
      const temp = `${target}.${randomBytes(8).toString('hex')}${TEMP_SUFFIX}`;
      let handle: Handle;
      try {
        handle = await c.call<Handle>((cb) => c.sftp.open(temp, 'w', cb));
      } catch (e) {
        if ((e as { code?: number }).code !== SFTP_NO_SUCH_FILE) throw e;
        await mkdirs(c, posix.dirname(target)); // a copy of the store dropped an empty folder
        handle = await c.call<Handle>((cb) => c.sftp.open(temp, 'w', cb));
      }
      try {
        const buffer = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
        await pieces(buffer.length, this.inFlight, (offset, length) => c.call((cb) => c.sftp.write(handle, buffer, offset, length, offset, cb)));
        await c.call((cb) => c.sftp.ext_openssh_fsync(handle, cb)).catch((e: unknown) => {
          if (!/not support/i.test((e as Error).message)) throw e;
        });
      } catch (e) {
        await c.call((cb) => c.sftp.close(handle, cb)).catch(() => undefined);
        await c.call((cb) => c.sftp.unlink(temp, cb)).catch(() => undefined);
        throw e;
      }
      await c.call((cb) => c.sftp.close(handle, cb));
      try {
        await c.call((cb) => c.sftp.ext_openssh_rename(temp, target, cb));
      } catch (e) {
        if (!/not support/i.test((e as Error).message)) throw e;
        await c.call((cb) => c.sftp.rename(temp, target, cb));
      }
    });
  }

  async get(ref: ObjectRef, range?: ByteRange): Promise<Uint8Array> {
    const file = this.remotePath(ref);
    return this.attempt(`reading ${objectPath(ref)}`, (c) => c.withReader(file, async (handle) => {
      const offset = range?.offset ?? 0;
      const length = range?.length ?? (await c.call<Stats>((cb) => c.sftp.fstat(handle, cb))).size - offset;
      const out = Buffer.allocUnsafe(length);
      let short = false;
      await pieces(length, this.inFlight, async (at, n) => {
        const got = await readFully(c, handle, out, at, n, offset + at);
        if (got < n) short = true;
      });
      if (short) {
        throw new CairnError('CORRUPT', `${objectPath(ref)} is shorter than expected (wanted ${length} bytes at ${offset})`, {
          hint: 'the store lost data: run `cairn check --read-data STORE`',
        });
      }
      return out;
    }));
  }

  async size(ref: ObjectRef): Promise<number | null> {
    try {
      return await this.attempt(`looking at ${objectPath(ref)}`, async (c) => (await c.call<Stats>((cb) => c.sftp.stat(this.remotePath(ref), cb))).size);
    } catch (e) {
      if (e instanceof CairnError && e.code === 'NOT_FOUND') return null;
      throw e;
    }
  }

  async list(kind: Exclude<ObjectKind, 'config'>): Promise<string[]> {
    const base = posix.join(this.root, kind);
    return this.attempt(`listing ${kind}/`, async (c) => {
      let top: FileEntry[];
      try {
        top = await c.readdir(base);
      } catch (e) {
        // A folder may be missing (some copy tools drop empty folders): it holds nothing.
        if ((e as { code?: number }).code === SFTP_NO_SUCH_FILE) return [];
        throw e;
      }
      if (kind !== 'data') return top.map((e) => e.filename).filter(isObjectName);
      const subs = top.map((e) => e.filename).filter((n) => /^[0-9a-f]{2}$/.test(n));
      const names: string[] = [];
      await pieces(subs.length, this.inFlight, async (i) => {
        const entries = await c.readdir(posix.join(base, subs[i]!));
        names.push(...entries.map((e) => e.filename).filter(isObjectName));
      }, 1);
      return names;
    });
  }

  async delete(ref: ObjectRef): Promise<void> {
    const file = this.remotePath(ref);
    await this.attempt(`deleting ${objectPath(ref)}`, async (c) => {
      c.forgetReader(file);
      try {
        await c.call((cb) => c.sftp.unlink(file, cb));
      } catch (e) {
        if ((e as { code?: number }).code !== SFTP_NO_SUCH_FILE) throw e;
      }
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const connection = this.connection;
    this.connection = null;
    connection?.kill('closed by cairn');
  }
}

/** Reads until `length` bytes or end of file; returns the bytes read. */
async function readFully(c: SftpConnection, handle: Handle, out: Buffer, at: number, length: number, position: number): Promise<number> {
  let done = 0;
  while (done < length) {
    const n = await c
      .call<number>((cb) => c.sftp.read(handle, out, at + done, length - done, position + done, (err, bytesRead) => cb(err, bytesRead)))
      .catch((e: unknown) => {
        if ((e as { code?: number }).code === 1) return 0; // EOF
        throw e;
      });
    if (n === 0) break;
    done += n;
  }
  return done;
}

/**
 * Runs `work(offset, length)` over [0, total) in pieces of `size`, at most `parallel` at a
 * time. With size 1 it is a bounded parallel loop over indexes.
 */
async function pieces(total: number, parallel: number, work: (offset: number, length: number) => Promise<unknown>, size = PIECE): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async () => {
    // After the first failure no worker starts another piece: the caller gives up, and may
    // reuse the bytes being written once this settles (Backend.put's contract).
    while (!failed && next < total) {
      const offset = next;
      next += size;
      try {
        await work(offset, Math.min(size, total - offset));
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, Math.ceil(total / size)) }, worker));
}

/** mkdir -p: one round trip when the parent exists (the usual case), more only for missing parents. */
async function mkdirs(c: SftpConnection, dir: string): Promise<void> {
  try {
    await c.call((cb) => c.sftp.mkdir(dir, cb));
    return;
  } catch (e) {
    if (e instanceof ConnectionLost) throw e;
    const stats = await statOrNull(c, dir);
    if (stats?.isDirectory()) return;
    if (stats) throw new CairnError('USAGE', `${dir} on the server is not a folder`);
  }
  const parent = posix.dirname(dir);
  if (parent === dir || parent === '.' || parent === '/') return mkdirIn(c, dir);
  await mkdirs(c, parent);
  await mkdirIn(c, dir);
}

/** mkdir of one folder whose parent exists; a folder already there is fine. */
async function mkdirIn(c: SftpConnection, dir: string): Promise<void> {
  try {
    await c.call((cb) => c.sftp.mkdir(dir, cb));
  } catch (e) {
    if (e instanceof ConnectionLost) throw e;
    // Exists already (OpenSSH answers FAILURE for that), or a parent we may not create:
    // the next step or the final stat tells which.
    const stats = await statOrNull(c, dir);
    if (!stats) throw e;
    if (!stats.isDirectory()) throw new CairnError('USAGE', `${dir} on the server is not a folder`);
  }
}

function isStatusError(e: unknown): boolean {
  return typeof (e as { code?: unknown })?.code === 'number';
}

function shortReason(message: string): string {
  return message.replace(/^getConnection: /, '').replace(/^connect: /, '');
}

/**
 * stat, or null when the path cannot be stat'ed. A lost connection is thrown as it is, so the
 * caller's retry sends the work again: reported as the mkdir's FAILURE instead, a connection
 * lost at that moment made store creation fail for good (seen on a slow link).
 */
async function statOrNull(c: SftpConnection, dir: string): Promise<Stats | null> {
  try {
    return await c.call<Stats>((cb) => c.sftp.stat(dir, cb));
  } catch (e) {
    if (e instanceof ConnectionLost) throw e;
    return null;
  }
}
