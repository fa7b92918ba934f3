/**
 * The control channel between a running mount and `cairn snapshot` (and later `cairn
 * status`): a unix socket, owner-only, one JSON request and one JSON reply per line.
 */
export type ControlRequest = { readonly op: 'snapshot'; readonly tags: readonly string[] };

export type ControlReply =
  | { readonly ok: true; readonly snapshot: { readonly id: string; readonly name: string; readonly files: number; readonly addedBytes: number } }
  | { readonly ok: false; readonly code: string; readonly message: string; readonly hint?: string };
