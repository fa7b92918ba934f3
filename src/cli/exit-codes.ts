/**
 * Stable exit codes (README "Exit codes"): scripts and systemd units may rely on them.
 * Only the CLI maps errors to codes.
 */
import type { ErrorCode } from '../errors/errors.js';

export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  wrongKey: 3,
  unreachable: 4,
  locked: 5,
  corrupt: 6,
  unsupportedVersion: 7,
  exists: 8,
  noSpace: 9,
  noRepository: 10,
  hostKey: 11,
  journal: 12,
  notSaved: 13,
  /** The work was done, but not all of it: named on stderr (restore metadata, backup unreadable files). */
  incomplete: 14,
  /** `verify` compared everything and found differences (named on stdout). */
  differences: 15,
} as const;

const BY_ERROR_CODE: Record<ErrorCode, number> = {
  WRONG_KEY: EXIT.wrongKey,
  UNREACHABLE: EXIT.unreachable,
  LOCKED: EXIT.locked,
  CORRUPT: EXIT.corrupt,
  UNSUPPORTED_VERSION: EXIT.unsupportedVersion,
  EXISTS: EXIT.exists,
  NO_SPACE: EXIT.noSpace,
  NOT_FOUND: EXIT.noRepository,
  USAGE: EXIT.usage,
  HOST_KEY: EXIT.hostKey,
  JOURNAL: EXIT.journal,
  NOT_SAVED: EXIT.notSaved,
};

export function exitCodeFor(code: ErrorCode): number {
  return BY_ERROR_CODE[code];
}
