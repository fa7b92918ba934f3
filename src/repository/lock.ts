/**
 * One writer per repository (docs/FORMAT.md "Locks"): a sealed locks/<id> object naming
 * host, pid, user and time, rewritten every few minutes while held. Three kinds:
 *   read   (read-only mounts)         excludes only prune
 *   write  (read-write mount, forget) excludes other writers and prune
 *   prune                             excludes everyone (it deletes data readers may need)
 *
 * Acquiring: write our lock, then list the others. A conflicting live lock means we remove
 * ours and refuse, naming the holder. A lock of a dead process on this host is removed
 * silently; one from another host not refreshed for STALE_AFTER_MS is reported as stale with
 * the command that breaks it (it may be a machine that is asleep, not dead).
 */
import { putSealed } from './sealed-store.js';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { currentUserName } from '../backend/local-user.js';
import { CairnError, isCairnError } from '../errors/errors.js';
import { openObject } from '../format/sealed.js';
import type { Repository } from './repository.js';

export const REFRESH_EVERY_MS = 5 * 60 * 1000;
export const STALE_AFTER_MS = 30 * 60 * 1000;

export interface LockInfo {
  readonly host: string;
  readonly pid: number;
  readonly user: string;
  /** Milliseconds since the epoch, when written. */
  readonly time: number;
  /** A writer (or prune): no second one may run. */
  readonly exclusive: boolean;
  /** Prune: deletes packs, so not even readers may run beside it. */
  readonly prune?: boolean;
  readonly nonce: string;
}

export type LockKind = 'read' | 'write' | 'prune';

function conflicts(a: LockInfo, b: LockInfo): boolean {
  return Boolean(a.prune || b.prune || (a.exclusive && b.exclusive));
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function describeLock(info: LockInfo, now = Date.now()): string {
  const minutes = Math.round((now - info.time) / 60000);
  return `${info.user}@${info.host} pid ${info.pid} (${info.prune ? 'prune' : info.exclusive ? 'read-write' : 'read-only'}, refreshed ${minutes} min ago)`;
}

export class RepositoryLock {
  private name: string;
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly repo: Repository,
    private info: LockInfo,
    name: string,
  ) {
    this.name = name;
  }

  /** `whenBusy`: what to tell the user when a live holder refuses us (the command knows best). */
  static async acquire(repo: Repository, kind: LockKind, whenBusy?: string): Promise<RepositoryLock> {
    const info: LockInfo = {
      host: hostname(), pid: process.pid, user: currentUserName(), time: Date.now(),
      exclusive: kind !== 'read', ...(kind === 'prune' ? { prune: true } : {}), nonce: randomBytes(8).toString('hex'),
    };
    const name = await writeLock(repo, info);
    const lock = new RepositoryLock(repo, info, name);
    try {
      for (const other of await listLocks(repo)) {
        if (other.name === name) continue;
        if (!other.info) {
          throw new CairnError('LOCKED', `the repository has a lock object that cannot be read (locks/${other.name})`, {
            hint: `if no other cairn uses this repository, remove it with \`cairn unlock STORE\``,
          });
        }
        if (!conflicts(info, other.info)) continue;
        if (other.info.host === info.host && !processAlive(other.info.pid)) {
          await repo.backend.delete({ kind: 'locks', name: other.name });
          continue;
        }
        const age = Date.now() - other.info.time;
        if (age > STALE_AFTER_MS) {
          throw new CairnError('LOCKED', `the repository is locked by ${describeLock(other.info)}, which looks stale`, {
            hint: 'if that process is gone, break the lock with `cairn unlock STORE`',
          });
        }
        throw new CairnError('LOCKED', `the repository is in use by ${describeLock(other.info)}`, {
          hint: whenBusy ?? (kind === 'write' && !other.info.prune ? 'unmount it there first, or mount this one with --read-only' : kind === 'prune' ? 'unmount every mount of it first (prune deletes data they may read)' : 'wait for it to finish'),
        });
      }
    } catch (e) {
      await lock.release();
      throw e;
    }
    lock.timer = setInterval(() => void lock.refresh().catch(() => undefined), REFRESH_EVERY_MS);
    lock.timer.unref();
    return lock;
  }

  private async refresh(): Promise<void> {
    const info = { ...this.info, time: Date.now() };
    const name = await writeLock(this.repo, info);
    const old = this.name;
    this.info = info;
    this.name = name;
    await this.repo.backend.delete({ kind: 'locks', name: old });
  }

  /**
   * Stops refreshing but leaves the lock on the store: a mount that exits with uploads still
   * queued keeps other writers out until this machine's next mount sends them (it takes
   * over the lock of its own dead process).
   */
  abandon(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  async release(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.repo.backend.delete({ kind: 'locks', name: this.name });
  }
}

async function writeLock(repo: Repository, info: LockInfo): Promise<string> {
  return putSealed(repo.backend, repo.keys.encryption, 'lock', Buffer.from(JSON.stringify(info)));
}

/** Every lock on the store; `info` is null for one that cannot be read (damaged or foreign). */
export async function listLocks(repo: Repository): Promise<{ name: string; info: LockInfo | null }[]> {
  const names = await repo.backend.list('locks');
  const locks = await Promise.all(
    names.map(async (name) => {
      try {
        const box = await repo.backend.get({ kind: 'locks', name });
        return { name, info: JSON.parse(openObject(repo.keys.encryption, 'lock', box, `locks/${name}`).toString()) as LockInfo };
      } catch (e) {
        // Released between listing and reading: not a lock any more.
        if (isCairnError(e, 'NOT_FOUND')) return null;
        return { name, info: null };
      }
    }),
  );
  return locks.filter((l): l is { name: string; info: LockInfo | null } => l !== null);
}

/** Why a lock may be broken without harming its holder, or null when it looks alive. */
export function breakableReason(lock: { info: LockInfo | null }, now = Date.now()): string | null {
  if (!lock.info) return 'unreadable';
  if (lock.info.host === hostname() && !processAlive(lock.info.pid)) return 'its process is gone';
  if (now - lock.info.time > STALE_AFTER_MS) return 'not refreshed for over 30 minutes';
  return null;
}

export async function removeLock(repo: Repository, name: string): Promise<void> {
  await repo.backend.delete({ kind: 'locks', name });
}
