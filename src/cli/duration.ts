import { CairnError } from '../errors/errors.js';

/** "90", "90s", "15m", "1h", "2d" -> milliseconds. */
export function parseDuration(text: string, option: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) throw new CairnError('USAGE', `${option} takes a duration like 30s, 15m or 1h, not ${text}`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h' | 'd'];
  return Math.round(Number(m[1]) * unit);
}

/** "500M", "2G", "1.5T", "1048576" -> bytes (binary units). */
export function parseSize(text: string, option: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(i?B)?$/i.exec(text.trim());
  if (!m) throw new CairnError('USAGE', `${option} takes a size like 500M or 2G, not ${text}`);
  const power = ['', 'K', 'M', 'G', 'T'].indexOf(m[2]!.toUpperCase());
  return Math.round(Number(m[1]) * 1024 ** power);
}
