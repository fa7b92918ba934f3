/**
 * The journal file (docs/LOCAL_STATE.md): complete records only, a torn tail cut off before
 * anything is appended, damage before the end named instead of skipped, and a reader that
 * never crashes on any bytes.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { encodeHeader, encodeLine, parseJournal } from '../../src/vfs/journal-format.js';
import { Journal, JournalDamage } from '../../src/vfs/journal.js';
import type { JournalRecord } from '../../src/vfs/records.js';
import { parseRecord, recordJson } from '../../src/vfs/records.js';
import { fillDisk, mountSmallDisk, tempDir } from '../helpers/store.js';

const write = (n: number): JournalRecord => ({ op: 'write', ino: 7, offset: n * 10, length: 10, t: 1_700_000_000_000_000_000n + BigInt(n) });

describe('journal', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  const file = () => path.join(dir, 'journal');

  beforeEach(async () => ({ dir, cleanup } = await tempDir('cairn-journal-')));
  afterEach(async () => cleanup());

  it('writes the bytes docs/LOCAL_STATE.md shows for its example', () => {
    const { journal } = Journal.open(dir, null);
    journal.append({ op: 'mknod', parent: 1, name: 'a.txt', ino: 2, type: 'file', mode: 420, uid: 1000, gid: 1000, rdev: 0, t: 1763856000123456789n });
    journal.append({ op: 'write', ino: 2, offset: 0, length: 6, seg: 1, at: 0, t: 1763856000223456789n });
    journal.close();
    const doc = readFileSync(path.resolve(__dirname, '../../docs/LOCAL_STATE.md'), 'utf8');
    const example = doc.split('\n').filter((l) => /^    [0-9a-f]{8} \{/.test(l)).map((l) => l.slice(4));
    expect(example).toHaveLength(3);
    expect(readFileSync(file(), 'utf8')).toBe(`${example.join('\n')}\n`);
  });

  it('reads back every record it appended, times and all', () => {
    const { journal } = Journal.open(dir, null);
    for (let i = 0; i < 5; i++) journal.append(write(i));
    journal.close();
    const again = Journal.open(dir, null);
    expect(again.records.map(parseRecord)).toEqual([0, 1, 2, 3, 4].map(write));
    expect(again.cutBytes).toBe(0);
    again.journal.close();
  });

  it('cuts a torn last record off before appending, so later records are not glued to it and lost', () => {
    const { journal } = Journal.open(dir, null);
    for (let i = 0; i < 3; i++) journal.append(write(i));
    journal.close();
    const whole = readFileSync(file()).length;
    appendFileSync(file(), encodeLine(recordJson(write(3))).subarray(0, 20)); // the crash, mid-record
    const reopened = Journal.open(dir, null);
    expect(reopened.records).toHaveLength(3);
    expect(reopened.cutBytes).toBe(20);
    expect(readFileSync(file()).length).toBe(whole);
    for (let i = 4; i < 100; i++) reopened.journal.append(write(i));
    reopened.journal.close();
    const third = Journal.open(dir, null);
    expect(third.records).toHaveLength(99);
    expect(parseRecord(third.records[98])).toEqual(write(99));
    third.journal.close();
  });

  it('cuts a zero-filled tail (a power loss after the size grew) the same way', () => {
    const { journal } = Journal.open(dir, null);
    journal.append(write(0));
    journal.close();
    appendFileSync(file(), Buffer.alloc(4096));
    const reopened = Journal.open(dir, null);
    expect(reopened.records).toHaveLength(1);
    expect(reopened.cutBytes).toBe(4096);
    reopened.journal.close();
  });

  it('refuses damage before the end instead of skipping it, and keeps the complete records before it for --salvage', () => {
    const { journal } = Journal.open(dir, null);
    for (let i = 0; i < 4; i++) journal.append(write(i));
    journal.close();
    const bytes = readFileSync(file());
    const second = encodeHeader(null).length + encodeLine(recordJson(write(0))).length;
    bytes[second + 20]! ^= 0x01; // a flipped bit in record 2 of 4
    writeFileSync(file(), bytes);
    let damage: unknown;
    try {
      Journal.open(dir, null);
    } catch (e) {
      damage = e;
    }
    expect(damage).toBeInstanceOf(JournalDamage);
    expect((damage as JournalDamage).message).toMatch(/record 2 .*complete records follow/);
    expect((damage as JournalDamage).hint).toMatch(/--salvage/);
    expect((damage as JournalDamage).validRecords.map(parseRecord)).toEqual([write(0)]);
    const copy = Journal.rewrite(dir, null, (damage as JournalDamage).validRecords);
    expect(readdirSync(dir)).toContain(path.basename(copy));
    const salvaged = Journal.open(dir, null);
    expect(salvaged.records.map(parseRecord)).toEqual([write(0)]);
    salvaged.journal.close();
  });

  it.skipIf(process.getuid?.() !== 0)('fails an append on a full disk with ENOSPC, leaving no partial record, and goes on once there is space (needs root for tmpfs)', async () => {
    const small = path.join(dir, 'small');
    mkdirSync(small);
    const unmount = mountSmallDisk(small, '64k');
    try {
      const { journal } = Journal.open(small, null);
      journal.append(write(0));
      const filler = fillDisk(small);
      const before = readFileSync(path.join(small, 'journal'));
      let failure: NodeJS.ErrnoException | undefined;
      try {
        for (let i = 1; i < 10_000; i++) journal.append(write(i)); // until the last free block is used
      } catch (e) {
        failure = e as NodeJS.ErrnoException;
      }
      expect(failure?.code).toBe('ENOSPC');
      const after = readFileSync(path.join(small, 'journal'));
      expect(after.subarray(0, before.length).equals(before)).toBe(true);
      expect(parseJournal(after)).toMatchObject({ kind: 'ok', validLength: after.length }); // no torn bytes
      const kept = (parseJournal(after) as { records: unknown[] }).records.length;
      rmSync(filler);
      journal.append(write(kept));
      journal.close();
      const reopened = Journal.open(small, null);
      expect(reopened.records.map(parseRecord)).toEqual(Array.from({ length: kept + 1 }, (_, i) => write(i)));
      reopened.journal.close();
    } finally {
      unmount();
    }
  });

  it('never throws anything but a named damage on truncated, garbage or zero-filled bytes', () => {
    const lines = [encodeHeader('a'.repeat(64)), ...[0, 1, 2, 3].map((i) => encodeLine(recordJson(write(i))))];
    const valid = Buffer.concat(lines);
    for (let round = 0; round < 3000; round++) {
      const damaged = Buffer.from(valid);
      switch (round % 4) {
        case 0:
          damaged[Math.floor(Math.random() * damaged.length)] = Math.floor(Math.random() * 256);
          break;
        case 1:
          damaged.fill(0, Math.floor(Math.random() * damaged.length));
          break;
        case 2:
          randomBytes(8).copy(damaged, Math.floor(Math.random() * (damaged.length - 8)));
          break;
      }
      const input = round % 4 === 3 ? damaged.subarray(0, Math.floor(Math.random() * damaged.length)) : damaged;
      const parsed = parseJournal(input);
      if (parsed.kind === 'ok') {
        // Whatever it accepts is a prefix of what was written, record for record.
        expect(parsed.records.length).toBeLessThanOrEqual(4);
        for (const [i, r] of parsed.records.entries()) expect(parseRecord(r)).toEqual(write(i));
      } else {
        expect(parsed.kind).toBe('damaged');
      }
    }
  });
});
