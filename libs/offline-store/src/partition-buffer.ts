import type { OffsetRange } from './segment-events';
import type { SegmentRow } from './segment-schema';

const MICROS_PER_DAY = 86_400_000_000;
const dayNames = new Map<number, string>();

/** `YYYY-MM-DD` of an epoch-µs instant, in UTC: the date directory a row's segment sits in. */
export function utcDate(micros: number): string {
  const day = Math.floor(micros / MICROS_PER_DAY);
  let name = dayNames.get(day);
  if (name === undefined) {
    name = new Date(day * 86_400_000).toISOString().slice(0, 10);
    dayNames.set(day, name);
  }
  return name;
}

/** Offsets of one partition accounted for by one day's segment, in log order. */
interface Run {
  date: string;
  fromOffset: number;
  untilOffset: number;
}

/** What one flush of a partition becomes: one segment per date. */
export interface DatedSegmentInput {
  date: string;
  /** Every offset of the flush that belongs to this date's segment; never overlapping a live segment. */
  ranges: OffsetRange[];
  /** Unsorted; the writer sorts them into segment order. */
  rows: SegmentRow[];
}

/**
 * Buffers one partition's rows until a flush, and accounts for EVERY offset it passes, so the segments
 * it yields cover the log without holes and without touching offsets that live segments already cover.
 *
 * - Each offset goes to the segment of its row's date. An offset without a row (tombstone, poison,
 *   or a hole in the log's offsets) goes with the offset before it, or, at the start of a flush, to the
 *   date of its append time: deterministic and it keeps ranges long.
 * - `covered` lists ranges already in live segments beyond the resume point (left by a flush whose
 *   segments were only partly announced before a crash): their offsets are skipped, rows and all.
 * - An offset below the cursor was seen already (a redelivered batch) and is ignored.
 */
export class PartitionBuffer {
  private runs: Run[] = [];
  private byDate = new Map<string, SegmentRow[]>();
  private rows = 0;
  private firstAddedAt: number | undefined;
  private covered: OffsetRange[];

  constructor(
    readonly partition: number,
    /** The next offset to account for: where the covered prefix of the partition ends. */
    private next: number,
    covered: readonly OffsetRange[] = [],
  ) {
    this.covered = covered
      .filter((range) => range.partition === partition && range.untilOffset > next)
      .sort((a, b) => a.fromOffset - b.fromOffset);
  }

  get cursor(): number {
    return this.next;
  }

  get rowCount(): number {
    return this.rows;
  }

  get isEmpty(): boolean {
    return this.runs.length === 0;
  }

  /** When the oldest offset of the pending flush was added (epoch ms), or undefined when empty. */
  get openedAt(): number | undefined {
    return this.firstAddedAt;
  }

  /**
   * Accounts for `offset` and every unseen offset before it. `row` is null for a record without one;
   * `appendDate` is the date such a record goes to when nothing precedes it in the flush.
   */
  add(offset: number, row: SegmentRow | null, appendDate: string, now = Date.now()): void {
    if (offset < this.next) return;
    const date = row === null ? (this.runs.at(-1)?.date ?? appendDate) : utcDate(row.eventTimestamp);
    let from = this.next;
    const until = offset + 1;
    let rowCovered = false;
    while (this.covered.length > 0 && this.covered[0]!.fromOffset < until) {
      const skip = this.covered[0]!;
      if (skip.fromOffset > from) this.account(date, from, skip.fromOffset, now);
      if (skip.fromOffset <= offset && offset < skip.untilOffset) rowCovered = true;
      from = Math.max(from, skip.untilOffset);
      if (skip.untilOffset <= until) this.covered.shift();
      else break;
    }
    if (from < until) this.account(date, from, until, now);
    this.next = Math.max(this.next, until);
    if (row !== null && !rowCovered) {
      let list = this.byDate.get(date);
      if (list === undefined) {
        list = [];
        this.byDate.set(date, list);
      }
      list.push(row);
      this.rows++;
    }
  }

  /** The pending flush as one input per date, in date order; the buffer is empty afterwards. */
  drain(): DatedSegmentInput[] {
    const byDate = new Map<string, OffsetRange[]>();
    for (const run of this.runs) {
      const ranges = byDate.get(run.date) ?? [];
      ranges.push({ partition: this.partition, fromOffset: run.fromOffset, untilOffset: run.untilOffset });
      byDate.set(run.date, ranges);
    }
    const inputs = [...byDate.keys()]
      .sort()
      .map((date) => ({ date, ranges: byDate.get(date)!, rows: this.byDate.get(date) ?? [] }));
    this.runs = [];
    this.byDate = new Map();
    this.rows = 0;
    this.firstAddedAt = undefined;
    return inputs;
  }

  private account(date: string, fromOffset: number, untilOffset: number, now: number): void {
    this.firstAddedAt ??= now;
    const last = this.runs.at(-1);
    if (last !== undefined && last.date === date && last.untilOffset === fromOffset) last.untilOffset = untilOffset;
    else this.runs.push({ date, fromOffset, untilOffset });
  }
}
