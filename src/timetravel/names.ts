/**
 * Names of the folders in `.snapshots/`: each snapshot's local time as YYYY-MM-DD_HHMMSS
 * (sortable, no colons: safe for file managers and SMB), with _2, _3 … when several fall in
 * one second, plus `latest`, a symlink to the newest. Pure: snapshot list in, names out.
 */
export const SNAPSHOTS_DIR = '.snapshots';
export const LATEST = 'latest';

export interface Dated {
  readonly id: string;
  readonly timeNs: bigint;
}

export function folderName(timeNs: bigint): string {
  const d = new Date(Number(timeNs / 1_000_000n));
  const two = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}_${two(d.getHours())}${two(d.getMinutes())}${two(d.getSeconds())}`;
}

/** Folder name for every snapshot, in the given (oldest first) order. */
export function snapshotFolders(snapshots: readonly Dated[]): { name: string; id: string }[] {
  const used = new Map<string, number>();
  return snapshots.map((s) => {
    const base = folderName(s.timeNs);
    const count = (used.get(base) ?? 0) + 1;
    used.set(base, count);
    return { name: count === 1 ? base : `${base}_${count}`, id: s.id };
  });
}
