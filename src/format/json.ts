/** Shared checks of the JSON codecs (trees, snapshots, forget records). */
import { DecodeError } from './bytes.js';

/** Parses UTF-8 JSON that must be an object carrying `version`; `what` names it in errors. */
export function parseVersionedJson(bytes: Uint8Array, what: string, versions: number | readonly number[]): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw new DecodeError(`${what} is not JSON`);
  }
  const object = parsed as Record<string, unknown> | null;
  const known = typeof versions === 'number' ? [versions] : versions;
  if (typeof object !== 'object' || object === null || !known.includes(object.version as number)) throw new DecodeError(`${what} version ${String(object?.version)} is not supported`);
  return object;
}

/** A time in nanoseconds since the epoch, written as a decimal string (not negative). */
export function nanosFrom(value: unknown, what: string): bigint {
  if (typeof value !== 'string' || !/^[0-9]{1,20}$/.test(value)) throw new DecodeError(`${what} is malformed`);
  return BigInt(value);
}
