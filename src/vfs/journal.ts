/**
 * The journal file: every change to the live tree since the base snapshot, appended before
 * the change is acknowledged; replayed at the next mount after a crash; replaced when a
 * snapshot captures the tree. Bytes as in src/vfs/journal-format.ts (docs/LOCAL_STATE.md).
 *
 * A record is appended whole or not at all: a failed write (a full disk) is cut back off
 * before the error goes to the caller, and a torn tail left by a crash is cut off when the
 * journal is opened, before anything is appended after it.
 */
import { closeSync, copyFileSync, existsSync, fsyncSync, ftruncateSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import { CairnError } from '../errors/errors.js';
import { encodeHeader, encodeLine, type JournalHeader, parseJournal } from './journal-format.js';
import { type JournalRecord, recordJson } from './records.js';

export const JOURNAL_FILE = 'journal';
/**
 * Written (fsync'd) just before a mount saves a snapshot, removed once the journal names it:
 * after a crash in between, it tells the mount's own snapshot (which already holds every
 * record) from one someone else saved meanwhile (docs/LOCAL_STATE.md "Snapshot mark").
 */
export const SNAPSHOT_MARK_FILE = 'snapshot-mark';

/** What a snapshot mark holds: the journal's base then, and the time the snapshot is saved with. */
export interface SnapshotMark {
  readonly base: string | null;
  readonly timeNs: bigint;
}

/** The journal cannot be replayed as it is; `validRecords` are the complete ones before the damage. */
export class JournalDamage extends CairnError {
  constructor(
    message: string,
    hint: string,
    readonly base: string | null,
    readonly validRecords: readonly unknown[],
  ) {
    super('JOURNAL', message, { hint });
  }
}

export interface OpenedJournal {
  readonly journal: Journal;
  readonly header: JournalHeader;
  /** The complete records, as parsed JSON (src/vfs/records.ts checks each). */
  readonly records: readonly unknown[];
  /** Bytes of a torn tail that were cut off (a record never acknowledged). */
  readonly cutBytes: number;
}

export class Journal {
  /** Records appended or replayed since the base snapshot. */
  records: number;
  /**
   * Where the journal is, as a number that only grows (bytes appended over this process's
   * life, plus one per reset): what is recorded at a position is on disk once `durable`
   * reaches it.
   */
  position: number;
  durable: number;
  /** Called after each sync or reset with the new `durable` (staging reclaims space then). */
  onDurable: ((durable: number) => void) | undefined;

  private constructor(
    private readonly file: string,
    private fd: number,
    /** Length of the complete part: where the next record goes, and where a failed one is cut. */
    private length: number,
    records: number,
  ) {
    this.records = records;
    this.position = length;
    this.durable = length;
  }

  static open(dir: string, defaultBase: string | null): OpenedJournal {
    const file = path.join(dir, JOURNAL_FILE);
    if (!existsSync(file)) writeFresh(file, defaultBase, []);
    const bytes = readFileSync(file);
    const parsed = parseJournal(bytes);
    const hint = `mount with --salvage to keep the changes before the damage (a copy of the journal stays in ${dir}), or move ${dir} away to mount the last snapshot`;
    switch (parsed.kind) {
      case 'version1':
        if (parsed.records > 0) {
          throw new JournalDamage(
            `the journal in ${dir} holds ${parsed.records} unsaved change(s) written by an older cairn, whose numbering this version cannot replay safely`,
            `mount once with the cairn version that wrote it to save them, or ${hint.replace('to keep the changes before the damage', 'to set them aside')}`,
            parsed.base,
            [],
          );
        }
        writeFresh(file, parsed.base, []);
        return Journal.open(dir, defaultBase);
      case 'damaged':
        throw new JournalDamage(`the journal in ${dir} is damaged: ${parsed.reason}`, hint, parsed.header?.base ?? null, parsed.records);
      case 'ok': {
        const fd = openSync(file, 'r+');
        const cutBytes = bytes.length - parsed.validLength;
        // Never append after a torn record: the next one would be glued to it and lost.
        if (cutBytes > 0) ftruncateSync(fd, parsed.validLength);
        // What a killed process left may be in the page cache only: durable before it is used.
        fsyncSync(fd);
        const journal = new Journal(file, fd, parsed.validLength, parsed.records.length);
        return { journal, header: parsed.header, records: parsed.records, cutBytes };
      }
    }
  }

  /**
   * Replaces the journal in `dir` by `base` and the given records, keeping a copy of the old
   * one as `journal.set-aside-<time>` (what --salvage does before replaying what it can).
   */
  static rewrite(dir: string, base: string | null, records: readonly unknown[]): string {
    const file = path.join(dir, JOURNAL_FILE);
    const copy = `${file}.set-aside-${new Date().toISOString().replace(/[:.]/g, '')}`;
    copyFileSync(file, copy);
    syncFile(copy);
    writeFresh(file, base, records.map((r) => JSON.stringify(r)));
    return copy;
  }

  /** Changes a killed mount left in `dir` (0 when there is no journal), without opening it for writing. */
  static pendingRecords(dir: string): number {
    const file = path.join(dir, JOURNAL_FILE);
    if (!existsSync(file)) return 0;
    const parsed = parseJournal(readFileSync(file));
    return parsed.kind === 'version1' ? parsed.records : parsed.kind === 'ok' ? parsed.records.length : parsed.records.length + 1;
  }

  /** Appends one record; on failure nothing of it stays and the error carries the errno. */
  append(record: JournalRecord): void {
    const line = encodeLine(recordJson(record));
    try {
      let done = 0;
      while (done < line.length) done += writeSync(this.fd, line, done, line.length - done, this.length + done);
    } catch (e) {
      try {
        ftruncateSync(this.fd, this.length);
      } catch {
        // The cut failed too; the next open cuts the torn bytes (they fail their checksum).
      }
      throw e;
    }
    this.length += line.length;
    this.position += line.length;
    this.records++;
  }

  sync(): void {
    fsyncSync(this.fd);
    this.madeDurable();
  }

  private madeDurable(): void {
    this.durable = this.position;
    this.onDurable?.(this.durable);
  }

  /** Starts over from a new base snapshot, atomically. */
  reset(base: string | null): void {
    writeFresh(this.file, base, []);
    closeSync(this.fd);
    this.fd = openSync(this.file, 'r+');
    this.length = encodeHeader(base).length;
    this.records = 0;
    this.position++;
    rmSync(path.join(path.dirname(this.file), SNAPSHOT_MARK_FILE), { force: true });
    this.madeDurable();
  }

  /** Records, durably, that a snapshot with this time is about to be saved from `base`. */
  markSnapshot(mark: SnapshotMark): void {
    replaceDurably(path.join(path.dirname(this.file), SNAPSHOT_MARK_FILE), Buffer.from(`${JSON.stringify({ base: mark.base, timeNs: mark.timeNs.toString() })}\n`));
  }

  /** The mark a crashed mount left (null when none, or unreadable: then it proves nothing). */
  static snapshotMark(dir: string): SnapshotMark | null {
    try {
      const json = JSON.parse(readFileSync(path.join(dir, SNAPSHOT_MARK_FILE), 'utf8')) as { base?: unknown; timeNs?: unknown };
      if ((typeof json.base !== 'string' && json.base !== null) || typeof json.timeNs !== 'string' || !/^\d{1,20}$/.test(json.timeNs)) return null;
      return { base: json.base, timeNs: BigInt(json.timeNs) };
    } catch {
      return null;
    }
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** Writes a new journal under a temporary name, fsyncs it, renames it into place, fsyncs the folder. */
function writeFresh(file: string, base: string | null, recordJsons: readonly string[]): void {
  replaceDurably(file, Buffer.concat([encodeHeader(base), ...recordJsons.map(encodeLine)]));
}

/** Replaces `file` with `bytes` all at once: a temporary file, fsync'd, renamed, folder fsync'd. */
function replaceDurably(file: string, bytes: Buffer): void {
  const temp = `${file}.new`;
  const fd = openSync(temp, 'w', 0o600);
  try {
    let done = 0;
    while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, done);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, file);
  syncFile(path.dirname(file));
}

function syncFile(file: string): void {
  const fd = openSync(file, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
