/** Ownership of new nodes and the permission rules, as Linux gives them (src/vfs/permissions.ts). */
import { describe, expect, it } from 'vitest';
import {
  chmodResult, mayAccess, mayChown, mayRemoveFromSticky, modeAfterChown, modeAfterWrite, newNodeOwnership, R, utimeAccess, W, X, xattrAccess,
} from '../../src/vfs/permissions.js';

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

describe('permission rules', () => {
  const bob = { uid: 1001, gid: 1001, groups: () => [] };
  const file = (mode: number, uid = 1000, gid = 1000) => ({ uid, gid, mode, type: 'file' });
  const dir = (mode: number, uid = 1000, gid = 1000) => ({ uid, gid, mode, type: 'dir' });

  it('reads the owner, group or other bits, whichever applies first, and supplementary groups', () => {
    expect(mayAccess(ann, file(0o640), R | W)).toBe(true);
    expect(mayAccess(bob, file(0o640), R)).toBe(false);
    expect(mayAccess(ann, file(0o046, 1000), R)).toBe(false); // the owner bits decide for the owner
    expect(mayAccess(ann, file(0o040, 0, 3000), R)).toBe(true); // via a supplementary group
    expect(mayAccess(bob, dir(0o751), X)).toBe(true);
    expect(mayAccess(root, file(0o000), R | W)).toBe(true);
    expect(mayAccess(root, file(0o644), X)).toBe(false); // root executes only what has an x bit
    expect(mayAccess(root, dir(0o000), X)).toBe(true);
  });

  it('keeps a sticky folder\'s names for their owners, the folder\'s owner and root', () => {
    const tmp = dir(0o1777, 0, 0);
    expect(mayRemoveFromSticky(bob, tmp, file(0o644))).toBe(false);
    expect(mayRemoveFromSticky(ann, tmp, file(0o644))).toBe(true);
    expect(mayRemoveFromSticky(bob, dir(0o1777, 1001), file(0o644))).toBe(true);
    expect(mayRemoveFromSticky(bob, dir(0o777), file(0o644))).toBe(true);
  });

  it('lets only the owner chmod, drops setgid for a non-member, and lets a writer only take setuid away', () => {
    expect(chmodResult(ann, file(0o644), 0o600)).toBe(0o600);
    expect(chmodResult(bob, file(0o644), 0o600)).toBeNull();
    expect(chmodResult(ann, file(0o644, 1000, 4000), 0o2644)).toBe(0o644);
    expect(chmodResult(ann, file(0o644, 1000, 3000), 0o2644)).toBe(0o2644);
    expect(chmodResult(bob, file(0o4766), 0o766)).toBe(0o766); // the kernel's kill-suid after bob's write
    expect(chmodResult(bob, file(0o4764), 0o764)).toBeNull(); // but only for one who may write
    expect(chmodResult(bob, file(0o766), 0o4766)).toBeNull();
  });

  it('lets root chown to anyone, an owner only to its own groups, and takes setuid away on every chown of a file', () => {
    expect(mayChown(root, file(0o644), 5, 5)).toBe(true);
    expect(mayChown(ann, file(0o644), 1001, undefined)).toBe(false);
    expect(mayChown(ann, file(0o644), 1000, 3000)).toBe(true);
    expect(mayChown(ann, file(0o644), undefined, 4000)).toBe(false);
    expect(mayChown(bob, file(0o644), undefined, 1000)).toBe(false);
    expect(modeAfterChown(file(0o6755))).toBe(0o755);
    expect(modeAfterChown(file(0o6745))).toBe(0o2745); // setgid without group-execute stays
    expect(modeAfterChown(dir(0o2775))).toBe(0o2775);
    expect(modeAfterWrite(bob, file(0o4766))).toBe(0o766);
    expect(modeAfterWrite(root, file(0o4766))).toBe(0o4766);
  });

  it('decides times and extended attributes as Linux does', () => {
    expect(utimeAccess(bob, file(0o666), true)).toBe('ok');
    expect(utimeAccess(bob, file(0o666), false)).toBe('EPERM');
    expect(utimeAccess(bob, file(0o644), true)).toBe('EACCES');
    expect(xattrAccess(bob, file(0o666), 'trusted.x', true)).toBe('EPERM');
    expect(xattrAccess(bob, file(0o666), 'trusted.x', false)).toBe('ENODATA');
    expect(xattrAccess(root, file(0o600), 'trusted.x', true)).toBe('ok');
    expect(xattrAccess(bob, file(0o644), 'user.x', true)).toBe('EACCES');
    expect(xattrAccess(bob, file(0o644), 'user.x', false)).toBe('ok');
    expect(xattrAccess(bob, { ...file(0o777), type: 'symlink' }, 'user.x', true)).toBe('EPERM');
    expect(xattrAccess(bob, file(0o666), 'system.posix_acl_access', true)).toBe('EPERM');
    expect(xattrAccess(bob, file(0o600), 'security.capability', false)).toBe('ok');
  });
});
