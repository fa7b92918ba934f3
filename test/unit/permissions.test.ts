/** Ownership of new nodes as Linux gives it (src/vfs/permissions.ts). */
import { describe, expect, it } from 'vitest';
import { newNodeOwnership } from '../../src/vfs/permissions.js';

const ann = { uid: 1000, gid: 1000, groups: () => [3000] };
const root = { uid: 0, gid: 0, groups: () => [] };
const plain = { uid: 0, gid: 0, mode: 0o755 };
const setgid = { uid: 0, gid: 3000, mode: 0o2775 };
const foreignSetgid = { uid: 0, gid: 4000, mode: 0o2777 };

describe('new node ownership', () => {
  it('gives a new node to its creator, with the mode asked for', () => {
    expect(newNodeOwnership(ann, plain, false, 0o644)).toEqual({ uid: 1000, gid: 1000, mode: 0o644 });
    expect(newNodeOwnership(ann, plain, true, 0o755)).toEqual({ uid: 1000, gid: 1000, mode: 0o755 });
  });

  it('passes a setgid folder\'s group on, and its setgid bit to new folders only', () => {
    expect(newNodeOwnership(ann, setgid, true, 0o755)).toEqual({ uid: 1000, gid: 3000, mode: 0o2755 });
    expect(newNodeOwnership(ann, setgid, false, 0o644)).toEqual({ uid: 1000, gid: 3000, mode: 0o644 });
  });

  it('drops setgid (with group-execute) from a new file whose group its non-root creator is not in', () => {
    expect(newNodeOwnership(ann, foreignSetgid, false, 0o2755)).toEqual({ uid: 1000, gid: 4000, mode: 0o755 });
    expect(newNodeOwnership(ann, setgid, false, 0o2755)).toEqual({ uid: 1000, gid: 3000, mode: 0o2755 });
    expect(newNodeOwnership(ann, foreignSetgid, false, 0o2644).mode).toBe(0o2644); // no group-execute: kept
    expect(newNodeOwnership(root, foreignSetgid, false, 0o2755).mode).toBe(0o2755);
  });
});
