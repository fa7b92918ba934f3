/**
 * Time-Machine-style automatic snapshots: after changes, once writes have been quiet for
 * `quietMs`, and never sooner than `intervalMs` after the previous snapshot.
 */
import type { StoredSnapshot } from '../repository/repository.js';
import { AUTO_TAG } from '../repository/retention.js';

export interface AutoSnapshotPolicy {
  /** Least time between two snapshots; 0 turns automatic snapshots off. */
  readonly intervalMs: number;
  /** Quiet time after the last change before a snapshot is taken. */
  readonly quietMs: number;
}

export interface TreeActivity {
  readonly changed: boolean;
  /** Milliseconds since the epoch of the last change, and of the last snapshot (or mount). */
  readonly lastChangeAt: number;
  readonly lastSnapshotAt: number;
}

/** Pure: is a snapshot due now? */
export function snapshotDue(policy: AutoSnapshotPolicy, activity: TreeActivity, now: number): boolean {
  if (policy.intervalMs <= 0 || !activity.changed) return false;
  return now - activity.lastChangeAt >= policy.quietMs && now - activity.lastSnapshotAt >= policy.intervalMs;
}

export interface AutoSnapshotTarget {
  activity(): TreeActivity;
  snapshot(tags: readonly string[]): Promise<StoredSnapshot>;
}

/** Checks the policy every second (or quicker for short test policies) and snapshots when due. */
export class AutoSnapshotter {
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  constructor(
    private readonly target: AutoSnapshotTarget,
    private readonly policy: AutoSnapshotPolicy,
    private readonly events: { taken?: (s: StoredSnapshot) => void; failed?: (e: unknown) => void } = {},
  ) {}

  start(): void {
    if (this.policy.intervalMs <= 0) return;
    const every = Math.max(100, Math.min(1000, this.policy.quietMs / 2));
    this.timer = setInterval(() => void this.tick(), every);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    if (this.busy || !snapshotDue(this.policy, this.target.activity(), Date.now())) return;
    this.busy = true;
    try {
      this.events.taken?.(await this.target.snapshot([AUTO_TAG]));
    } catch (e) {
      this.events.failed?.(e);
    } finally {
      this.busy = false;
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
