/** A set of byte ranges [start, end), kept sorted and merged. Pure. */
export interface Range {
  readonly start: number;
  readonly end: number;
}

/** Shared by every empty set: the methods build new arrays, never change one (files are mostly clean). */
const NO_RANGES: readonly Range[] = Object.freeze([]);

export class RangeSet {
  private ranges: readonly Range[] = NO_RANGES;

  static from(ranges: readonly Range[]): RangeSet {
    const set = new RangeSet();
    for (const r of ranges) set.add(r.start, r.end);
    return set;
  }

  get isEmpty(): boolean {
    return this.ranges.length === 0;
  }

  list(): readonly Range[] {
    return this.ranges;
  }

  add(start: number, end: number): void {
    if (end <= start) return;
    const out: Range[] = [];
    let s = start;
    let e = end;
    let placed = false;
    for (const r of this.ranges) {
      if (r.end < s) out.push(r);
      else if (r.start > e) {
        if (!placed) out.push({ start: s, end: e });
        placed = true;
        out.push(r);
      } else {
        s = Math.min(s, r.start);
        e = Math.max(e, r.end);
      }
    }
    if (!placed) out.push({ start: s, end: e });
    this.ranges = out;
  }

  /** Drops everything at or beyond `limit`. */
  truncate(limit: number): void {
    this.ranges = this.ranges.filter((r) => r.start < limit).map((r) => ({ start: r.start, end: Math.min(r.end, limit) }));
  }

  /** Drops [start, end). */
  remove(start: number, end: number): void {
    if (end <= start || !this.intersects(start, end)) return;
    const out: Range[] = [];
    for (const r of this.ranges) {
      if (r.end <= start || r.start >= end) out.push(r);
      else {
        if (r.start < start) out.push({ start: r.start, end: start });
        if (r.end > end) out.push({ start: end, end: r.end });
      }
    }
    this.ranges = out;
  }

  intersects(start: number, end: number): boolean {
    return this.ranges.some((r) => r.start < end && r.end > start);
  }

  /**
   * Splits [start, end) into pieces, each wholly inside the set (inside = true) or wholly
   * outside it, in order.
   */
  split(start: number, end: number): { start: number; end: number; inside: boolean }[] {
    const pieces: { start: number; end: number; inside: boolean }[] = [];
    let pos = start;
    for (const r of this.ranges) {
      if (r.end <= pos) continue;
      if (r.start >= end) break;
      if (r.start > pos) pieces.push({ start: pos, end: r.start, inside: false });
      const e = Math.min(r.end, end);
      pieces.push({ start: Math.max(pos, r.start), end: e, inside: true });
      pos = e;
    }
    if (pos < end) pieces.push({ start: pos, end, inside: false });
    return pieces;
  }
}
