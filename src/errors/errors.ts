/**
 * Typed errors with stable codes. Every layer throws CairnError; only the CLI turns a code
 * into an exit status and a message (see src/cli/exit-codes.ts).
 */
export type ErrorCode =
  | 'WRONG_KEY' // no key slot opens with the given secret
  | 'UNREACHABLE' // the store cannot be reached or read
  | 'LOCKED' // another process holds the repository
  | 'CORRUPT' // an object on the store failed authentication or decoding
  | 'NOT_FOUND' // an object or repository does not exist
  | 'EXISTS' // refusing to overwrite an existing repository or object
  | 'UNSUPPORTED_VERSION' // a format version this build does not understand
  | 'USAGE' // the caller asked for something impossible
  | 'NO_SPACE' // the local disk or the store is full
  | 'HOST_KEY' // the SSH server's host key is unknown, changed or revoked
  | 'JOURNAL' // the local journal of unsaved changes cannot be replayed as it is
  | 'NOT_SAVED'; // a mount ended without saving its changes (its process died)

export class CairnError extends Error {
  readonly code: ErrorCode;
  /** What the user can do about it; printed under the message by the CLI. */
  readonly hint: string | undefined;
  /** Trying again will not help (an unreachable store that refused the login, say). */
  readonly permanent: boolean;

  constructor(code: ErrorCode, message: string, options: { hint?: string; cause?: unknown; permanent?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CairnError';
    this.code = code;
    this.hint = options.hint;
    this.permanent = options.permanent ?? false;
  }
}

export function corrupt(what: string, detail: string, cause?: unknown): CairnError {
  return new CairnError('CORRUPT', `${what} is damaged: ${detail}`, {
    hint: 'run `cairn check --read-data STORE` to list every damaged object',
    cause,
  });
}

export function isCairnError(e: unknown, code?: ErrorCode): e is CairnError {
  return e instanceof CairnError && (code === undefined || e.code === code);
}
