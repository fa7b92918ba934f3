/**
 * Every parser of stored or local bytes against seeded damage: pack header, index file, tree,
 * snapshot, forget record, config, sealed objects and blobs, key slots, journal and journal
 * records. Each must decode or refuse with its own error (DecodeError, CairnError,
 * MalformedRecord, a "damaged" result), never crash with a TypeError or RangeError, hang,
 * or allocate by a length field it read. The inputs start from golden fixtures
 * (test/fixtures/golden/): the encoders must still produce those exact bytes, so a format
 * change shows up here as well as in docs/FORMAT.md. A failure names its seed and round;
 * CAIRN_FUZZ_SEED and CAIRN_FUZZ_ROUNDS repeat or lengthen a run; CAIRN_WRITE_GOLDEN=1
 * rewrites the fixtures after a deliberate format change.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { createKeySlot, describeKeySlot, openKeySlot } from '../../src/crypto/keyslot.js';
import { CairnError } from '../../src/errors/errors.js';
import { DecodeError } from '../../src/format/bytes.js';
import { decodeConfig, encodeConfig } from '../../src/format/config.js';
import { decodeForgetRecord, encodeForgetRecord } from '../../src/format/forget-record.js';
import { decodeIndexFile, encodeIndexFile } from '../../src/format/index-file.js';
import { MasterIndex } from '../../src/repository/master-index.js';
import { decodePackHeader, encodePackHeader } from '../../src/format/pack.js';
import { openBlob, openObject, sealBlob, sealObject } from '../../src/format/sealed.js';
import { decodeSnapshot, encodeSnapshot } from '../../src/format/snapshot.js';
import { decodeTree, encodeTree } from '../../src/format/tree.js';
import { encodeHeader, encodeLine, parseJournal } from '../../src/vfs/journal-format.js';
import { MalformedRecord, parseRecord, recordJson, type JournalRecord } from '../../src/vfs/records.js';
import { Random } from '../helpers/random.js';

const GOLDEN = path.resolve(__dirname, '../fixtures/golden');
const SEED = Number(process.env.CAIRN_FUZZ_SEED ?? 20261202);
const ROUNDS = Number(process.env.CAIRN_FUZZ_ROUNDS ?? 1500);
/** A decode of a few KiB that takes longer than this is treated as a hang. */
const SLOW_MS = 250;

const hexId = (n: number) => n.toString(16).padStart(2, '0').repeat(32);
const bytesId = (n: number) => Buffer.from(hexId(n), 'hex');
const times = { mtimeNs: 1_700_000_000_987_654_321n, atimeNs: 1_700_000_001_000_000_000n, ctimeNs: 1_700_000_002_000_000_001n };

/** Fixed sample objects: their encodings are the golden fixtures. */
const samples: Record<string, () => Buffer> = {
  'pack-header.bin': () => encodePackHeader([
    { type: 'data', encoding: 'raw', id: bytesId(1), offset: 0, length: 1040, plainLength: 1000 },
    { type: 'tree', encoding: 'zstd', id: bytesId(2), offset: 1040, length: 300, plainLength: 2000 },
  ]),
  'index.bin': () => encodeIndexFile({
    superseded: [bytesId(3)],
    packs: [{ packId: bytesId(4), blobs: [
      { type: 'data', encoding: 'raw', id: bytesId(1), offset: 0, length: 1040, plainLength: 1000 },
      { type: 'tree', encoding: 'zstd', id: bytesId(2), offset: 1040, length: 300, plainLength: 2000 },
    ] }],
  }),
  'tree.json': () => encodeTree({
    nodes: [
      { name: 'docs', type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, ...times, fileId: 2, links: 2, subtree: hexId(5) },
      { name: 'a.txt', type: 'file', mode: 0o644, uid: 1000, gid: 100, size: 12, ...times, fileId: 3, links: 2, content: [hexId(6), hexId(7)], xattrs: [{ name: 'user.k', value: Buffer.from([0, 1, 255]) }] },
      { name: 'hard', type: 'file', mode: 0o644, uid: 1000, gid: 100, size: 12, ...times, fileId: 3, links: 2, content: [hexId(6), hexId(7)] },
      { name: 'link', type: 'symlink', mode: 0o777, uid: 0, gid: 0, size: 5, ...times, fileId: 4, links: 1, target: 'a.txt' },
      { name: 'null', type: 'chardev', mode: 0o666, uid: 0, gid: 0, size: 0, ...times, fileId: 5, links: 1, rdev: 259 },
    ],
  }),
  'snapshot.json': () => encodeSnapshot({
    seq: 3, timeNs: 1_764_000_000_123_456_789n, host: 'laptop', user: 'ann', tags: ['daily'], tree: hexId(8),
    root: { mode: 0o755, uid: 0, gid: 0, ...times }, parent: hexId(9), previous: hexId(9),
    stats: { files: 10, dirs: 2, bytes: 12345, addedBytes: 100 }, nextFileId: 4711,
  }),
  'forget.json': () => encodeForgetRecord({ timeNs: 1_764_000_000_000_000_000n, forgotten: [{ id: hexId(10), seq: 1 }, { id: hexId(11), seq: 2 }] }),
  'config.json': () => Buffer.from(encodeConfig({ version: 3, id: bytesId(12) })),
  'journal.bin': () => Buffer.concat([encodeHeader(hexId(13)), ...records.map((r) => encodeLine(recordJson(r)))]),
};

const records: JournalRecord[] = [
  { op: 'mknod', parent: 1, name: 'f', ino: 7, type: 'file', mode: 0o644, uid: 1000, gid: 1000, rdev: 0, t: 1n },
  { op: 'write', ino: 7, offset: 0, length: 10, seg: 1, at: 0, t: 2n },
  { op: 'setattr', ino: 7, mode: 0o600, mtime: 3n, t: 3n },
  { op: 'rename', parent: 1, name: 'f', newParent: 1, newName: 'g', t: 4n },
  { op: 'xattr', ino: 7, name: 'user.k', value: 'AAE=', t: 5n },
  { op: 'truncate', ino: 7, size: 4, t: 6n },
  { op: 'content', ino: 7, content: [{ id: hexId(14), size: 4 }], size: 4 },
  { op: 'chunks', ino: 7, from: 4, content: [{ id: hexId(15), size: 3000 }, { id: hexId(16), size: 2000 }] },
  { op: 'link', parent: 1, name: 'h', ino: 7, t: 7n },
  { op: 'unlink', parent: 1, name: 'g', t: 8n },
];

/** A golden fixture; those without a sample (written by older versions) are kept as they were. */
function golden(name: string): Buffer {
  const file = path.join(GOLDEN, name);
  const sample = samples[name];
  if (sample && (process.env.CAIRN_WRITE_GOLDEN === '1' || !existsSync(file))) {
    mkdirSync(GOLDEN, { recursive: true });
    writeFileSync(file, sample());
  }
  return readFileSync(file);
}

/** One seeded mutation of `input`: bytes (flip, set, cut, extend, delete, repeat) or, for JSON, structure. */
function mutate(input: Buffer, random: Random, json: boolean): Buffer {
  if (json && random.chance(0.4)) {
    try {
      return Buffer.from(JSON.stringify(mutateJson(JSON.parse(input.toString('utf8')), random)));
    } catch {
      // not JSON after all: mutate bytes
    }
  }
  const b = Buffer.from(input);
  const at = random.int(Math.max(1, b.length));
  switch (random.int(6)) {
    case 0:
      b[at] = b[at]! ^ (1 << random.int(8));
      return b;
    case 1:
      b[at] = random.int(256);
      return b;
    case 2:
      return b.subarray(0, at);
    case 3:
      return Buffer.concat([b, Buffer.from(Array.from({ length: 1 + random.int(16) }, () => random.int(256)))]);
    case 4:
      return Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + random.int(40)))]);
    default: {
      // A 4-byte field set to a huge count: a decoder must not allocate by it.
      if (b.length >= at + 4) b.writeUInt32BE(0xfffffff0 - random.int(16), at);
      return b;
    }
  }
}

const WEIRD_VALUES: unknown[] = [null, true, -1, 0, 1.5, 2 ** 53, -(2 ** 60), 1e308, '', 'x', '../..', 'a/b', '-1n', '99999999999999999999999n', [], [1, 2], {}, { nested: [null] }];

function mutateJson(value: unknown, random: Random): unknown {
  if (Array.isArray(value)) {
    if (value.length > 0 && random.chance(0.6)) {
      const copy = [...value];
      const i = random.int(copy.length);
      copy[i] = random.chance(0.5) ? mutateJson(copy[i], random) : random.pick(WEIRD_VALUES);
      return copy;
    }
    return random.chance(0.5) ? [...value, random.pick(WEIRD_VALUES)] : value.slice(1);
  }
  if (typeof value === 'object' && value !== null) {
    const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) };
    const keys = Object.keys(copy);
    if (keys.length === 0) return random.pick(WEIRD_VALUES);
    const key = random.pick(keys);
    const roll = random.int(3);
    if (roll === 0) delete copy[key];
    else if (roll === 1) copy[key] = random.pick(WEIRD_VALUES);
    else copy[key] = mutateJson(copy[key], random);
    return copy;
  }
  return random.pick(WEIRD_VALUES);
}

/**
 * Runs `parse` on seeded mutations of `valid`; `expected` says whether a thrown error is an
 * honest refusal. Returns how many inputs were refused (so a test can see the fuzz bites).
 */
async function fuzz(label: string, valid: Buffer, json: boolean, parse: (b: Buffer) => unknown, expected: (e: unknown) => boolean, rounds = ROUNDS, slowMs = SLOW_MS): Promise<number> {
  const random = new Random(SEED ^ hash(label));
  let refused = 0;
  for (let round = 0; round < rounds; round++) {
    const input = mutate(valid, random, json);
    const started = Date.now();
    try {
      await parse(input);
    } catch (e) {
      if (!expected(e)) throw new Error(`${label}, seed ${SEED}, round ${round}: ${(e as Error)?.name}: ${(e as Error)?.message}\ninput: ${input.toString('base64')}`);
      refused++;
    }
    const took = Date.now() - started;
    if (took > slowMs) throw new Error(`${label}, seed ${SEED}, round ${round}: took ${took} ms\ninput: ${input.toString('base64')}`);
  }
  return refused;
}

function hash(text: string): number {
  let h = 2166136261;
  for (const c of text) h = Math.imul(h ^ c.charCodeAt(0), 16777619);
  return h >>> 0;
}

const decodeError = (e: unknown) => e instanceof DecodeError;

function addsAllOrNothing(bytes: Buffer): void {
  const index = new MasterIndex();
  try {
    index.addIndexFileBytes(bytes);
  } catch (e) {
    if (index.blobCount !== 0) throw new Error(`a damaged index file added ${index.blobCount} entries before it was refused`);
    throw e;
  }
}
const cairnError = (e: unknown) => e instanceof CairnError;

describe('parsers under seeded damage', () => {
  it('the encoders still produce the golden bytes', () => {
    for (const name of Object.keys(samples)) expect(samples[name]!().equals(golden(name)), name).toBe(true);
  });

  it('pack header, index file, tree, snapshot and forget record refuse with DecodeError', async () => {
    const cases: [string, boolean, (b: Buffer) => unknown][] = [
      ['pack-header.bin', false, decodePackHeader],
      ['pack-header-v1.bin', false, decodePackHeader],
      ['index.bin', false, decodeIndexFile],
      ['index-v1.bin', false, decodeIndexFile],
      // The mount's loader (no object per entry): a damaged file must add nothing.
      ['index.bin', false, addsAllOrNothing],
      ['index-v1.bin', false, addsAllOrNothing],
      ['tree.json', true, decodeTree],
      ['snapshot.json', true, decodeSnapshot],
      ['forget.json', true, decodeForgetRecord],
    ];
    for (const [name, json, parse] of cases) {
      const valid = golden(name);
      parse(valid); // the fixture itself decodes
      expect(await fuzz(name, valid, json, parse, decodeError), name).toBeGreaterThan(ROUNDS / 10);
    }
  });

  it('reads the version-1 pack header and index file (written by format 2, kept as they were) as raw blobs', () => {
    const expected = [
      { type: 'data', encoding: 'raw', offset: 0, length: 1040, plainLength: 1000 },
      { type: 'tree', encoding: 'raw', offset: 1040, length: 300, plainLength: 260 },
    ];
    expect(decodePackHeader(golden('pack-header-v1.bin'))).toMatchObject(expected);
    const index = decodeIndexFile(golden('index-v1.bin'));
    expect(index.packs[0]!.blobs).toMatchObject(expected);
    expect(Buffer.from(index.packs[0]!.blobs[1]!.id)).toEqual(bytesId(2));
  });

  it('config refuses with a CairnError naming the store', async () => {
    const valid = golden('config.json');
    expect(decodeConfig(valid, 'store').version).toBe(3);
    expect(await fuzz('config.json', valid, true, (b) => decodeConfig(b, 'store'), (e) => cairnError(e) && /store/.test((e as Error).message))).toBeGreaterThan(ROUNDS / 10);
  });

  it('sealed objects and blobs refuse any change with CORRUPT, naming the object', async () => {
    const key = bytesId(20);
    const object = sealObject(key, 'snapshot', golden('snapshot.json'));
    const blob = sealBlob(key, 'data', bytesId(21), Buffer.from('chunk bytes'));
    const corrupt = (e: unknown) => cairnError(e) && (e as CairnError).code === 'CORRUPT' && /snapshots\/x|blob y/.test((e as Error).message);
    const objectRefused = await fuzz('sealed object', object, false, (b) => {
      if (!b.equals(object)) openObject(key, 'snapshot', b, 'snapshots/x');
    }, corrupt);
    const blobRefused = await fuzz('sealed blob', blob, false, (b) => {
      if (!b.equals(blob)) openBlob(key, 'data', bytesId(21), b, 'blob y');
    }, corrupt);
    // Authenticated encryption: every changed input is refused (a mutation may leave it equal).
    expect(objectRefused).toBeGreaterThan(ROUNDS * 0.9);
    expect(blobRefused).toBeGreaterThan(ROUNDS * 0.9);
  });

  it('key slots: a damaged slot is "malformed" or "wrong secret", never a crash', async () => {
    const slot = Buffer.from(await createKeySlot(bytesId(22), bytesId(23), { kind: 'keyfile', contents: Buffer.from('k'.repeat(64)) }, 'argon2'));
    const description = await describeKeySlot(slot);
    expect(description).toMatchObject({ kdf: 'argon2', recipientSlot: false, label: { kind: 'keyfile', host: expect.any(String) } });
    // describeKeySlot only parses; openKeySlot may run the KDF, so fewer rounds.
    await fuzz('key slot (describe)', slot, false, (b) => describeKeySlot(b), () => false);
    await fuzz('key slot (open)', slot, false, async (b) => {
      const result = await openKeySlot(b, bytesId(23), { kind: 'keyfile', contents: Buffer.from('k'.repeat(64)) });
      if (result.ok && !b.equals(slot)) expect(Buffer.from(result.master)).toEqual(bytesId(22));
    }, () => false, 40, 10_000); // a slot that still parses runs the KDF (Argon2: most of a second)
  }, 120_000);

  it('the journal: damage is reported, never thrown; records are checked field by field', async () => {
    const valid = golden('journal.bin');
    const parsed = parseJournal(valid);
    expect(parsed).toMatchObject({ kind: 'ok' });
    expect((parsed as { records: unknown[] }).records.map(parseRecord)).toEqual(records);
    // A version-3 journal (no `chunks` records) is still read.
    const v3 = parseJournal(readFileSync(path.join(GOLDEN, 'journal-v3.bin'))); // written by version 3, kept as it was
    expect(v3).toMatchObject({ kind: 'ok', header: { version: 3 } });
    expect((v3 as { records: unknown[] }).records.map(parseRecord)).toEqual(records.filter((r) => r.op !== 'chunks'));
    // A version-2 journal (per-file staging: write records without seg/at) is still read.
    const v2 = parseJournal(readFileSync(path.join(GOLDEN, 'journal-v2.bin'))); // written by version 2, kept as it was
    expect(v2).toMatchObject({ kind: 'ok', header: { version: 2 } });
    const { seg: _seg, at: _at, ...v2Write } = records[1] as Extract<JournalRecord, { op: 'write' }>;
    expect((v2 as { records: unknown[] }).records.map(parseRecord)).toEqual([records[0], v2Write, ...records.slice(2).filter((r) => r.op !== 'chunks')]);
    await fuzz('journal.bin', valid, false, (b) => {
      const result = parseJournal(b);
      expect(['ok', 'damaged', 'version1']).toContain(result.kind);
    }, () => false);
    let refused = 0;
    for (const record of records) {
      refused += await fuzz(`record ${record.op}`, Buffer.from(recordJson(record)), true, (b) => parseRecord(JSON.parse(b.toString('utf8'))), (e) => e instanceof MalformedRecord || e instanceof SyntaxError, ROUNDS / 5);
    }
    expect(refused).toBeGreaterThan(records.length * (ROUNDS / 5) * 0.3);
  });
});
