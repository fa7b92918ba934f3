/**
 * The one backoff policy of cairn: wait 0.5 s after the first failure, twice as long after
 * each further one, never more than 30 s. Used by the retrying backend (a bounded number of
 * attempts), the upload queue and the background commit (until the store answers again).
 */
export const FIRST_DELAY_MS = 500;
export const MAX_DELAY_MS = 30_000;

export class Backoff {
  private nextMs = FIRST_DELAY_MS;

  /** The delay before the next attempt (and doubles the one after). */
  next(): number {
    const delay = this.nextMs;
    this.nextMs = Math.min(this.nextMs * 2, MAX_DELAY_MS);
    return delay;
  }

  /** After a success: the next failure waits the first delay again. */
  reset(): void {
    this.nextMs = FIRST_DELAY_MS;
  }
}
