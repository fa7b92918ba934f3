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
} as const;

export function exitCodeFor(code: ErrorCode): number {
  switch (code) {
    case 'WRONG_KEY':
      return EXIT.wrongKey;
    case 'UNREACHABLE':
      return EXIT.unreachable;
    case 'LOCKED':
      return EXIT.locked;
    case 'CORRUPT':
      return EXIT.corrupt;
    case 'UNSUPPORTED_VERSION':
      return EXIT.unsupportedVersion;
    case 'EXISTS':
      return EXIT.exists;
    case 'NO_SPACE':
      return EXIT.noSpace;
    case 'NOT_FOUND':
      return EXIT.noRepository;
    case 'USAGE':
      return EXIT.usage;
  }
}
