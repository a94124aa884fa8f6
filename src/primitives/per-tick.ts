/** Items added in the same tick leave together: one flush per tick, and every caller awaits it. */
export class PerTick<T> {
  private pending: { items: T[]; sent: Promise<unknown> } | null = null;

  constructor(private readonly flush: (items: T[]) => Promise<unknown>) {}

  add(items: readonly T[]): Promise<unknown> {
    if (!this.pending) {
      const items: T[] = [];
      const sent = new Promise((resolve) => setImmediate(resolve)).then(() => {
        this.pending = null;
        return this.flush(items);
      });
      this.pending = { items, sent };
    }
    this.pending.items.push(...items);
    return this.pending.sent;
  }
}
