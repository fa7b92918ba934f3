/**
 * The journal's bytes (docs/LOCAL_STATE.md "The journal"): pure encode and parse, no I/O.
 *
 * Every line is `<crc32 of the JSON, 8 lower-case hex> <JSON>\n`. The first line is the
 * header; each further line is one record. A line is complete only when it ends in `\n`
 * and its checksum matches, so a record torn by a crash (or a zero-filled tail after a
 * power loss) is recognised and never read as a change. Parsing reports where the complete
 * part ends; the journal cuts everything after it before appending again.
 */
import { crc32 } from 'node:zlib';

/** Version 4 added the `chunks` record; an older cairn refuses such a journal instead of misreading it. */
export const JOURNAL_VERSION = 4;
/** Older journals are still read: version 3 has no `chunks` records, version 2's write records name per-file staging files. */
const READABLE_VERSIONS: readonly number[] = [2, 3, 4];

export interface JournalHeader {
  readonly journal: 'cairn';
  readonly version: number;
  /** The snapshot the records apply to, or null for an empty repository. */
  readonly base: string | null;
}

export type ParsedJournal =
  | {
      readonly kind: 'ok';
      readonly header: JournalHeader;
      /** The JSON of every complete record, in order (not yet checked as records). */
      readonly records: unknown[];
      /** Bytes of the complete part; anything after it is a torn tail to cut off. */
      readonly validLength: number;
    }
  /** Written by cairn before journal version 2 (JSON lines without checksums). */
  | { readonly kind: 'version1'; readonly base: string | null; readonly records: number }
  /** Not a journal, or damaged before its end: a complete record follows a broken one. */
  | { readonly kind: 'damaged'; readonly reason: string; readonly records: unknown[]; readonly header: JournalHeader | null };

const NEWLINE = 0x0a;
const CHECKSUM_HEX = 8;

/** One journal line for a JSON text (header or record). */
export function encodeLine(json: string): Buffer {
  const body = Buffer.from(json, 'utf8');
  const line = Buffer.allocUnsafe(CHECKSUM_HEX + 1 + body.length + 1);
  line.write(crc32(body).toString(16).padStart(CHECKSUM_HEX, '0'), 0, 'latin1');
  line[CHECKSUM_HEX] = 0x20;
  body.copy(line, CHECKSUM_HEX + 1);
  line[line.length - 1] = NEWLINE;
  return line;
}

export function encodeHeader(base: string | null): Buffer {
  const header: JournalHeader = { journal: 'cairn', version: JOURNAL_VERSION, base };
  return encodeLine(JSON.stringify(header));
}

/** The JSON of a complete line (`end` is the index of its newline), or undefined. */
function lineJson(bytes: Uint8Array, start: number, end: number): unknown {
  if (end - start < CHECKSUM_HEX + 2 || bytes[start + CHECKSUM_HEX] !== 0x20) return undefined;
  const hex = Buffer.from(bytes.buffer, bytes.byteOffset + start, CHECKSUM_HEX).toString('latin1');
  if (!/^[0-9a-f]{8}$/.test(hex)) return undefined;
  const body = Buffer.from(bytes.buffer, bytes.byteOffset + start + CHECKSUM_HEX + 1, end - start - CHECKSUM_HEX - 1);
  if (crc32(body) !== parseInt(hex, 16)) return undefined;
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

function isHeader(value: unknown): value is JournalHeader {
  const h = value as Partial<JournalHeader> | undefined;
  return typeof h === 'object' && h !== null && h.journal === 'cairn' && READABLE_VERSIONS.includes(h.version as number) && (h.base === null || (typeof h.base === 'string' && /^[0-9a-f]{64}$/.test(h.base)));
}

export function parseJournal(bytes: Uint8Array): ParsedJournal {
  const legacy = parseVersion1(bytes);
  if (legacy) return legacy;
  const firstEnd = bytes.indexOf(NEWLINE);
  const header = firstEnd < 0 ? undefined : lineJson(bytes, 0, firstEnd);
  if (!isHeader(header)) return { kind: 'damaged', reason: 'its first line is not a cairn journal header', records: [], header: null };
  const records: unknown[] = [];
  let pos = firstEnd + 1;
  while (pos < bytes.length) {
    const end = bytes.indexOf(NEWLINE, pos);
    const json = end < 0 ? undefined : lineJson(bytes, pos, end);
    if (json === undefined) {
      // A broken line is a torn tail only if nothing complete follows it.
      if (completeLineAfter(bytes, pos)) {
        return { kind: 'damaged', reason: `record ${records.length + 1} (byte ${pos}) is damaged and complete records follow it`, records, header };
      }
      return { kind: 'ok', header, records, validLength: pos };
    }
    records.push(json);
    pos = end + 1;
  }
  return { kind: 'ok', header, records, validLength: pos };
}

function completeLineAfter(bytes: Uint8Array, from: number): boolean {
  for (let start = bytes.indexOf(NEWLINE, from); start >= 0 && start + 1 < bytes.length; ) {
    const end = bytes.indexOf(NEWLINE, start + 1);
    if (end < 0) return false;
    if (lineJson(bytes, start + 1, end) !== undefined) return true;
    start = end;
  }
  return false;
}

/** Journals of cairn before version 2 began with a plain JSON header line. */
function parseVersion1(bytes: Uint8Array): ParsedJournal | undefined {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, 256)).toString('utf8');
  if (!text.startsWith('{"journal":"cairn","version":1')) return undefined;
  const lines = Buffer.from(bytes).toString('utf8').split('\n');
  let base: string | null = null;
  try {
    base = (JSON.parse(lines[0]!) as { base: string | null }).base;
  } catch {
    return undefined;
  }
  return { kind: 'version1', base, records: lines.slice(1).filter((l) => l !== '').length };
}
