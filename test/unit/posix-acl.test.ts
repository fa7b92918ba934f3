import { describe, expect, it } from 'vitest';
import { aclPermissions } from '../../src/vfs/posix-acl.js';

function acl(entries: [tag: number, perm: number, id?: number][]): Buffer {
  const b = Buffer.alloc(4 + 8 * entries.length);
  b.writeUInt32LE(2, 0);
  entries.forEach(([tag, perm, id = 0xffffffff], i) => {
    b.writeUInt16LE(tag, 4 + i * 8);
    b.writeUInt16LE(perm, 6 + i * 8);
    b.writeUInt32LE(id, 8 + i * 8);
  });
  return b;
}

describe('POSIX access ACL xattrs', () => {
  it('turn a minimal ACL into mode bits', () => {
    expect(aclPermissions(acl([[0x01, 7], [0x04, 5], [0x20, 5]]))).toEqual({ permissions: 0o755, minimal: true });
    expect(aclPermissions(acl([[0x01, 6], [0x04, 0], [0x20, 0]]))).toEqual({ permissions: 0o600, minimal: true });
  });
  it('take the group bits from the mask of an extended ACL, which must be kept', () => {
    expect(aclPermissions(acl([[0x01, 7], [0x02, 7, 1000], [0x04, 5], [0x10, 1], [0x20, 0]]))).toEqual({ permissions: 0o710, minimal: false });
  });
  it('reject malformed ACLs', () => {
    expect(aclPermissions(Buffer.from([1, 0, 0, 0]))).toBeNull();
    expect(aclPermissions(acl([[0x01, 7], [0x20, 5]]))).toBeNull();
    expect(aclPermissions(acl([[0x01, 7], [0x02, 7, 5], [0x04, 5], [0x20, 0]]))).toBeNull();
    expect(aclPermissions(Buffer.alloc(7))).toBeNull();
  });
});
