import type { OffsetRange } from './segment-events';

/** Why a list of ranges is not usable, or undefined when every range is well-formed and none overlap. */
export function offsetRangesProblem(ranges: readonly OffsetRange[]): string | undefined {
  for (const range of ranges) {
    const { partition, fromOffset, untilOffset } = range;
    if (![partition, fromOffset, untilOffset].every(Number.isSafeInteger) || partition < 0 || fromOffset < 0) {
      return `range ${formatRange(range)} is not made of non-negative integers`;
    }
    if (untilOffset <= fromOffset) return `range ${formatRange(range)} is empty or reversed`;
  }
  const sorted = sortRanges(ranges);
  for (let i = 1; i < sorted.length; i++) {
    const [a, b] = [sorted[i - 1]!, sorted[i]!];
    if (a.partition === b.partition && b.fromOffset < a.untilOffset) {
      return `ranges ${formatRange(a)} and ${formatRange(b)} overlap`;
    }
  }
  return undefined;
}

/** Sorted by partition then offset, with touching ranges joined: the canonical form used for comparison. */
export function normalizeRanges(ranges: readonly OffsetRange[]): OffsetRange[] {
  const result: OffsetRange[] = [];
  for (const range of sortRanges(ranges)) {
    const last = result.at(-1);
    if (last && last.partition === range.partition && range.fromOffset <= last.untilOffset) {
      last.untilOffset = Math.max(last.untilOffset, range.untilOffset);
    } else {
      result.push({ ...range });
    }
  }
  return result;
}

export function sameRanges(a: readonly OffsetRange[], b: readonly OffsetRange[]): boolean {
  const [x, y] = [normalizeRanges(a), normalizeRanges(b)];
  return (
    x.length === y.length &&
    x.every(
      (r, i) =>
        r.partition === y[i]!.partition && r.fromOffset === y[i]!.fromOffset && r.untilOffset === y[i]!.untilOffset,
    )
  );
}

/** The part shared by two ranges, or undefined. */
export function intersectRanges(a: OffsetRange, b: OffsetRange): OffsetRange | undefined {
  if (a.partition !== b.partition) return undefined;
  const fromOffset = Math.max(a.fromOffset, b.fromOffset);
  const untilOffset = Math.min(a.untilOffset, b.untilOffset);
  return fromOffset < untilOffset ? { partition: a.partition, fromOffset, untilOffset } : undefined;
}

export function formatRange({ partition, fromOffset, untilOffset }: OffsetRange): string {
  return `p${partition}[${fromOffset},${untilOffset})`;
}

function sortRanges(ranges: readonly OffsetRange[]): OffsetRange[] {
  return [...ranges].sort((a, b) => a.partition - b.partition || a.fromOffset - b.fromOffset);
}

/** Finds whether (partition, offset) falls in one of the ranges, for checking rows as they stream by. */
export function rangeLookup(ranges: readonly OffsetRange[]): (partition: number, offset: number) => boolean {
  const byPartition = new Map<number, OffsetRange[]>();
  for (const range of normalizeRanges(ranges)) {
    const list = byPartition.get(range.partition) ?? [];
    list.push(range);
    byPartition.set(range.partition, list);
  }
  return (partition, offset) => {
    const list = byPartition.get(partition);
    if (!list) return false;
    let [lo, hi] = [0, list.length - 1];
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const range = list[mid]!;
      if (offset < range.fromOffset) hi = mid - 1;
      else if (offset >= range.untilOffset) lo = mid + 1;
      else return true;
    }
    return false;
  };
}
