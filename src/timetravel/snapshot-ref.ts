/**
 * Which snapshot a command means: an id or a unique prefix of one, a `.snapshots/` folder
 * name (2026-11-20_220000), `latest`, or a time like duplicity's `--time` (3D, 2W,
 * 2026-11-20, 2026-11-20T22:00): the newest snapshot at or before it. Pure: list in, choice out.
 */
import { CairnError } from '../errors/errors.js';
import type { StoredSnapshot } from '../repository/repository.js';
import { LATEST, snapshotFolders } from './names.js';

export interface NamedSnapshot {
  /** Its folder name in `.snapshots/`. */
  readonly name: string;
  readonly stored: StoredSnapshot;
}

/** Every snapshot (oldest first, as Repository.listSnapshots gives them) with its folder name. */
export function nameSnapshots(snapshots: readonly StoredSnapshot[]): NamedSnapshot[] {
  const names = snapshotFolders(snapshots.map((s) => ({ id: s.id, timeNs: s.snapshot.timeNs })));
  return names.map((n, i) => ({ name: n.name, stored: snapshots[i]! }));
}

/** The snapshot `ref` names (latest when undefined). */
export function findSnapshot(snapshots: readonly NamedSnapshot[], ref: string | undefined): NamedSnapshot {
  if (snapshots.length === 0) throw new CairnError('USAGE', 'the repository has no snapshots yet');
  if (ref === undefined || ref === LATEST) return snapshots[snapshots.length - 1]!;
  const byName = snapshots.find((s) => s.name === ref);
  if (byName) return byName;
  if (/^[0-9a-f]{4,64}$/.test(ref)) {
    const matches = snapshots.filter((s) => s.stored.id.startsWith(ref));
    if (matches.length === 1) return matches[0]!;
    if (matches.length > 1) {
      throw new CairnError('USAGE', `the id prefix ${ref} is ambiguous: ${matches.map((m) => `${m.stored.id.slice(0, 12)} (${m.name})`).join(', ')}`, {
        hint: 'give more characters of the id',
      });
    }
  }
  throw new CairnError('USAGE', `no snapshot is named ${ref}`, {
    hint: 'give an id (or at least 4 of its first characters), a folder name like 2026-11-20_220000, latest, or --time; `cairn snapshots STORE` lists them',
  });
}

/** The newest snapshot taken at or before `time` (see parseTime). */
export function snapshotAt(snapshots: readonly NamedSnapshot[], time: string, now = Date.now()): NamedSnapshot {
  const limitNs = BigInt(parseTime(time, now)) * 1_000_000n;
  let chosen: NamedSnapshot | undefined;
  for (const s of snapshots) if (s.stored.snapshot.timeNs <= limitNs && (!chosen || s.stored.snapshot.timeNs >= chosen.stored.snapshot.timeNs)) chosen = s;
  if (!chosen) throw new CairnError('USAGE', `no snapshot is as old as ${time}`, { hint: '`cairn snapshots STORE` lists them with their times' });
  return chosen;
}

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, D: 86_400_000, W: 7 * 86_400_000, M: 30 * 86_400_000, Y: 365 * 86_400_000 } as const;

/**
 * A point in time as milliseconds since the epoch: an age like duplicity's (`90s`, `15m`,
 * `3h`, `3D`, `2W`, `6M`, `1Y`: that long before `now`), or a local date or date and time
 * (`2026-11-20`: the end of that day; `2026-11-20T22:00`, `2026-11-20 22:00:05`).
 */
export function parseTime(text: string, now = Date.now()): number {
  const age = /^(\d+)([smhDWMY])$/.exec(text.trim());
  if (age) return now - Number(age[1]) * UNIT_MS[age[2] as keyof typeof UNIT_MS];
  const at = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?$/.exec(text.trim());
  if (at) {
    const [, y, mo, d, h, mi, s] = at;
    const date = h === undefined
      ? new Date(Number(y), Number(mo) - 1, Number(d), 23, 59, 59, 999)
      : new Date(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s ?? 59), s === undefined ? 999 : 999);
    if (!Number.isNaN(date.getTime()) && date.getMonth() === Number(mo) - 1) return date.getTime();
  }
  throw new CairnError('USAGE', `--time takes an age like 3D, 2W, 12h or a date like 2026-11-20 or 2026-11-20T22:00, not ${text}`);
}
