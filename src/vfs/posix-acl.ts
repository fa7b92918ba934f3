/**
 * POSIX access ACLs as Linux passes them in the `system.posix_acl_access` xattr:
 * u32 version (2), then entries of u16 tag, u16 perm, u32 id, all little-endian. A
 * filesystem with ACL support turns them into mode bits (cp -a and tar set permissions
 * this way instead of chmod), and keeps the xattr only for an ACL the mode cannot express.
 */
const VERSION = 2;
const USER_OBJ = 0x01;
const USER = 0x02;
const GROUP_OBJ = 0x04;
const GROUP = 0x08;
const MASK = 0x10;
const OTHER = 0x20;

export const ACL_ACCESS_XATTR = 'system.posix_acl_access';

export interface AclPermissions {
  /** rwxrwxrwx bits the ACL implies (group bits from the mask when there is one). */
  readonly permissions: number;
  /** Only owner, group and other entries: the mode says it all; no xattr need be kept. */
  readonly minimal: boolean;
}

/** Null when the bytes are not a valid access ACL. */
export function aclPermissions(value: Uint8Array): AclPermissions | null {
  if (value.length < 4 || (value.length - 4) % 8 !== 0) return null;
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  if (view.getUint32(0, true) !== VERSION) return null;
  let user = -1;
  let group = -1;
  let other = -1;
  let mask = -1;
  let named = false;
  for (let at = 4; at < value.length; at += 8) {
    const tag = view.getUint16(at, true);
    const perm = view.getUint16(at + 2, true) & 7;
    if (tag === USER_OBJ) user = perm;
    else if (tag === GROUP_OBJ) group = perm;
    else if (tag === OTHER) other = perm;
    else if (tag === MASK) mask = perm;
    else if (tag === USER || tag === GROUP) named = true;
    else return null;
  }
  if (user < 0 || group < 0 || other < 0 || (named && mask < 0)) return null;
  return { permissions: (user << 6) | ((mask >= 0 ? mask : group) << 3) | other, minimal: !named && mask < 0 };
}
