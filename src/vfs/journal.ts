/**
 * The journal: every change to the live tree since the base snapshot, one JSON record per
 * line, appended before the change is acknowledged. Replayed at the next mount after a crash;
 * reset when a snapshot captures the tree. A torn last line (the process died mid-write) is
 * ignored: its operation was never acknowledged.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import * as path from 'node:path';

export interface JournalHeader {
  readonly journal: 'cairn';
  readonly version: 1;
  /** The snapshot the records apply to, or null for an empty repository. */
  readonly base: string | null;
}

export class Journal {
  private fd: number;
  private readonly file: string;
  records = 0;

  private constructor(file: string, fd: number) {
    this.file = file;
    this.fd = fd;
  }

  /** Opens the journal in `dir`; returns it with its header and records (empty if new). */
  static open(dir: string, defaultBase: string | null): { journal: Journal; header: JournalHeader; records: unknown[] } {
    const file = path.join(dir, 'journal');
    if (!existsSync(file)) writeFresh(file, defaultBase);
    const lines = readFileSync(file, 'utf8').split('\n');
    const header = JSON.parse(lines[0]!) as JournalHeader;
    if (header.journal !== 'cairn' || header.version !== 1) throw new Error(`${file} is not a cairn journal`);
    const records: unknown[] = [];
    for (const line of lines.slice(1)) {
      if (line === '') continue;
      try {
        records.push(JSON.parse(line));
      } catch {
        break; // a torn final line: never acknowledged
      }
    }
    const journal = new Journal(file, openSync(file, 'a'));
    journal.records = records.length;
    return { journal, header, records };
  }

  /**
   * Records waiting in the journal in `dir` (changes a mount made after its last snapshot
   * and did not save, because it was killed), without opening it for writing.
   */
  static pendingRecords(dir: string): number {
    const file = path.join(dir, 'journal');
    if (!existsSync(file)) return 0;
    return readFileSync(file, 'utf8').split('\n').slice(1).filter((line) => line !== '').length;
  }

  append(record: unknown): void {
    const line = Buffer.from(`${JSON.stringify(record, bigintReplacer)}\n`);
    let done = 0;
    while (done < line.length) done += writeSync(this.fd, line, done);
    this.records++;
  }

  sync(): void {
    fsyncSync(this.fd);
  }

  /** Starts over from a new base snapshot, atomically. */
  reset(base: string | null): void {
    closeSync(this.fd);
    writeFresh(this.file, base);
    this.fd = openSync(this.file, 'a');
    this.records = 0;
  }

  close(): void {
    closeSync(this.fd);
  }
}

function writeFresh(file: string, base: string | null): void {
  const temp = `${file}.new`;
  const fd = openSync(temp, 'w', 0o600);
  const header: JournalHeader = { journal: 'cairn', version: 1, base };
  writeSync(fd, `${JSON.stringify(header)}\n`);
  fsyncSync(fd);
  closeSync(fd);
  renameSync(temp, file);
}

/** BigInt times travel as decimal strings with an 'n' suffix. */
export function bigintReplacer(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? `${value}n` : value;
}

export function bigintFrom(value: unknown): bigint {
  if (typeof value !== 'string' || !value.endsWith('n')) throw new Error('journal time is malformed');
  return BigInt(value.slice(0, -1));
}
