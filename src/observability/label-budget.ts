/**
 * Label values that tenants choose (workflow and queue names) are unbounded: every new name is a
 * new series on every replica, forever. Before the budget, 300 new workflow names grew a scrape
 * from 89 KB to 1.24 MB. A budget keeps the first `max` values it sees and reports every later
 * one as {@link OVERFLOW_LABEL}: totals stay right (`sum` over the label is unchanged), the scrape
 * stays bounded.
 */
export const OVERFLOW_LABEL = '__other__';

export class LabelBudget {
  private readonly seen = new Set<string>();

  /**
   * @param max distinct values kept, besides `reserved`
   * @param reserved values always kept, not counted (e.g. `builtin`, the conductor's own queue)
   */
  constructor(
    readonly max: number,
    private readonly reserved: ReadonlySet<string> = new Set(),
  ) {}

  /** The label value to report for `value`: itself while the budget lasts (or it was seen before), else `__other__`. */
  value(value: string): string {
    if (this.reserved.has(value) || this.seen.has(value)) return value;
    if (this.seen.size >= this.max) return OVERFLOW_LABEL;
    this.seen.add(value);
    return value;
  }

  /** Distinct values kept so far (reserved ones not counted). */
  get size(): number {
    return this.seen.size;
  }
}
