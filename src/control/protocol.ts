/**
 * The control channel between a running mount and `cairn snapshot`, `cairn status` and
 * `cairn unmount`: a unix socket, owner-only, one JSON request and one JSON reply per line.
 */
import type { UploadStatus } from '../backend/cached.js';

export type ControlRequest =
  | { readonly op: 'snapshot'; readonly tags: readonly string[] }
  | { readonly op: 'status' }
  /** Sent by `cairn unmount --no-wait` before it unmounts: keep the upload queue for later. */
  | { readonly op: 'no-wait' };

export interface MountStatus {
  readonly store: string;
  readonly readOnly: boolean;
  /** Null for a local-folder store (no queue, no cache). */
  readonly uploads: UploadStatus | null;
  /** Files whose written data is staged locally and not yet committed. */
  readonly stagedFiles: number;
  /** Bytes of those files' staged data. */
  readonly stagedBytes: number;
  /** Bytes the mount's commits have chunked since it started (grows while it saves). */
  readonly committedBytes: number;
  /** Files the mount's commits have chunked since it started. */
  readonly committedFiles: number;
  readonly unmounting: boolean;
  /**
   * The live tree in memory (src/vfs/folder-loader.ts): files and folders held, the limit
   * (--tree-cache), and folders read from their trees and dropped again since the mount.
   */
  readonly tree: { readonly inMemory: number; readonly limit: number; readonly loadedFolders: number; readonly droppedFolders: number };
  /**
   * The FUSE binding's write buffers: lent to writes in progress now (0 once every write has
   * been answered), and WRITE requests that got a copy of their own since the mount.
   */
  readonly writeBuffers: { readonly lent: number; readonly copies: number };
  /**
   * The blob index: blobs in it, and whether those of the store's index files are kept on
   * local disk (a big store, docs/LOCAL_STATE.md "The index on disk") or in memory.
   */
  readonly index: { readonly blobs: number; readonly onDisk: boolean };
  /** The mount process's memory now (process.memoryUsage(): rss, V8 heap, buffers outside it), bytes. */
  readonly memory: {
    readonly rss: number;
    readonly heapUsed: number;
    readonly heapTotal: number;
    readonly external: number;
    /** The V8 heap's spaces (v8.getHeapSpaceStatistics()): bytes committed and used in each, by name (new_space, old_space, …). */
    readonly heapSpaces: Readonly<Record<string, { readonly size: number; readonly used: number }>>;
  };
  /** The snapshot the mount continues (the last one it took or started from): id and local time. */
  readonly lastSnapshot: { readonly id: string; readonly time: string } | null;
  /**
   * Why the mount cannot save now (store full or unreachable, damage, local disk full), with
   * the error code `cairn status` exits with; null when saving works.
   */
  readonly problem: { readonly code: string; readonly message: string; readonly at: number } | null;
}

export type ControlReply =
  | { readonly ok: true; readonly snapshot: { readonly id: string; readonly name: string; readonly files: number; readonly addedBytes: number } }
  | { readonly ok: true; readonly status: MountStatus }
  | { readonly ok: true }
  | { readonly ok: false; readonly code: string; readonly message: string; readonly hint?: string };
