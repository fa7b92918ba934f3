/**
 * One progress line for long work (restore, verify --read-data, backup, check --read-data): entries, bytes,
 * rate and ETA, redrawn in place on a terminal; without one, a plain line every 30 s so a
 * log shows the run is alive without filling up.
 */
import { createRequire } from 'node:module';
import type { SingleBar } from 'cli-progress';
import { formatBytes, note } from './output.js';

/**
 * A redrawn bar on stderr in cairn's style. cli-progress is loaded for the first bar only:
 * without a terminal (cron, scripts) no command pays for loading it.
 */
export function terminalBar(format: string, fps?: number): SingleBar {
  const { SingleBar: Bar, Presets } = createRequire(import.meta.url)('cli-progress') as typeof import('cli-progress');
  return new Bar({ format, stream: process.stderr, hideCursor: true, ...(fps ? { fps } : {}) }, Presets.shades_classic);
}

export interface Counts {
  readonly entries: number;
  readonly bytes: number;
  readonly totalEntries?: number;
  readonly totalBytes?: number;
}

const PLAIN_LINE_EVERY_MS = 30_000;
/** Counts are formatted at most this often: a backup reports every entry (4,000 in a second). */
const UPDATE_EVERY_MS = 100;

export class ProgressLine {
  private bar: SingleBar | null = null;
  private readonly started = Date.now();
  private lastPlain = Date.now();
  private lastUpdate = 0;
  private skipped: Counts | null = null;

  /** `unit`: what `entries` counts (files and folders, or packs). */
  constructor(
    private readonly verb: string,
    private readonly unit = 'entries',
  ) {}

  update(c: Counts): void {
    const now = Date.now();
    if (now - this.lastUpdate < UPDATE_EVERY_MS) {
      this.skipped = c; // drawn by stop() if nothing comes after it
      return;
    }
    this.draw(c, now);
  }

  private draw(c: Counts, now: number): void {
    this.lastUpdate = now;
    this.skipped = null;
    const seconds = Math.max(0.001, (now - this.started) / 1000);
    const rate = c.bytes / seconds;
    const eta = c.totalBytes && rate > 0 ? Math.max(0, (c.totalBytes - c.bytes) / rate) : null;
    const counts = `${c.entries}${c.totalEntries !== undefined ? ` of ${c.totalEntries}` : ''} ${this.unit}, ${formatBytes(c.bytes)}${c.totalBytes !== undefined ? ` of ${formatBytes(c.totalBytes)}` : ''}`;
    const detail = `${formatBytes(rate)}/s${eta === null ? '' : `, ETA ${formatSeconds(eta)}`}`;
    if (process.stderr.isTTY) {
      const total = c.totalBytes || 1;
      this.bar ??= terminalBar(`cairn: ${this.verb} [{bar}] {percentage}% | {counts} | {detail}`, 5);
      if (!this.bar.isActive) this.bar.start(total, 0, { counts, detail });
      this.bar.update(Math.min(c.bytes, total), { counts, detail });
    } else if (now - this.lastPlain >= PLAIN_LINE_EVERY_MS) {
      this.lastPlain = now;
      note(`cairn: ${this.verb}: ${counts} (${detail})`);
    }
  }

  stop(): void {
    if (this.skipped && this.bar) this.draw(this.skipped, Date.now());
    this.bar?.stop();
    this.bar = null;
  }
}

function formatSeconds(s: number): string {
  if (s < 60) return `${Math.ceil(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}
