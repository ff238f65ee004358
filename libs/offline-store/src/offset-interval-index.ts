/**
 * The offset ranges of one partition held by live segments, as an interval treap: insert, delete and
 * "which held ranges intersect [from, until)" in O(log n) expected time (plus the number found). Each
 * node also keeps the largest `untilOffset` of its subtree, so a search skips every subtree that ends
 * before the range asked about. Ranges may overlap each other (the index does not judge), and equal
 * starts are told apart by `id`, which the caller keeps unique.
 *
 * Priorities come from a seeded generator, so the same operations always build the same tree.
 */
export interface HeldRange<T> {
  fromOffset: number;
  untilOffset: number;
  id: number;
  value: T;
}

interface Node<T> extends HeldRange<T> {
  priority: number;
  maxUntil: number;
  left: Node<T> | undefined;
  right: Node<T> | undefined;
}

export class OffsetIntervalIndex<T> {
  private root: Node<T> | undefined;
  private seed = 0x9e3779b9;
  private count = 0;

  get size(): number {
    return this.count;
  }

  insert(range: HeldRange<T>): void {
    const node: Node<T> = {
      fromOffset: range.fromOffset,
      untilOffset: range.untilOffset,
      id: range.id,
      value: range.value,
      priority: this.nextPriority(),
      maxUntil: range.untilOffset,
      left: undefined,
      right: undefined,
    };
    split(this.root, range.fromOffset, range.id);
    const above = splitHigh as Node<T> | undefined;
    this.root = join(join(splitLow as Node<T> | undefined, node), above);
    this.count++;
  }

  /** Removes the range inserted with this start and id; false when there is none. */
  delete(fromOffset: number, id: number): boolean {
    split(this.root, fromOffset, id);
    const below = splitLow as Node<T> | undefined;
    split(splitHigh as Node<T> | undefined, fromOffset, id + 1);
    const found = splitLow as Node<T> | undefined;
    this.root = join(below, splitHigh as Node<T> | undefined);
    if (found === undefined) return false;
    // `found` holds keys in [(from, id), (from, id + 1)): exactly the one node, or none.
    this.count--;
    return true;
  }

  /** Every held range sharing an offset with [fromOffset, untilOffset), by start. */
  intersecting(fromOffset: number, untilOffset: number): HeldRange<T>[] {
    const found: HeldRange<T>[] = [];
    collect(this.root, fromOffset, untilOffset, found);
    return found;
  }

  private nextPriority(): number {
    // xorshift32: cheap, and deterministic across runs.
    let x = this.seed;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.seed = x >>> 0;
    return this.seed;
  }
}

function before<T>(node: Node<T>, fromOffset: number, id: number): boolean {
  return node.fromOffset < fromOffset || (node.fromOffset === fromOffset && node.id < id);
}

function collect<T>(node: Node<T> | undefined, fromOffset: number, untilOffset: number, found: HeldRange<T>[]): void {
  if (node === undefined || node.maxUntil <= fromOffset) return;
  collect(node.left, fromOffset, untilOffset, found);
  if (node.fromOffset >= untilOffset) return;
  if (node.untilOffset > fromOffset) found.push(node);
  collect(node.right, fromOffset, untilOffset, found);
}

// split's two results: returning them as a pair would allocate one per level, on every insert and delete.
let splitLow: Node<unknown> | undefined;
let splitHigh: Node<unknown> | undefined;

/** Sets splitLow to the nodes keyed below (fromOffset, id), splitHigh to the rest. */
function split<T>(node: Node<T> | undefined, fromOffset: number, id: number): void {
  if (node === undefined) {
    splitLow = undefined;
    splitHigh = undefined;
    return;
  }
  if (before(node, fromOffset, id)) {
    split(node.right, fromOffset, id);
    node.right = splitLow as Node<T> | undefined;
    update(node);
    splitLow = node as Node<unknown>;
    return;
  }
  split(node.left, fromOffset, id);
  node.left = splitHigh as Node<T> | undefined;
  update(node);
  splitHigh = node as Node<unknown>;
}

/** Joins two treaps, every key of `low` below every key of `high`. */
function join<T>(low: Node<T> | undefined, high: Node<T> | undefined): Node<T> | undefined {
  if (low === undefined) return high;
  if (high === undefined) return low;
  if (low.priority > high.priority) {
    low.right = join(low.right, high);
    update(low);
    return low;
  }
  high.left = join(low, high.left);
  update(high);
  return high;
}

function update<T>(node: Node<T>): void {
  let max = node.untilOffset;
  if (node.left !== undefined && node.left.maxUntil > max) max = node.left.maxUntil;
  if (node.right !== undefined && node.right.maxUntil > max) max = node.right.maxUntil;
  node.maxUntil = max;
}
