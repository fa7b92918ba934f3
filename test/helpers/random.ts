/** A seeded random source, so a failing crash-model run can be repeated exactly. */
export class Random {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0 || 1;
  }

  /** mulberry32: a float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  int(below: number): number {
    return Math.floor(this.next() * below);
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from nothing');
    return items[this.int(items.length)]!;
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  /** Bytes that differ from run to run of the workload but not between replays of one seed. */
  bytes(length: number): Buffer {
    const out = Buffer.allocUnsafe(length);
    let i = 0;
    for (; i + 4 <= length; i += 4) out.writeUInt32LE(this.int(0x100000000), i);
    for (; i < length; i++) out[i] = this.int(256);
    return out;
  }

  /** A size: mostly small, sometimes spanning several content-defined chunks. */
  size(): number {
    const r = this.next();
    if (r < 0.15) return 0;
    if (r < 0.8) return 1 + this.int(40_000);
    if (r < 0.95) return 40_000 + this.int(400_000);
    return 1_000_000 + this.int(2_500_000);
  }
}
