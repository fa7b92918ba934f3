/**
 * Forget records (docs/FORMAT.md "Forget records"): which snapshots `cairn forget` removed,
 * so the snapshot chain stays verifiable after deletions. Sealed as kind "forget"; the
 * file's name is the SHA-256 of its sealed bytes. Each record lists every snapshot forgotten
 * so far (cumulative); older records are deleted once a newer one is stored.
 *
 *   {"version":1,"time":"<ns>","forgotten":[{"id":"<64 hex>","seq":<n>}, ...]}
 */
import { DecodeError } from './bytes.js';
import { nanosFrom, parseVersionedJson } from './json.js';

export const FORGET_RECORD_VERSION = 1;

export interface ForgottenSnapshot {
  readonly id: string;
  readonly seq: number;
}

export interface ForgetRecord {
  readonly timeNs: bigint;
  readonly forgotten: readonly ForgottenSnapshot[];
}

const HEX_ID = /^[0-9a-f]{64}$/;

export function encodeForgetRecord(record: ForgetRecord): Buffer {
  const forgotten = [...record.forgotten].sort((a, b) => a.seq - b.seq || (a.id < b.id ? -1 : 1));
  return Buffer.from(
    JSON.stringify({ version: FORGET_RECORD_VERSION, time: record.timeNs.toString(), forgotten: forgotten.map(({ id, seq }) => ({ id, seq })) }),
    'utf8',
  );
}

export function decodeForgetRecord(bytes: Uint8Array): ForgetRecord {
  const j = parseVersionedJson(bytes, 'forget record', FORGET_RECORD_VERSION);
  const timeNs = nanosFrom(j.time, 'forget record time');
  if (!Array.isArray(j.forgotten)) throw new DecodeError('forget record list is malformed');
  const forgotten = j.forgotten.map((entry: unknown) => {
    const e = entry as Record<string, unknown>;
    if (typeof e?.id !== 'string' || !HEX_ID.test(e.id) || !Number.isSafeInteger(e.seq) || (e.seq as number) < 1) {
      throw new DecodeError('forget record holds a malformed entry');
    }
    return { id: e.id, seq: e.seq as number };
  });
  return { timeNs, forgotten };
}
