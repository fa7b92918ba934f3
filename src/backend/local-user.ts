/**
 * The name of the user running cairn, for lock objects, snapshots and the default SSH login.
 * os.userInfo() throws when the uid has no passwd entry (containers, systemd DynamicUser=,
 * setpriv): fall back to $USER, then to "uid N", never fail for a label.
 */
import { userInfo } from 'node:os';

export function currentUserName(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER || process.env.LOGNAME || `uid ${process.getuid?.() ?? '?'}`;
  }
}
