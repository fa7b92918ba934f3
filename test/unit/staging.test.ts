/**
 * The staging log (src/vfs/staging.ts): bytes of many files appended to a few segment files,
 * read back through extents rebuilt from records, and segments deleted only once the journal
 * is durable past the records that made their bytes obsolete.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { StagingArea } from '../../src/vfs/staging.js';
import { tempDir } from '../helpers/store.js';

/** A journal position the test moves by hand, as appends and syncs would. */
class Position {
  now = 0;
  next(): number {
    return ++this.now;
  }
}

describe('staging log', () => {
  let dir: string;
  let stagingDir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir());
    stagingDir = path.join(dir, 'staging');
  });
  afterEach(async () => cleanup());

  const write = (staging: StagingArea, ino: number, offset: number, text: string | Buffer) => {
    const data = typeof text === 'string' ? Buffer.from(text) : text;
    staging.place(ino, offset, data.length, staging.append(data));
  };
  const read = (staging: StagingArea, ino: number, offset: number, length: number) => {
    const out = Buffer.alloc(length, 0xff);
    staging.read(ino, offset, length, out, 0);
    return out;
  };

  it('stages thousands of files in one segment file and reads every one back', () => {
    const position = new Position();
    const staging = new StagingArea(stagingDir, () => position.now);
    const count = 2000;
    for (let ino = 1; ino <= count; ino++) write(staging, ino, ino * 3, `file ${ino}`);
    staging.sync();
    for (let ino = 1; ino <= count; ino++) expect(read(staging, ino, ino * 3, `file ${ino}`.length).toString()).toBe(`file ${ino}`);
    expect(readdirSync(stagingDir)).toEqual(['log.1']);
    expect(staging.inodes().length).toBe(count);
    staging.close();
  });

  it('reads zeros in holes and past the end, the newest bytes where writes overlap, and truncates', () => {
    const staging = new StagingArea(stagingDir, () => 0);
    write(staging, 7, 10, 'abcdef');
    write(staging, 7, 12, 'XY');
    expect([...read(staging, 7, 8, 10)]).toEqual([0, 0, ...Buffer.from('abXYef'), 0, 0]);
    staging.truncate(7, 13);
    expect(read(staging, 7, 10, 5).toString('latin1')).toBe('abX\0\0');
    staging.remove(7);
    expect(staging.inodes()).toEqual([]);
    expect([...read(staging, 7, 10, 3)]).toEqual([0, 0, 0]);
  });

  it('keeps the newest bytes at every offset through thousands of overlapping writes and truncates (checked against a plain buffer)', () => {
    const staging = new StagingArea(stagingDir, () => 0, 1 << 20);
    const model = Buffer.alloc(64 * 1024);
    let size = 0;
    let seed = 7;
    const next = (below: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) % below);
    for (let i = 0; i < 3000; i++) {
      if (next(20) === 0) {
        size = next(model.length);
        model.fill(0, size);
        staging.truncate(1, size);
        continue;
      }
      const offset = next(model.length - 512);
      const data = Buffer.alloc(1 + next(511), i % 251);
      write(staging, 1, offset, data);
      data.copy(model, offset);
      size = Math.max(size, offset + data.length);
    }
    expect(read(staging, 1, 0, model.length).equals(model)).toBe(true);
  });

  it('counts bytes that later writes replaced, until the file is committed', () => {
    const staging = new StagingArea(stagingDir, () => 0);
    write(staging, 3, 0, Buffer.alloc(1000, 1));
    write(staging, 3, 500, Buffer.alloc(1000, 2));
    write(staging, 3, 0, Buffer.alloc(100, 3));
    expect(staging.overwritten(3)).toBe(600);
    staging.remove(3);
    expect(staging.overwritten(3)).toBe(0);
  });

  it('deletes a segment only when nothing current is in it and the journal is durable past its death', () => {
    const position = new Position();
    const staging = new StagingArea(stagingDir, () => position.now, 100);
    write(staging, 1, 0, Buffer.alloc(80, 1)); // log.1
    write(staging, 2, 0, Buffer.alloc(80, 2)); // log.2 (log.1 is full)
    write(staging, 3, 0, Buffer.alloc(80, 3)); // log.3
    expect(readdirSync(stagingDir).sort()).toEqual(['log.1', 'log.2', 'log.3']);
    position.next();
    staging.reclaim(position.now);
    expect(readdirSync(stagingDir).sort()).toEqual(['log.1', 'log.2', 'log.3']); // all live

    const killedAt = position.next(); // a record (say a truncate) is appended ...
    staging.truncate(1, 0);
    staging.reclaim(killedAt - 1); // ... but the journal is durable only before it
    expect(readdirSync(stagingDir).sort()).toEqual(['log.1', 'log.2', 'log.3']);
    staging.reclaim(killedAt);
    expect(readdirSync(stagingDir).sort()).toEqual(['log.2', 'log.3']);

    // File 2 rewritten whole: its old bytes in log.2 are garbage, the new ones go to log.4.
    write(staging, 2, 0, Buffer.alloc(80, 4));
    staging.reclaim(position.next());
    expect(readdirSync(stagingDir).sort()).toEqual(['log.3', 'log.4']);
    expect([...new Set(read(staging, 2, 0, 80))]).toEqual([4]);

    // The current segment goes too once nothing in it is current.
    staging.remove(2);
    staging.remove(3);
    staging.reclaim(position.next());
    expect(readdirSync(stagingDir)).toEqual([]);
    expect(staging.bytes).toBe(0);
  });

  it("after a restart: starts a new segment, and keeps a crashed session's segment only while a replayed record uses it", () => {
    const first = new StagingArea(stagingDir, () => 0);
    const where = first.append(Buffer.from('kept'));
    first.append(Buffer.from('never recorded'));
    first.close(); // killed: nothing in memory survives

    const position = new Position();
    const second = new StagingArea(stagingDir, () => position.now);
    second.place(5, 0, 4, where); // the replayed write record
    write(second, 6, 0, 'new');
    expect(readdirSync(stagingDir).sort()).toEqual(['log.1', 'log.2']);
    expect(read(second, 5, 0, 4).toString()).toBe('kept');
    second.remove(5);
    second.reclaim(position.next());
    expect(readdirSync(stagingDir).sort()).toEqual(['log.2']);
  });

  it("reads a version-2 journal's per-file staging file at the file's own offsets", () => {
    const bytes = Buffer.alloc(20);
    bytes.write('legacy', 10);
    const position = new Position();
    const staging = new StagingArea(stagingDir, () => position.now);
    writeFileSync(path.join(stagingDir, '9'), bytes);
    const reopened = new StagingArea(stagingDir, () => position.now);
    staging.close();
    reopened.place(9, 10, 6, undefined); // a write record without seg/at
    expect(read(reopened, 9, 10, 6).toString()).toBe('legacy');
    reopened.reclaim(position.next());
    expect(readdirSync(stagingDir)).toEqual(['9']);
    reopened.remove(9);
    reopened.reclaim(position.next());
    expect(readdirSync(stagingDir)).toEqual([]);
  });
});
