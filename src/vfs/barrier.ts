/**
 * Holds changes while a snapshot captures the tree. Callers check isFrozen() in the same
 * synchronous step that applies their change (never "await, then change": another task
 * could freeze in between), and wait on thawed() when it is frozen.
 */
export class Barrier {
  private frozen: Promise<void> | null = null;
  private release: (() => void) | undefined;

  isFrozen(): boolean {
    return this.frozen !== null;
  }

  thawed(): Promise<void> {
    return this.frozen ?? Promise.resolve();
  }

  freeze(): void {
    if (this.frozen) throw new Error('already frozen');
    this.frozen = new Promise<void>((resolve) => (this.release = resolve));
  }

  thaw(): void {
    const release = this.release;
    this.frozen = null;
    this.release = undefined;
    release?.();
  }
}
