/**
 * How the scheduled check draws its sample (pure; the reads are in core/verification/sampled-check.ts).
 *
 * A parallel Scan with TotalSegments = T splits the table's key space into T segments by the hash of the
 * partition key, so which segment an item falls in has nothing to do with its content. With T chosen so a
 * segment holds about `clusterItems` items, reading a few whole segments picked at random is a cluster sample
 * in which every item has the same chance (segments read / T) to be compared: the sample spreads over the
 * whole key space, its cost does not grow with the table, and when the budget covers every segment it is the
 * whole table. T comes from DescribeTable's item count, which AWS refreshes about every six hours; when a
 * segment turns out far larger than planned (a young table whose count still says 0), T is raised and the
 * oversized segment is left out, so the chance stays equal for every item.
 */

/** DynamoDB's limit on a parallel Scan's TotalSegments. */
export const MAX_TOTAL_SEGMENTS = 1_000_000;

/** Items a sampled segment aims to hold: small clusters spread the sample; a request still reads several. */
export const DEFAULT_CLUSTER_ITEMS = 25;

/** A segment with more items than this many clusters' worth means T was planned too small. */
export const OVERSIZED_CLUSTER_FACTOR = 4;

/** How much T grows when a segment proves oversized. */
export const SEGMENT_GROWTH = 8;

/** Segments so that one holds about `clusterItems` items of a table of `itemCount` items (1..MAX). */
export function segmentsFor(itemCount: number, clusterItems = DEFAULT_CLUSTER_ITEMS): number {
  if (!(itemCount > 0)) return 1;
  return Math.min(MAX_TOTAL_SEGMENTS, Math.max(1, Math.ceil(itemCount / clusterItems)));
}

/** The next T after a segment of T held more than OVERSIZED_CLUSTER_FACTOR clusters' worth. */
export function grownSegments(total: number): number {
  return Math.min(MAX_TOTAL_SEGMENTS, total * SEGMENT_GROWTH);
}

/**
 * The segments 0..total−1 in random order, each once (a lazy Fisher–Yates shuffle: memory grows with the
 * segments picked, not with `total`).
 */
export class SegmentPicker {
  private readonly swapped = new Map<number, number>();
  private count = 0;

  constructor(
    readonly total: number,
    private readonly random: () => number,
  ) {}

  /** How many segments were handed out. */
  get picked(): number {
    return this.count;
  }

  get exhausted(): boolean {
    return this.count >= this.total;
  }

  next(): number | undefined {
    if (this.exhausted) return undefined;
    const i = this.count++;
    const j = i + Math.floor(this.random() * (this.total - i));
    const atJ = this.swapped.get(j) ?? j;
    this.swapped.set(j, this.swapped.get(i) ?? i);
    this.swapped.delete(i);
    return atJ;
  }
}

/** `count` of `items` chosen uniformly at random (all of them when count ≥ length), order kept. */
export function pickUniformly<T>(items: readonly T[], count: number, random: () => number): T[] {
  if (count >= items.length) return [...items];
  if (count <= 0) return [];
  const picker = new SegmentPicker(items.length, random);
  const chosen: number[] = [];
  for (let i = 0; i < count; i++) chosen.push(picker.next() as number);
  return chosen.sort((a, b) => a - b).map((i) => items[i] as T);
}

/** Whole items the remaining units pay for at `unitsPerItem` each. */
export function affordableItems(remainingUnits: number, unitsPerItem: number): number {
  if (!(unitsPerItem > 0)) return 0;
  return Math.max(0, Math.floor(remainingUnits / unitsPerItem + 1e-9));
}
