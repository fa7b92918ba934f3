/**
 * The one interface between cairn and a store. Every store (local folder, memory, SFTP)
 * implements it; decorators with the same interface add retries (retrying.ts) and the
 * local object cache and upload queue (cached.ts) without the repository knowing.
 *
 * Contract (test/conformance/backend.suite.ts checks it on every implementation):
 * - put() is atomic: a reader sees either no object or all of it, never a prefix. It writes
 *   to a temporary name and renames into place, and is durable (fsync'd) when it resolves.
 *   Putting a name that exists replaces it (only `config` and locks are ever rewritten).
 * - get() returns the whole object, or `length` bytes from `offset`. A range past the end
 *   fails with CairnError('CORRUPT'): the caller's index says the bytes exist, the store lost them.
 * - A missing object fails with CairnError('NOT_FOUND'); an unreachable store with 'UNREACHABLE'.
 * - list() returns the names of one kind, in no particular order; never temporary files.
 * - delete() of a missing object succeeds (deletes are idempotent, so prune can be re-run).
 */
export type ObjectKind = 'config' | 'keys' | 'data' | 'index' | 'snapshots' | 'locks' | 'forgotten';

export interface ObjectRef {
  readonly kind: ObjectKind;
  /** Lower-case hex id; empty for `config`. */
  readonly name: string;
}

export interface ByteRange {
  readonly offset: number;
  readonly length: number;
}

export interface Backend {
  /** Where the store is, for messages (a path or a URL without secrets). */
  readonly location: string;
  /** Over a network (worth a local object cache and write-back), not a local folder. */
  readonly remote?: boolean;
  /**
   * Creates the folder layout of a new store. Fails with EXISTS when the folder is not empty;
   * a store reached over a network accepts its own empty layout, so that a create whose
   * connection dropped can be repeated.
   */
  create(): Promise<void>;
  /** Stores `data` whole. Keeps no reference to it once settled: the caller reuses the buffer. */
  put(ref: ObjectRef, data: Uint8Array): Promise<void>;
  /**
   * The object, or its bytes in `range`: a buffer of the caller's own, which the backend
   * keeps no reference to. With `into` (at least `range.length` bytes) a backend may read
   * the range there and return a view of it; one that does not returns a buffer of its own.
   */
  get(ref: ObjectRef, range?: ByteRange, into?: Uint8Array): Promise<Uint8Array>;
  /** Size in bytes, or null when the object does not exist. */
  size(ref: ObjectRef): Promise<number | null>;
  list(kind: Exclude<ObjectKind, 'config'>): Promise<string[]>;
  delete(ref: ObjectRef): Promise<void>;
  close(): Promise<void>;
}

export const CONFIG_REF: ObjectRef = { kind: 'config', name: '' };

/** The path of an object inside the store (docs/FORMAT.md "Store layout"). */
export function objectPath(ref: ObjectRef): string {
  switch (ref.kind) {
    case 'config':
      return 'config';
    case 'data':
      return `data/${ref.name.slice(0, 2)}/${ref.name}`;
    default:
      return `${ref.kind}/${ref.name}`;
  }
}

/** Folders a new store starts with: one per kind, and data/00 .. data/ff. */
export function storeFolders(): string[] {
  const folders = ['keys', 'data', 'index', 'snapshots', 'locks', 'forgotten'];
  for (let i = 0; i < 256; i++) folders.push(`data/${i.toString(16).padStart(2, '0')}`);
  return folders;
}

const HEX_NAME = /^[0-9a-f]{64}$/;

/** Names in a listing that are real objects (not temporary files or strays). */
export function isObjectName(name: string): boolean {
  return HEX_NAME.test(name);
}
