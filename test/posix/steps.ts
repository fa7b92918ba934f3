/**
 * The POSIX behaviour suite's language: each case is a list of steps (one system call each)
 * with the answer Linux gives, run by two drivers: directly against the Filesystem layer
 * (test/unit/posix-direct.test.ts) and through a real mount with real processes
 * (test/mount/posix.test.ts, steps executed by test/posix/posix_steps.py, as root or as a
 * second user via setpriv). Writing a case once keeps the two in agreement.
 */

/** Users of the suite: made-up ids, no accounts needed (setpriv sets them). */
export const USERS = {
  root: { uid: 0, gid: 0, groups: [] as number[] },
  ann: { uid: 12345, gid: 12345, groups: [3000] },
  bob: { uid: 12346, gid: 12346, groups: [] as number[] },
} as const;
export type User = keyof typeof USERS;
export const SHARED_GROUP = 3000;

export type Step = { readonly as?: User; readonly expect?: string | Record<string, unknown> } & (
  | { readonly op: 'mkdir'; readonly path: string; readonly mode?: number }
  | { readonly op: 'create'; readonly path: string; readonly mode?: number; readonly data?: string }
  | { readonly op: 'write'; readonly path: string; readonly data: string; readonly offset?: number; readonly trunc?: boolean; readonly append?: boolean }
  | { readonly op: 'read'; readonly path: string }
  | { readonly op: 'stat'; readonly path: string }
  | { readonly op: 'chmod'; readonly path: string; readonly mode: number }
  | { readonly op: 'chown'; readonly path: string; readonly uid: number; readonly gid: number }
  | { readonly op: 'utime'; readonly path: string; readonly atimeNs?: string; readonly mtimeNs?: string }
  | { readonly op: 'rename'; readonly from: string; readonly to: string }
  | { readonly op: 'unlink'; readonly path: string }
  | { readonly op: 'rmdir'; readonly path: string }
  | { readonly op: 'link'; readonly from: string; readonly to: string }
  | { readonly op: 'symlink'; readonly target: string; readonly path: string }
  | { readonly op: 'readlink'; readonly path: string }
  | { readonly op: 'truncate'; readonly path: string; readonly size: number }
  | { readonly op: 'access'; readonly path: string; readonly mode: number }
  | { readonly op: 'setxattr'; readonly path: string; readonly name: string; readonly value: string; readonly flags?: 'create' | 'replace' }
  | { readonly op: 'getxattr'; readonly path: string; readonly name: string }
  | { readonly op: 'mkfifo'; readonly path: string; readonly mode?: number }
  | { readonly op: 'readdir'; readonly path: string }
  | { readonly op: 'open'; readonly path: string; readonly flags: 'r' | 'w' | 'rw'; readonly handle: string }
  | { readonly op: 'pread'; readonly handle: string; readonly size: number; readonly offset: number }
  | { readonly op: 'pwrite'; readonly handle: string; readonly data: string; readonly offset: number }
  | { readonly op: 'close'; readonly handle: string }
);

/** A step's answer: an errno name, or a value (stat fields, content, names). */
export type Answer = { readonly errno: string } | { readonly value: unknown };

/** What a stat step answers: the fields cases compare (a subset may be expected). */
export interface StatAnswer {
  readonly type: 'file' | 'dir' | 'symlink' | 'fifo' | 'other';
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly nlink: number;
  readonly size: number;
  readonly ino: string;
  readonly atimeNs: string;
  readonly mtimeNs: string;
}

export interface Case {
  readonly name: string;
  readonly steps: readonly Step[];
}

/** The answer matches when the errno is the expected one, or every expected field is equal. */
export function mismatch(step: Step, answer: Answer): string | null {
  const expected = step.expect ?? 'ok';
  if (typeof expected === 'string') {
    const got = 'errno' in answer ? answer.errno : 'ok';
    return got === expected ? null : `expected ${expected}, got ${got}${'errno' in answer ? '' : ` (${JSON.stringify(answer.value)})`}`;
  }
  if ('errno' in answer) return `expected ${JSON.stringify(expected)}, got ${answer.errno}`;
  const value = answer.value as Record<string, unknown>;
  for (const [key, want] of Object.entries(expected)) {
    if (JSON.stringify(value?.[key]) !== JSON.stringify(want)) return `${key}: expected ${JSON.stringify(want)}, got ${JSON.stringify(value?.[key])}`;
  }
  return null;
}
