import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { DecodeError } from '../../src/format/bytes.js';
import { decodeConfig, encodeConfig } from '../../src/format/config.js';
import { decodeIndexFile, encodeIndexFile, type IndexFile } from '../../src/format/index-file.js';
import { decodePackHeader, encodePackHeader, type PackEntry } from '../../src/format/pack.js';
import { decodeSnapshot, encodeSnapshot, type Snapshot } from '../../src/format/snapshot.js';
import { compareNames, decodeTree, encodeTree, sameNodes, type Tree } from '../../src/format/tree.js';
import { isCairnError } from '../../src/errors/errors.js';

const id = () => randomBytes(32).toString('hex');
const times = { mtimeNs: 1_700_000_000_987_654_321n, atimeNs: 1_700_000_001_000_000_000n, ctimeNs: 1_700_000_002_000_000_001n };

const sampleTree: Tree = {
  nodes: [
    { name: 'zeta', type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, ...times, fileId: 1, links: 1, subtree: id() },
    { name: 'Ä file with spaces.txt', type: 'file', mode: 0o4644, uid: 1000, gid: 100, size: 12, ...times, fileId: 2, links: 2, content: [id(), id()], xattrs: [{ name: 'user.b', value: Buffer.from([0, 1, 2]) }, { name: 'user.a', value: Buffer.alloc(0) }] },
    { name: 'hard', type: 'file', mode: 0o644, uid: 1000, gid: 100, size: 12, ...times, fileId: 2, links: 2, content: [] },
    { name: 'link', type: 'symlink', mode: 0o777, uid: 1, gid: 1, size: 6, ...times, fileId: 3, links: 1, target: '../etc' },
    { name: 'null', type: 'chardev', mode: 0o666, uid: 0, gid: 0, size: 0, ...times, fileId: 4, links: 1, rdev: 259 },
    { name: 'pipe', type: 'fifo', mode: 0o600, uid: 0, gid: 0, size: 0, ...times, fileId: 5, links: 1 },
    { name: 'sock', type: 'socket', mode: 0o600, uid: 0, gid: 0, size: 0, ...times, fileId: 6, links: 1 },
  ],
};

/** Every decoder must either decode or throw DecodeError on arbitrary damage: no other crash. */
function fuzz(valid: Buffer, decode: (b: Buffer) => unknown, rounds = 2000) {
  for (let i = 0; i < rounds; i++) {
    const damaged = Buffer.from(valid);
    const mode = i % 3;
    if (mode === 0) damaged[Math.floor(Math.random() * damaged.length)] = Math.floor(Math.random() * 256);
    const input = mode === 1 ? damaged.subarray(0, Math.floor(Math.random() * damaged.length)) : mode === 2 ? Buffer.concat([damaged, randomBytes(1 + (i % 7))]) : damaged;
    try {
      decode(input);
    } catch (e) {
      if (!(e instanceof DecodeError)) throw new Error(`decoder threw ${(e as Error).name}: ${(e as Error).message}`);
    }
  }
}

describe('tree codec', () => {
  it('round-trips every node type with nanosecond times and xattrs, sorted by UTF-8 name', () => {
    const decoded = decodeTree(encodeTree(sampleTree));
    expect(decoded.nodes.map((n) => n.name)).toEqual(['hard', 'link', 'null', 'pipe', 'sock', 'zeta', 'Ä file with spaces.txt']);
    const file = decoded.nodes.find((n) => n.name.startsWith('Ä'))!;
    expect(file.mtimeNs).toBe(1_700_000_000_987_654_321n);
    expect(file.mode).toBe(0o4644);
    expect(file.xattrs!.map((x) => x.name)).toEqual(['user.a', 'user.b']);
    expect(Buffer.from(file.xattrs![1]!.value)).toEqual(Buffer.from([0, 1, 2]));
    expect(decoded.nodes.find((n) => n.name === 'null')!.rdev).toBe(259);
  });

  it('encodes canonically: the same tree gives the same bytes whatever the input order', () => {
    const reversed = { nodes: [...sampleTree.nodes].reverse() };
    expect(encodeTree(reversed).equals(encodeTree(sampleTree))).toBe(true);
  });

  it('sameNodes is true exactly when two node lists encode alike (a backup keeps an unchanged folder\'s tree by it)', () => {
    const decoded = decodeTree(encodeTree(sampleTree)).nodes;
    expect(sameNodes(decoded, decodeTree(encodeTree(sampleTree)).nodes)).toBe(true);
    // No xattrs and an empty list encode alike.
    const bare = decoded.map((n) => (n.xattrs ? n : { ...n, xattrs: [] }));
    expect(encodeTree({ nodes: bare }).equals(encodeTree({ nodes: decoded }))).toBe(true);
    expect(sameNodes(bare, decoded)).toBe(true);
    expect(sameNodes(decoded.slice(1), decoded)).toBe(false);
    // Each field of each node changed in turn: the encoding changes, and sameNodes sees it.
    const changedValue = (v: unknown): unknown => {
      if (typeof v === 'string') return v.length === 64 ? id() : `${v}x`;
      if (typeof v === 'number') return v + 1;
      if (typeof v === 'bigint') return v + 1n;
      if (Array.isArray(v) && v.length > 0 && typeof v[0] === 'string') return [...v.slice(1), id()];
      if (Array.isArray(v) && v.length > 0) return [{ ...v[0], value: Buffer.from('other') }, ...v.slice(1)];
      if (Array.isArray(v)) return [id()];
      throw new Error(`no change for ${String(v)}`);
    };
    const fields = new Set<string>();
    for (const [i, node] of decoded.entries()) {
      for (const [key, value] of Object.entries(node)) {
        fields.add(key);
        const nodes = decoded.map((n, j) => (j === i ? { ...n, [key]: changedValue(value) } : n));
        if (key === 'name') continue; // a new name may sort elsewhere: a different tree either way
        expect(encodeTree({ nodes }).equals(encodeTree({ nodes: decoded })), key).toBe(false);
        expect(sameNodes(nodes, decoded), key).toBe(false);
      }
    }
    // Every field the encoding writes was changed above.
    const written = new Set((JSON.parse(encodeTree(sampleTree).toString()).nodes as object[]).flatMap((n) => Object.keys(n)));
    const asNodeField = (k: string) => (['mtime', 'atime', 'ctime'].includes(k) ? `${k}Ns` : k);
    expect([...written].map(asNodeField).sort()).toEqual([...fields].sort());
  });

  it('rejects duplicate names, path separators and unknown types', () => {
    expect(() => encodeTree({ nodes: [sampleTree.nodes[0]!, sampleTree.nodes[0]!] })).toThrow(/duplicate/);
    const json = JSON.parse(encodeTree(sampleTree).toString());
    json.nodes[0].name = 'a/b';
    expect(() => decodeTree(Buffer.from(JSON.stringify(json)))).toThrow(DecodeError);
    json.nodes[0].name = 'hard';
    json.nodes[0].type = 'door';
    expect(() => decodeTree(Buffer.from(JSON.stringify(json)))).toThrow(DecodeError);
  });

  it('writes version 2 with file ids, and reads version 1 taking its per-snapshot inode as the id', () => {
    const json = JSON.parse(encodeTree(sampleTree).toString());
    expect(json.version).toBe(2);
    expect(json.nodes[0]).toMatchObject({ name: 'hard', fileId: 2, links: 2 });
    json.version = 1;
    for (const node of json.nodes) {
      node.inode = node.fileId;
      delete node.fileId;
    }
    const v1 = decodeTree(Buffer.from(JSON.stringify(json)));
    expect(v1.version).toBe(1);
    expect(v1.nodes.map((n) => n.fileId)).toEqual(decodeTree(encodeTree(sampleTree)).nodes.map((n) => n.fileId));
    json.version = 2; // a version-2 tree must carry fileId
    expect(() => decodeTree(Buffer.from(JSON.stringify(json)))).toThrow(DecodeError);
  });

  it('survives fuzzing', () => fuzz(encodeTree(sampleTree), decodeTree));

  it('orders names exactly as their UTF-8 bytes compare, astral and private-use characters included', () => {
    const alphabet = ['a', 'B', '~', '\u007f', '\u0080', 'é', '\u07ff', '\u0800', '日', '\ud7ff', '\ue000', '\uffff', '\u{10000}', '\u{1f600}', '\u{10ffff}'];
    let seed = 7;
    const pick = () => alphabet[(seed = (seed * 1103515245 + 12345) % 2 ** 31) % alphabet.length]!;
    const names = Array.from({ length: 400 }, (_, i) => Array.from({ length: 1 + (i % 4) }, pick).join(''));
    for (const a of names) {
      for (const b of names.slice(0, 60)) {
        expect(Math.sign(compareNames(a, b)), `${JSON.stringify(a)} vs ${JSON.stringify(b)}`).toBe(Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b))));
      }
    }
  });
});

describe('snapshot codec', () => {
  const snapshot: Snapshot = { seq: 3, timeNs: 1_764_000_000_123_456_789n, host: 'laptop', user: 'ann', tags: ['daily'], tree: id(), parent: id(), previous: id(), stats: { files: 10, dirs: 2, bytes: 12345, addedBytes: 100 }, nextFileId: 4711 };
  it('round-trips', () => expect(decodeSnapshot(encodeSnapshot(snapshot))).toEqual(snapshot));
  it('reads version 1, which has no file id mark', () => {
    const json = JSON.parse(encodeSnapshot(snapshot).toString());
    json.version = 1;
    delete json.nextFileId;
    const { nextFileId: _, ...v1 } = snapshot;
    expect(decodeSnapshot(Buffer.from(JSON.stringify(json)))).toEqual(v1);
  });
  it('survives fuzzing', () => fuzz(encodeSnapshot(snapshot), decodeSnapshot));
});

describe('index file codec', () => {
  const index: IndexFile = {
    superseded: [randomBytes(32)],
    packs: [
      { packId: randomBytes(32), blobs: [
        { type: 'data', encoding: 'raw', id: randomBytes(32), offset: 0, length: 1040, plainLength: 1000 },
        { type: 'tree', encoding: 'zstd', id: randomBytes(32), offset: 1040, length: 99, plainLength: 4000 },
      ] },
      { packId: randomBytes(32), blobs: [] },
    ],
  };
  it('round-trips', () => {
    const decoded = decodeIndexFile(encodeIndexFile(index));
    expect(decoded.packs.length).toBe(2);
    expect(Buffer.from(decoded.packs[0]!.blobs[1]!.id)).toEqual(Buffer.from(index.packs[0]!.blobs[1]!.id));
    expect(decoded.packs[0]!.blobs[1]).toMatchObject({ type: 'tree', encoding: 'zstd', offset: 1040, length: 99, plainLength: 4000 });
    expect(encodeIndexFile(decoded).equals(encodeIndexFile(index))).toBe(true);
  });
  it('has the documented size: 1 + 4 + 32s + 4 + Σ(36 + 46b)', () => {
    expect(encodeIndexFile(index).length).toBe(1 + 4 + 32 + 4 + (36 + 2 * 46) + 36);
  });
  it('refuses a raw blob whose length is not its box less 40, and an unknown encoding', () => {
    const bad = (blob: object) => encodeIndexFile({ superseded: [], packs: [{ packId: randomBytes(32), blobs: [{ type: 'data', id: randomBytes(32), offset: 0, length: 100, ...blob } as never] }] });
    expect(() => decodeIndexFile(bad({ encoding: 'raw', plainLength: 61 }))).toThrow(DecodeError);
    const unknown = bad({ encoding: 'zstd', plainLength: 500 });
    unknown[1 + 4 + 4 + 32 + 4 + 1] = 7; // the encoding byte of the only blob
    expect(() => decodeIndexFile(unknown)).toThrow(/unknown blob encoding 7/);
  });
  it('survives fuzzing', () => fuzz(encodeIndexFile(index), decodeIndexFile));
});

describe('pack header codec', () => {
  const entries: PackEntry[] = [
    { type: 'data', encoding: 'zstd', id: randomBytes(32), offset: 0, length: 500, plainLength: 70000 },
    { type: 'tree', encoding: 'raw', id: randomBytes(32), offset: 500, length: 41, plainLength: 1 },
  ];
  it('round-trips and is 5 + 42 bytes per blob', () => {
    const encoded = encodePackHeader(entries);
    expect(encoded.length).toBe(5 + 2 * 42);
    expect(decodePackHeader(encoded).map((e) => [e.type, e.encoding, e.offset, e.length, e.plainLength])).toEqual([['data', 'zstd', 0, 500, 70000], ['tree', 'raw', 500, 41, 1]]);
  });
  it('survives fuzzing', () => fuzz(encodePackHeader(entries), decodePackHeader));
});

describe('config codec', () => {
  it('round-trips and refuses what is not a cairn config', () => {
    const config = { version: 1, id: new Uint8Array(randomBytes(32)) };
    expect(decodeConfig(encodeConfig(config), 'here')).toEqual(config);
    for (const bad of ['', '{}', '{"magic":"restic"}', '{"magic":"cairn-repository","version":1,"id":"zz"}', 'not json']) {
      expect(() => decodeConfig(Buffer.from(bad), 'here')).toThrow(/not a usable cairn repository/);
    }
    let thrown: unknown;
    try {
      decodeConfig(Buffer.from('{"magic":"cairn-repository","version":9,"id":"00"}'), 'here');
    } catch (e) {
      thrown = e;
    }
    expect(isCairnError(thrown, 'UNSUPPORTED_VERSION')).toBe(true);
  });
});
