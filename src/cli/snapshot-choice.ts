/** The snapshot a command's SNAPSHOT argument or --time option names (latest when neither). */
import { CairnError } from '../errors/errors.js';
import type { Repository } from '../repository/repository.js';
import { findSnapshot, nameSnapshots, snapshotAt, type NamedSnapshot } from '../timetravel/snapshot-ref.js';

export async function chooseSnapshot(repo: Repository, ref: string | undefined, time: string | undefined): Promise<NamedSnapshot> {
  if (ref !== undefined && time !== undefined) throw new CairnError('USAGE', 'give a snapshot or --time, not both');
  const named = nameSnapshots(await repo.listSnapshots());
  return time !== undefined ? snapshotAt(named, time) : findSnapshot(named, ref);
}

export function describeSnapshot(s: NamedSnapshot): string {
  return `${s.stored.id.slice(0, 12)} (${s.name})`;
}
