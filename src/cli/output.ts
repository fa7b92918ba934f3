/** Formatting for people: sizes, times, tables; notes to stderr or a log file. */
import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

/** Local time as YYYY-MM-DD HH:MM:SS. */
export function formatLocalTime(timeNs: bigint): string {
  const d = new Date(Number(timeNs / 1_000_000n));
  const two = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((r) => r[col]!.length)));
  return rows.map((r) => r.map((cell, col) => cell.padEnd(widths[col]!)).join('  ').trimEnd()).join('\n');
}

export function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

let logFile: string | undefined;

/**
 * From now on, notes go to `file` (appended), each line with its time (ISO 8601, UTC):
 * a mount running for months without a terminal (`cairn mount --log-file`, `--daemon`).
 */
export function logTo(file: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  appendFileSync(file, '');
  logFile = file;
}

export function note(line: string): void {
  if (logFile) {
    const at = new Date().toISOString();
    appendFileSync(logFile, line.split('\n').map((l) => `${at} ${l}\n`).join(''));
  } else {
    process.stderr.write(`${line}\n`);
  }
}

/**
 * Names each damaged object a reader left out (Repository `skipDamaged`) and what that
 * means; returns how many there were, so the command can end with the damage exit code.
 */
export function reportSkipped(skipped: readonly { readonly object: string; readonly reason: string }[]): number {
  for (const s of skipped) note(`cairn: left out ${s.object}: ${s.reason}`);
  if (skipped.length > 0) {
    note(`  what it names is missing here (a snapshot, the forget list, or the location of data an index file lists); the rest is shown`);
    note('  run `cairn check STORE` for the full list of damage; back up elsewhere before pruning');
  }
  return skipped.length;
}
