/**
 * A read lock for long reads (restore, verify): it keeps `prune` from deleting packs they
 * still need. A store that cannot take a lock object (read-only media, a copy on a DVD) is
 * still readable: say so and go on without one. A conflicting prune still refuses.
 */
import { isCairnError } from '../errors/errors.js';
import { RepositoryLock } from '../repository/lock.js';
import type { Repository } from '../repository/repository.js';
import { note } from './output.js';

export async function withReadLock<T>(repo: Repository, work: () => Promise<T>): Promise<T> {
  let lock: RepositoryLock | null = null;
  try {
    lock = await RepositoryLock.acquire(repo, 'read');
  } catch (e) {
    if (isCairnError(e, 'LOCKED')) throw e;
    note(`cairn: could not write a read lock (${(e as Error).message}); reading without one: do not prune this store meanwhile`);
  }
  try {
    return await work();
  } finally {
    await lock?.release().catch(() => undefined);
  }
}
